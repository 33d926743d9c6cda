// A server the environment file names that is not there: the refusal says why in the words of
// the operating system (ECONNREFUSED), which `check` prints, not ioredis's "Connection is closed.".
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isGatewayError } from '../../src/errors.js';
import { parseRedisUrl, probeRedis } from '../../src/services/redis-server.js';
import { runCli, tempDir } from '../helpers/process.js';

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

test('check reports each service: PostgreSQL not configured does not hide a Redis that refuses', async () => {
  const work = tempDir('apppkg-unreachable-');
  try {
    const app = join(work.path, 'both');
    mkdirSync(app);
    writeFileSync(join(app, 'app.yaml'), 'app: wsgi:application\nservices:\n  database: postgresql\n  redis: redis\n');
    writeFileSync(join(app, 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n');
    const port = await closedPort();
    const envFile = join(work.path, 'environment.yaml');
    writeFileSync(envFile, `services:\n  redis: redis://127.0.0.1:${port}\n`);
    const r = await runCli(['check', app, '--environment', envFile, '--state-dir', join(work.path, 'state')]);
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /FAIL\s+services\.database .*offers no postgresql server/);
    assert.match(r.stdout, new RegExp(`FAIL\\s+services\\.redis .*connect ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
  } finally {
    work.remove();
  }
});

test.run();
