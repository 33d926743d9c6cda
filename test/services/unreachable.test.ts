// A server the environment file names that is not there: the refusal says why in the words of
// the operating system (ECONNREFUSED), which `check` prints, not ioredis's "Connection is closed.".
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { isGatewayError } from '../../src/errors.js';
import { parseRedisUrl, probeRedis } from '../../src/services/redis-server.js';
import { assertNoOrphans, runCli, startCli, tempDir, waitFor } from '../helpers/process.js';
import { closedPort } from '../helpers/servers.js';
import { appStatus, statusPids } from '../helpers/status.js';

const test = suite('services: a server that is not there');

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
    // SPEC 5.2 "check says whether each service is reachable": in those words, before the socket's.
    assert.match(r.stdout, new RegExp(`FAIL\\s+services\\.redis\\s+not reachable: redis at 127\\.0\\.0\\.1:${port} \\(services\\.redis\\): connect ECONNREFUSED 127\\.0\\.0\\.1:${port}\\n`));
    // Within check, this check's own command line to run again, not `check APP_DIR --environment
    // FILE`, placeholders read as another command to learn.
    assert.ok(r.stdout.includes(`; run this check again once the server is up: \`apppkg-gateway check ${app} --environment ${envFile} --state-dir ${join(work.path, 'state')}\`\n`), r.stdout);
    assert.not.match(r.stdout, /APP_DIR|FILE`/);
  } finally {
    work.remove();
  }
});

test('--apps: an app whose PostgreSQL and Redis are both down is refused for the first, status shows each service unavailable, and the others serve and the mail listener opens without waiting for its retries', async () => {
  const work = tempDir('apppkg-unreachable-both-');
  const pids = new Set<number>();
  try {
    const apps = join(work.path, 'apps');
    const app = join(apps, 'both');
    mkdirSync(app, { recursive: true });
    writeFileSync(join(app, 'app.yaml'), 'app: wsgi:application\nservices:\n  database: postgresql\n  redis: redis\n');
    writeFileSync(join(app, 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n');
    // Another app, which takes mail and needs no server: SPEC 5.2 "the others serve".
    const inbox = join(apps, 'inbox');
    mkdirSync(inbox, { recursive: true });
    writeFileSync(join(inbox, 'app.yaml'), 'app: wsgi:application\nmail: /_mail\n');
    writeFileSync(join(inbox, 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n');
    const [pg, redis] = [await closedPort(), await closedPort()];
    const envFile = join(work.path, 'environment.yaml');
    writeFileSync(envFile, `services:\n  postgresql: postgresql://postgres@127.0.0.1:${pg}/postgres\n  redis: redis://127.0.0.1:${redis}\nmail:\n  listen: 127.0.0.1:0\n`);
    const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--environment', envFile, '--access-log', 'off']);
    pids.add(gw.child.pid!);
    try {
      const both = await waitFor(async () => {
        const status = await appStatus(gw, 'both');
        if (status) for (const pid of statusPids({ apps: [status] })) pids.add(pid);
        return status?.problem?.code ? status : undefined;
      }, 60_000, () => `both to be refused\n${gw.output()}`);
      assert.is(both.problem.code, 'APPPKG_SERVICE_UNAVAILABLE');
      assert.match(both.problem.message, `postgresql at 127.0.0.1:${pg}`);
      assert.equal(both.services.map((s: any) => [s.name, s.kind, s.state]), [['database', 'postgresql', 'unavailable'], ['redis', 'redis', 'unavailable']]);
      assert.match(both.services[1].reason, `redis at 127.0.0.1:${redis} (services.redis): connect ECONNREFUSED 127.0.0.1:${redis}`);
      // Refused is judged: its retries (1, 2, 4, 8 s) held neither the mail listener nor
      // "listening on", which waited out the start bound (10 s) behind them, past the fourth
      // refusal, while inbox already served.
      const output = await waitFor(() => (/listening on/.test(gw.output()) ? gw.output() : undefined), 30_000, () => `listening on\n${gw.output()}`);
      const before = output.slice(0, output.search(/listening on/));
      assert.match(before, /inbox: \S+ serving at \/inbox/);
      assert.match(before, /mail: SMTP on 127\.0\.0\.1:\d+/);
      assert.not.match(before, /refused again, the same way \(4 times/);
    } finally {
      await gw.stop();
    }
    await assertNoOrphans([...pids], 15_000);
  } finally {
    work.remove();
  }
});

test.run();
