// A stop waits for the requests in flight, and only those: a request whose client has gone is
// not one. Two that used to stay counted after their clients left, so that a SIGTERM with no
// client connected waited out its whole grace (30 s under --apps, 10 s under serve):
// (1) a request node:http read pipelined behind another (a connection it reads from the start:
// an absolute-form target), whose response it never closes when the connection goes first;
// (2) a request that came while the gateway still held requests (serve, before its app
// started), whose connection closed before the front took it. And a stop during a drain
// waited for the drain's own grace (`drain`, 30 s by default) when the replaced version still
// ran a request whose client had left (3).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import getPort from 'get-port';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { gatewayStatus, statusPids } from '../helpers/status.js';
import { assertNoOrphans, childPids, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('a stop after clients left');

/** Well under either grace: what a stop with nothing in flight takes, with room for a loaded machine. */
const STOP_BOUND_MS = 6000;

/** Sends `bytes` on a new connection, then resets it (RST, no FIN) after `ms`. */
async function sendThenReset(port: number, bytes: string, ms: number): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  socket.write(bytes);
  await new Promise((resolve) => setTimeout(resolve, ms));
  socket.resetAndDestroy();
}

/** SIGTERMs `gw` and returns how long it took to exit, after checking it exited 0 and left no process. */
async function timedStop(gw: RunningGateway, pids: number[]): Promise<number> {
  const started = Date.now();
  const code = await gw.stop(40_000);
  const took = Date.now() - started;
  assert.is(code, 0, gw.output());
  await assertNoOrphans(pids);
  return took;
}

for (const [kind, fixture] of [['WSGI', 'lean-lane'], ['ASGI', 'asgi-http']] as const) {
  test(`${kind}: a request pipelined behind another on a connection node:http reads, its client gone: the SIGTERM does not wait for it`, async () => {
    const apps = tempDir('apppkg-stop-left-apps-');
    const state = tempDir('apppkg-stop-left-state-');
    const accessLog = join(state.path, 'access.log');
    let gw: RunningGateway | null = null;
    try {
      addPackage(apps.path, fixture, 'app');
      const env = join(state.path, 'environment.yaml');
      writeFileSync(env, 'apps:\n  app:\n    workers: 1\n    threads: 2\n');
      gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', env, '--access-log', accessLog]);
      const port = Number(new URL(gw.url).port);
      const host = `Host: 127.0.0.1:${port}`;
      // The absolute-form target hands the connection to node:http; the second request waits
      // there, unrun, behind the first, which sleeps, when the client resets the connection.
      await sendThenReset(port, `GET http://127.0.0.1:${port}/app/sleep?t=1 HTTP/1.1\r\n${host}\r\n\r\nGET /app/hello HTTP/1.1\r\n${host}\r\n\r\n`, 300);
      const lines = (): string[] => (existsSync(accessLog) ? readFileSync(accessLog, 'utf8').split('\n').filter(Boolean) : []);
      await waitFor(() => lines().length === 1, 5000, 'the first request in the access log').catch((err: Error) => {
        throw new Error(`${err.message}; it has:\n${lines().join('\n')}`);
      });
      const took = await timedStop(gw, statusPids(await gatewayStatus(gw)));
      gw = null;
      assert.ok(took < STOP_BOUND_MS, `the stop took ${took} ms`);
      // The one that waited its turn was never run, so never logged (R6.27), the stop's end included.
      assert.equal(lines().length, 1, lines().join('\n'));
      assert.match(lines()[0], /"GET http:\/\/[^"]+\/app\/sleep\?t=1 HTTP\/1\.1" 499 /, lines()[0]);
    } finally {
      await gw?.stop();
      apps.remove();
      state.remove();
    }
  });
}

test('serve: a request that came while the app started, its client gone before the gateway took it: the SIGTERM does not wait for it', async () => {
  const dir = tempDir('apppkg-stop-left-serve-');
  let gw: RunningGateway | null = null;
  try {
    // Slow to import: the request comes, and its client leaves, while the gateway holds requests.
    const app = writePackage(dir.path, 'slowstart', {
      'app.yaml': 'platform: python, wsgi\napp: app:application\n',
      'app.py': 'import time\ntime.sleep(2)\n\ndef application(environ, start_response):\n    start_response("200 OK", [("Content-Length", "2")])\n    return [b"ok"]\n',
    });
    const port = await getPort({ host: '127.0.0.1' });
    let listening = false;
    const started = startCli(['serve', app, '--port', String(port), '--state-dir', join(dir.path, 'state')], { ms: 60_000 }).then((running) => {
      listening = true;
      return running;
    });
    let sentBeforeListening = false;
    // The listener is bound before the app starts; the request is sent as soon as it accepts.
    await waitFor(
      () =>
        new Promise<boolean>((resolve) => {
          const probe = net.connect(port, '127.0.0.1');
          probe.once('connect', () => {
            probe.removeAllListeners('error');
            probe.on('error', () => {});
            sentBeforeListening = !listening;
            probe.write('GET / HTTP/1.1\r\nHost: localhost\r\n\r\n');
            setTimeout(() => {
              probe.resetAndDestroy();
              resolve(true);
            }, 200);
          });
          probe.once('error', () => resolve(false));
        }),
      20_000,
      'the listener to accept',
    );
    gw = await started;
    assert.ok(sentBeforeListening, 'the request came before the app served');
    const pids = await childPids(gw.child.pid!);
    const took = await timedStop(gw, pids);
    gw = null;
    assert.ok(took < STOP_BOUND_MS, `the stop took ${took} ms (serve's grace is 10 s)`);
  } finally {
    await gw?.stop();
    dir.remove();
  }
});

test('a version replaced by SIGHUP still runs a request whose client left: the SIGTERM bounds its drain as it bounds the serving workers', async () => {
  const apps = tempDir('apppkg-stop-left-apps-');
  const state = tempDir('apppkg-stop-left-state-');
  let gw: RunningGateway | null = null;
  try {
    addPackage(apps.path, 'slow', 'app');
    const env = join(state.path, 'environment.yaml');
    writeFileSync(env, 'apps:\n  app:\n    workers: 1\n    threads: 2\n    timeout: 120\n');
    gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', env, '--access-log', 'off']);
    const running = gw;
    const port = Number(new URL(running.url).port);
    const pids = new Set(statusPids(await gatewayStatus(running)));
    // A WSGI thread cannot be interrupted: the app sleeps on for a client that is gone.
    await sendThenReset(port, 'GET /app/?t=100 HTTP/1.1\r\nHost: x\r\n\r\n', 500);
    writeFileSync(env, 'apps:\n  app:\n    workers: 1\n    threads: 3\n    timeout: 120\n');
    running.child.kill('SIGHUP');
    await waitFor(() => /draining the old one/.test(running.output()), 30_000, 'the restart under the new environment');
    for (const pid of statusPids(await gatewayStatus(running))) pids.add(pid);
    const took = await timedStop(running, [...pids]);
    gw = null;
    // The drain's own grace is --grace (30 s); the stop's bound on workers is 5 s.
    assert.ok(took < 12_000, `the stop took ${took} ms\n${running.output()}`);
  } finally {
    await gw?.stop();
    apps.remove();
    state.remove();
  }
});

test.run();
