// A server the environment file names that is not there: the refusal says why in the words of
// the operating system (ECONNREFUSED), which `check` prints, not ioredis's "Connection is closed.".
import { createServer } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isGatewayError } from '../../src/errors.js';
import { parseRedisUrl, probeRedis } from '../../src/services/redis-server.js';

const test = suite('services: a server that is not there');

/** A loopback port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

test('Redis refusing the connection: APPPKG_SERVICE_UNAVAILABLE naming ECONNREFUSED', async () => {
  const port = await closedPort();
  try {
    await probeRedis(parseRedisUrl(`redis://127.0.0.1:${port}/0`));
    assert.unreachable('expected a refusal');
  } catch (err) {
    assert.ok(isGatewayError(err), String(err));
    assert.is(err.code, 'APPPKG_SERVICE_UNAVAILABLE');
    assert.match(err.message, `redis at 127.0.0.1:${port} (services.redis): connect ECONNREFUSED 127.0.0.1:${port}`);
  }
});

test.run();
