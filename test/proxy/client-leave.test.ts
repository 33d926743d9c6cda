// A client that closes its connection (a FIN, as curl -m, a closed tab or a library's timeout
// send it) while its request waits for the answer has left, though a FIN alone cannot say so: a
// client that only half-closed (shutdown(SHUT_WR), `printf ... | nc -N`) still reads. The
// gateway asks with an interim 100 (net/leave-probe.ts): a closed socket resets it, and the
// request is then treated as left (the routed process's request aborted, a queued request
// dropped unrun, 499 in the access log); a half-closed client gets its answer after the interim.
// On the lean lane and on node:http (a field sent twice hands the connection over).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { RawConnection } from '../helpers/link-harness.js';

const test = suite('a client that closes while its request waits');
const apps = tempDir('apppkg-client-leave-apps-');
const state = tempDir('apppkg-client-leave-state-');
const accessLog = join(state.path, 'access.log');
let gw: RunningGateway | null = null;

test.before(async () => {
  // A routed process that answers /slow after a minute (its ThreadingHTTPServer takes others meanwhile).
  addPackage(apps.path, 'ws-echo', 'live', {
    'ws_echo.py': [
      ['import base64, hashlib, json, os, struct', 'import base64, hashlib, json, os, struct, time'],
      ['    def do_GET(self):\n', '    def do_GET(self):\n        if self.path.endswith("/slow"):\n            time.sleep(60)\n'],
    ],
  });
  // One thread: a second request waits for it, in the worker or the app's queue.
  writePackage(apps.path, 'one', {
    'app.yaml': 'platform: python, wsgi\napp: app:application\n',
    'app.py': [
      'import sys, time',
      'def application(environ, start_response):',
      '    sys.stderr.write("ran %s\\n" % environ["QUERY_STRING"])',
      '    time.sleep(float(environ["QUERY_STRING"].split("=")[1].split("-")[0]))',
      '    start_response("200 OK", [("Content-Type", "text/plain")])',
      '    return [b"slept\\n"]',
      '',
    ].join('\n'),
  });
  const environment = join(state.path, 'environment.yaml');
  writeFileSync(environment, 'apps:\n  one:\n    workers: 1\n    threads: 1\n', { mode: 0o600 });
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(state.path, 'root'), '--access-log', accessLog, '--environment', environment]);
});

test.after(() => stopGatewayChecked(gw, apps, state));

const port = (): number => Number(new URL(gw!.url).port);
const logged = (line: string): boolean => readFileSync(accessLog, 'utf8').split('\n').some((l) => l.includes(line));
const logTail = (): string => readFileSync(accessLog, 'utf8').split('\n').slice(-4).join('\n');
const appLog = (): string => readFileSync(join(state.path, 'root', 'apps', 'one', 'log', 'app.log'), 'utf8');

/** The one worker of `one` (workers: 1). */
async function oneWorker(): Promise<{ pid: number; requests: number; queued: number }> {
  return (await appStatus(gw!, 'one')).versions[0].workers[0];
}

async function liveProcess(): Promise<{ inFlight: number; state: string }> {
  return (await appStatus(gw!, 'live')).processes.find((p: { name: string }) => p.name === 'ws');
}

