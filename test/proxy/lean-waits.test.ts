// A plain request that must wait before it can be answered (the gateway not open yet, its app
// starting) is the lean lane's when nothing but an app's workers, a static file or the
// gateway's own answer can end the wait: behind nginx's upstream keepalive, such a request used
// to move a pooled connection to node:http for the rest of its life (a restart under load moved
// the whole pool). An idle app's wake was the lane's already, and stays so. What a client sees
// and what the access log says must be what node:http gives (a second gateway with
// APPPKG_LEAN_LANE=0 is the reference). One that may end at a process's route still goes to
// node:http, which alone proxies it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import net from 'node:net';
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { startBothReaders, portOf, withoutDates, logLinesOf, readerAfter, READER_PROBE, type BothReaders } from '../helpers/both-readers.js';
import { recorded, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { canConnect } from '../helpers/servers.js';
import { appStatus } from '../helpers/status.js';

const test = suite('lean lane: requests that wait');
const apps = tempDir('apppkg-lean-waits-apps-');
const work = tempDir('apppkg-lean-waits-');
let both: BothReaders | null = null;
let lean: RunningGateway;
let node: RunningGateway;

const APP = `def application(environ, start_response):
    body = ("%s %s" % (environ["REQUEST_METHOD"], environ["PATH_INFO"])).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
`;
/** APP after an import that takes `seconds` (and fails after it with `fail`). */
const slowApp = (seconds: number, fail = false): string => `import time\ntime.sleep(${seconds})\n${fail ? 'raise RuntimeError("no")\n' : ''}${APP}`;

test.before(async () => {
  writePackage(apps.path, 'one', { 'app.yaml': 'platform: python, wsgi\napp: one:application\n', 'one.py': APP });
  writePackage(apps.path, 'nap', { 'app.yaml': 'platform: python, wsgi\napp: nap:application\n', 'nap.py': APP });
  const environment = join(work.path, 'environment.yaml');
  writeFileSync(environment, 'apps:\n  nap:\n    idle_timeout: 1\n    workers: 1\n');
  both = await startBothReaders(apps, ['--settle', '0', '--watch-interval', '0.2', '--environment', environment]);
  ({ lean, node } = both);
});

test.after(async () => {
  await both?.stop();
  work.remove();
});

/** A package copied into the apps directory whole (a rename), as a deploy does. */
function deploy(name: string, files: Record<string, string>, from?: string): void {
  const staged = join(work.path, `staged-${name}`);
  if (from !== undefined) addPackage(work.path, from, `staged-${name}`);
  writePackage(work.path, `staged-${name}`, files);
  renameSync(staged, join(apps.path, name));
}

/** A connection to `gw`'s listener. */
const at = (gw: RunningGateway) => (): net.Socket => net.connect(portOf(gw), '127.0.0.1');
/** READER_PROBE's 400 is logged on `gw` past `from` (its output's length before): its lines are all in. */
const probeLogged = (gw: RunningGateway, from: number): boolean => gw.output().slice(from).includes(`"${READER_PROBE}" 400 `);

test('requests that wait for an app starting, one that starts and one that fails, pipelined with others: the same bytes and access-log lines as node:http, and the connection stays on the lane', async () => {
  deploy('slow', { 'app.yaml': 'platform: python, wsgi\napp: slow:application\n', 'slow.py': slowApp(1) });
  deploy('sick', { 'app.yaml': 'platform: python, wsgi\napp: sick:application\n', 'sick.py': slowApp(1, true) });
  // Known to both (published as starting), their imports still under way.
  await waitFor(async () => (await appStatus(lean, 'slow')) !== undefined && (await appStatus(node, 'sick')) !== undefined && (await appStatus(lean, 'sick')) !== undefined && (await appStatus(node, 'slow')) !== undefined, 10_000, 'both gateways to find slow and sick');
  const from = [lean.output().length, node.output().length];
  const first =
    'GET /slow/a?t=start HTTP/1.1\r\nHost: x\r\nUser-Agent: ua-wait\r\n\r\n' +
    'GET /one/b?t=start HTTP/1.1\r\nHost: x\r\n\r\n' +
    'GET /sick/c?t=start HTTP/1.1\r\nHost: x\r\n\r\n' +
    'HEAD /slow/d?t=start HTTP/1.1\r\nHost: x\r\n\r\n' +
    'GET /one/e?t=start HTTP/1.1\r\nHost: x\r\n\r\n';
  const [onLean, onNode] = await Promise.all([readerAfter(at(lean), first, 'GET /e'), readerAfter(at(node), first, 'GET /e')]);
  const [a, b] = [onLean.got, onNode.got].map(withoutDates);
  const statuses = [...a.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
  assert.equal(statuses, [200, 200, 503, 200, 200, 400], a);
  assert.ok(a.includes('\r\n\r\nGET /a'), a);
  assert.ok(a.includes('Retry-After: 2\r\n'), a);
  assert.is(a, b);
  assert.is(onLean.reader, 'the lean lane');
  assert.is(onNode.reader, 'node:http', 'the reference');
  await waitFor(() => probeLogged(lean, from[0]) && probeLogged(node, from[1]), 5000, () => `the probes' lines in\n${lean.output()}\n${node.output()}`);
  await waitFor(() => logLinesOf(lean, '?t=start ').length === 5 && logLinesOf(node, '?t=start ').length === 5, 5000, 'five lines each');
  assert.equal(logLinesOf(lean, '?t=start '), logLinesOf(node, '?t=start '));
  assert.match(logLinesOf(lean, '?t=start ')[0], /"GET \/slow\/a\?t=start HTTP\/1\.1" 200 6 "-" "ua-wait" app=slow$/);
  assert.match(logLinesOf(lean, '?t=start ')[2], /"GET \/sick\/c\?t=start HTTP\/1\.1" 503 \d+ "-" "-" app=sick$/);
});

test('a request for a process\'s route of an app starting waits, is proxied to the process, and node:http has the connection from then on', async () => {
  // ws-echo's WSGI side imports slowly: the app, its process with it, serves a second later.
  deploy('slowws', { 'app.py': `import time\ntime.sleep(1)\n${APP}` }, 'ws-echo');
  await waitFor(async () => (await appStatus(lean, 'slowws')) !== undefined, 10_000, 'the gateway to find slowws');
  const from = lean.output().length;
  const { got: raw, reader } = await readerAfter(at(lean), 'GET /slowws/ws/x?t=proc HTTP/1.1\r\nHost: x\r\n\r\n', '"pid"');
  assert.ok(raw.startsWith('HTTP/1.1 200 OK\r\n'), raw);
  assert.ok(raw.includes('"path": "/slowws/ws/x?t=proc"'), raw);
  assert.ok(raw.includes('HTTP/1.1 400 Bad Request\r\n'), raw);
  assert.is(reader, 'node:http', 'node:http read the connection from the wait on');
  await waitFor(() => probeLogged(lean, from), 5000, () => `the probe's line in\n${lean.output()}`);
});

test('a request that wakes an idle app (SPEC 5.6), pipelined with another: the same bytes and access-log lines as node:http, and the connection stays on the lane', async () => {
  await waitFor(async () => (await appStatus(lean, 'nap'))?.state === 'idle' && (await appStatus(node, 'nap'))?.state === 'idle', 10_000, 'nap to go idle on both');
  const from = [lean.output().length, node.output().length];
  const first = 'GET /nap/a?t=wake HTTP/1.1\r\nHost: x\r\n\r\nGET /nap/b?t=wake HTTP/1.1\r\nHost: x\r\n\r\n';
  const [onLean, onNode] = await Promise.all([readerAfter(at(lean), first, 'GET /b'), readerAfter(at(node), first, 'GET /b')]);
  const [a, b] = [onLean.got, onNode.got].map(withoutDates);
  assert.ok(a.startsWith('HTTP/1.1 200 OK\r\n') && a.includes('\r\n\r\nGET /a'), a);
  assert.is(a, b);
  assert.is(onLean.reader, 'the lean lane');
  assert.is(onNode.reader, 'node:http', 'the reference');
  await waitFor(() => probeLogged(lean, from[0]) && probeLogged(node, from[1]), 5000, () => `the probes' lines in\n${lean.output()}\n${node.output()}`);
  assert.equal(logLinesOf(lean, '?t=wake '), logLinesOf(node, '?t=wake '));
  assert.is(logLinesOf(lean, '?t=wake ').length, 2);
});

/** A port free a moment ago, for a gateway whose "listening on" comes only once it is open. */
async function freePort(): Promise<number> {
  const server = net.createServer().listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A connection to `port`, retried while nothing listens there yet. */
async function connectWhenListening(port: number): Promise<net.Socket> {
  return waitFor(
    () =>
      new Promise<net.Socket | undefined>((resolve) => {
        const socket = net.connect(port, '127.0.0.1');
        socket.once('connect', () => resolve(socket));
        socket.once('error', () => resolve(undefined));
      }),
    20_000,
    `a listener on ${port}`,
  );
}

test('a request that comes before the gateway is open (serve, its app importing) is answered when it opens, as node:http answers it, and the connection stays on the lane', async () => {
  const dir = join(work.path, 'served');
  writePackage(work.path, 'served', { 'app.yaml': 'platform: python, wsgi\napp: served:application\n', 'served.py': slowApp(1) });
  const serve = async (lane: string): Promise<string> => {
    const port = await freePort();
    const state = join(work.path, `serve-state-${lane}`);
    const started = startCli(['serve', dir, '--port', String(port), '--state-dir', state, '--workers', '1'], { env: { APPPKG_LEAN_LANE: lane } });
    started.catch(() => {});
    const socket = await connectWhenListening(port);
    // Once its start began, the gateway knows the app (published as starting): a request before
    // that is put off until then (nothing tells yet whether a process's route takes it; the
    // test of requests sent the moment an --apps gateway binds): this one waits for the start.
    await waitFor(() => existsSync(join(state, 'apps', 'served', 'tmp')), 20_000, 'the app\'s start to begin');
    let gw: RunningGateway | null = null;
    try {
      // Its app imports for a second, and serve opens once it is up: what is sent now is held.
      const { got, reader } = await readerAfter(() => socket, 'GET /held?t=held HTTP/1.1\r\nHost: x\r\n\r\nGET /next?t=held HTTP/1.1\r\nHost: x\r\n\r\n', 'GET /next');
      gw = await started;
      await waitFor(() => probeLogged(gw!, 0), 5000, () => `the probe's line in\n${gw!.output()}`);
      return `${withoutDates(got)}\n${logLinesOf(gw, '?t=held').join('\n')}\n${reader}`;
    } finally {
      await (gw ?? (await started.catch(() => null)))?.stop();
    }
  };
  const [a, b] = await Promise.all([serve('1'), serve('0')]);
  assert.ok(a.startsWith('HTTP/1.1 200 OK\r\n') && a.includes('\r\n\r\nGET /held'), a);
  assert.ok(a.endsWith('\nthe lean lane'), a);
  assert.ok(b.endsWith('\nnode:http'), b);
  assert.is(a.slice(0, a.lastIndexOf('\n')), b.slice(0, b.lastIndexOf('\n')));
});

/** A connection to `port` the moment something listens there: tried again at once while nothing does. */
function connectAtOnce(port: number, ms = 20_000): Promise<net.Socket> {
  const deadline = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const attempt = (): void => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => resolve(socket));
      socket.once('error', () => (Date.now() < deadline ? setImmediate(attempt) : reject(new Error(`nothing listened on ${port} in ${ms} ms`))));
    };
    attempt();
  });
}