for (const [lane, extra] of [['the lean lane', ''], ['node:http', 'X-Twice: 1\r\nX-Twice: 2\r\n']] as const) {
  test(`${lane}: a routed process's request whose client closed is aborted: out of flight, 499`, async () => {
    await waitFor(async () => (await liveProcess())?.state === 'ready', 30_000, 'processes.ws to be ready');
    const c = await RawConnection.open(port());
    // Its route is node:http's on either lane; the lane hands it over after reading the head.
    c.write(`GET /live/ws/${lane.length}/slow HTTP/1.1\r\nHost: x\r\n${extra}\r\n`);
    await waitFor(async () => (await liveProcess()).inFlight === 1, 10_000, 'the request in flight');
    c.socket.destroy(); // close(2): a FIN, nothing unread
    await waitFor(async () => (await liveProcess()).inFlight === 0, 10_000, 'the request out of flight');
    await waitFor(() => logged(`"GET /live/ws/${lane.length}/slow HTTP/1.1" 499`), 5000, () => `its 499 in ${logTail()}`);
  });

  test(`${lane}: a queued request whose client closed never runs`, async () => {
    const tag = lane === 'node:http' ? 'node' : 'lean';
    const before = await oneWorker();
    const versionBefore = (await appStatus(gw!, 'one')).versions[0].requests;
    const holder = await RawConnection.open(port());
    holder.write(`GET /one/?t=8-${tag} HTTP/1.1\r\nHost: x\r\n\r\n`);
    await waitFor(() => appLog().includes(`ran t=8-${tag}`), 10_000, 'the first request to run');
    const c = await RawConnection.open(port());
    c.write(`GET /one/?t=0-${tag} HTTP/1.1\r\nHost: x\r\n${extra}\r\n`);
    let sentAhead = false;
    await waitFor(async () => (sentAhead = (await oneWorker()).queued === 1), 5000, 'the request sent ahead to the worker');
    c.socket.destroy();
    await waitFor(() => logged(`"GET /one/?t=0-${tag} HTTP/1.1" 499`), 10_000, () => `its 499 in ${logTail()}`);
    // It waited in the worker (sent ahead, for its one thread), not in the app's queue: the case.
    assert.ok(sentAhead, 'the request that left waited in the worker');
    await holder.waitFor((t) => t.includes('slept'), 15_000, 'the first answer');
    // Another request after it runs and is answered: the worker has nothing left of the one that left.
    const after = await RawConnection.open(port());
    after.write(`GET /one/?t=0-${tag}-after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    await after.waitFor((t) => t.includes('slept'), 10_000, 'the next answer');
    assert.not.ok(appLog().includes(`ran t=0-${tag}\n`), 'the request that left ran');
    holder.socket.destroy();
    const one = await appStatus(gw!, 'one');
    assert.is(one.inFlight, 0);
    assert.is(one.queued, 0);
    // The app never saw it: its worker took two requests (the holder's, the one after), and
    // max_requests counts those alone.
    const worker = await oneWorker();
    assert.is(worker.pid, before.pid, 'the same worker');
    assert.is(worker.requests - before.requests, 2, `the worker's requests: ${before.requests} before, ${worker.requests} after`);
    // Nor its version's (its worker's tally, its latency window): they agree with the worker's.
    const version = (await appStatus(gw!, 'one')).versions[0].requests;
    assert.is(version - versionBefore, 2, `the version's requests: ${versionBefore} before, ${version} after`);
  });

  test(`${lane}: a client that only half-closed reads its answer, after an interim 100`, async () => {
    const c = await RawConnection.open(port());
    c.write(`GET /one/?t=2.5 HTTP/1.1\r\nHost: x\r\n${extra}\r\n`);
    c.socket.end();
    const text = await c.waitFor((t) => t.includes('slept'), 10_000, 'the answer');
    assert.match(text, /^(HTTP\/1\.1 100 Continue\r\n\r\n)+HTTP\/1\.1 200 OK\r\n/);
  });

  test(`${lane}: pipelined requests, then a half-close: each answer in its order, an interim only ahead of a head`, async () => {
    const c = await RawConnection.open(port());
    c.write(`GET /one/?t=1.5-a HTTP/1.1\r\nHost: x\r\n${extra}\r\nGET /one/?t=1.5-b HTTP/1.1\r\nHost: x\r\n\r\n`);
    c.socket.end();
    await waitFor(() => c.closed, 15_000, 'both answers, then the close');
    const interims = '(?:HTTP/1\\.1 100 Continue\r\n\r\n)*';
    const answer = 'HTTP/1\\.1 200 OK\r\n(?:[^\r\n]+\r\n)+\r\nslept\n';
    assert.match(c.text, new RegExp(`^${interims}${answer}${interims}${answer}$`));
    assert.match(c.text, /^HTTP\/1\.1 100 Continue\r\n/, 'the first answer came 1.5 s after the FIN: an interim went ahead of it');
  });

  test(`${lane}: an HTTP/1.0 client that half-closed gets its answer and no interim`, async () => {
    const c = await RawConnection.open(port());
    c.write(`GET /one/?t=2.5 HTTP/1.0\r\nHost: x\r\n${extra}\r\n`);
    c.socket.end();
    const text = await c.waitFor((t) => t.includes('slept'), 10_000, 'the answer');
    assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  });
}

test.run();