test('requests sent the moment an --apps gateway binds, before it first read the apps directory (a restart behind a keep-alive pool), a body among them: the same bytes and access-log lines as node:http, and the connection stays on the lane', async () => {
  const early = tempDir('apppkg-lean-early-');
  writePackage(early.path, 'one', { 'app.yaml': 'platform: python, wsgi\napp: one:application\n', 'one.py': APP });
  const run = async (lane: string): Promise<string> => {
    const port = await freePort();
    const args = ['--apps', early.path, '--listen', `127.0.0.1:${port}`, '--admin', '127.0.0.1:0', '--state-dir', join(work.path, `early-state-${lane}`), '--settle', '0'];
    const started = startCli(args, { env: { APPPKG_LEAN_LANE: lane } });
    started.catch(() => {});
    // Connected and sending within a moment of the bind: the first read of the apps directory,
    // and the first publish, come tens of milliseconds later.
    const socket = await connectAtOnce(port);
    let gw: RunningGateway | null = null;
    try {
      const first =
        'GET /one/a?t=early HTTP/1.1\r\nHost: x\r\nUser-Agent: ua-early\r\n\r\n' +
        'POST /one/b?t=early HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello' +
        'GET /one/c?t=early HTTP/1.1\r\nHost: x\r\n\r\n';
      const { got, reader } = await readerAfter(() => socket, first, 'GET /c');
      gw = await started;
      await waitFor(() => probeLogged(gw!, 0), 5000, () => `the probe's line in\n${gw!.output()}`);
      return `${withoutDates(got)}\n${logLinesOf(gw, '?t=early').join('\n')}\n${reader}`;
    } finally {
      await (gw ?? (await started.catch(() => null)))?.stop();
    }
  };
  try {
    const [a, b] = await Promise.all([run('1'), run('0')]);
    const statuses = [...a.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    assert.equal(statuses, [200, 200, 200, 400], a);
    assert.ok(a.includes('\r\n\r\nGET /a') && a.includes('\r\n\r\nPOST /b') && a.includes('\r\n\r\nGET /c'), a);
    assert.match(a, /"GET \/one\/a\?t=early HTTP\/1\.1" 200 6 "-" "ua-early" app=one\n/);
    assert.ok(a.endsWith('\nthe lean lane'), a);
    assert.ok(b.endsWith('\nnode:http'), b);
    assert.is(a.slice(0, a.lastIndexOf('\n')), b.slice(0, b.lastIndexOf('\n')));
  } finally {
    early.remove();
  }
});


test('a request on a keep-alive connection while the gateway stops, pipelined behind one in flight: answered after it with Connection: close, as node:http answers it, and the lane keeps the connection', async () => {
  const drainApps = tempDir('apppkg-lean-drain-apps-');
  const marks = tempDir('apppkg-lean-drain-marks-');
  // /hold answers once the test says so; every answer says how many requests its worker had
  // under way when it came: a request the lane hands to node:http waits for the answers before it.
  const holdApp = `import os, threading, time
lock = threading.Lock()
under_way = [0]
def application(environ, start_response):
    with lock:
        under_way[0] += 1
        seen = under_way[0]
    try:
        mark = os.path.join(${JSON.stringify(marks.path)}, environ["HTTP_X_ID"])
        open(mark + environ["PATH_INFO"].replace("/", "."), "w").close()
        if environ["PATH_INFO"] == "/hold":
            while not os.path.exists(mark + ".go"):
                time.sleep(0.01)
        body = ("%s %s under way: %d" % (environ["REQUEST_METHOD"], environ["PATH_INFO"], seen)).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
    finally:
        with lock:
            under_way[0] -= 1
`;
  writePackage(drainApps.path, 'drain', { 'app.yaml': 'platform: python, wsgi\napp: drain:application\n', 'drain.py': holdApp });
  const environment = join(marks.path, 'environment.yaml');
  writeFileSync(environment, 'apps:\n  drain:\n    workers: 1\n    threads: 4\n');
  const pair = await startBothReaders(drainApps, ['--settle', '0', '--environment', environment]);
  const drain = async (gw: RunningGateway, id: string): Promise<string> => {
    const port = portOf(gw);
    const socket = net.connect(port, '127.0.0.1');
    const seen = recorded(socket);
    try {
      socket.write(`GET /drain/hold?t=drain HTTP/1.1\r\nHost: x\r\nX-Id: ${id}\r\n\r\n`);
      await waitFor(() => existsSync(join(marks.path, `${id}.hold`)), 10_000, `${id}'s first request to reach the app`);
      const stopped = gw.stop();
      // The stop has begun once the listener refuses new connections.
      await waitFor(async () => !(await canConnect(port)), 10_000, 'the listener to close');
      socket.write(`GET /drain/late?t=drain HTTP/1.1\r\nHost: x\r\nX-Id: ${id}\r\nUser-Agent: ua-drain\r\n\r\nGET /drain/never?t=drain HTTP/1.1\r\nHost: x\r\n\r\n`);
      // It waits, unrun, for the first's answer, which could close the connection (R6.27).
      writeFileSync(join(marks.path, `${id}.go`), '');
      await waitFor(() => seen.closed, 10_000, () => `the connection to close, got ${JSON.stringify(seen.got)}`);
      assert.is(await stopped, 0);
      return `${withoutDates(seen.got)}\n${logLinesOf(gw, '?t=drain').join('\n')}`;
    } finally {
      socket.destroy();
    }
  };
  try {
    const [a, b] = await Promise.all([drain(pair.lean, 'lean'), drain(pair.node, 'node')]);
    const statuses = [...a.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));
    assert.equal(statuses, [200, 200], a);
    assert.ok(a.includes('Connection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\nGET /hold under way: 1HTTP/1.1 200 OK\r\n'), a);
    // Run once the first was answered (RFC 9112 §9.6: that answer might have closed), and answered with close.
    assert.ok(a.includes('Connection: close\r\n\r\nGET /late under way: 1\n'), a);
    assert.match(a, /"GET \/drain\/late\?t=drain HTTP\/1\.1" 200 22 "-" "ua-drain" app=drain$/m);
    assert.not.ok(a.includes('/never'), 'nothing pipelined behind an answer that closes is read');
    assert.is(a, b);
  } finally {
    await pair.stop();
    marks.remove();
  }
});

test.run();
