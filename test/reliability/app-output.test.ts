// Issue 6, item 2: an app that answers something that is not WSGI, through the real gateway
// CLI and real Python. Before the headers are out: a 500 (never the bad head itself) and a log
// line in STATE/apps/NAME/log/app.log naming the app and the request. After them: the client
// connection is cut, so a truncated body never looks complete. An app that never answers: 504
// after its `timeout`, and the stuck worker replaced (its pid changes, the old one is gone).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { RawConnection } from '../helpers/link-harness.js';
import { appStatus, gatewayStatus, statusPids } from '../helpers/status.js';
import { assertNoOrphans, rawRequest, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('reliability: app output');
const apps = tempDir('apppkg-rel-output-apps-');
const state = tempDir('apppkg-rel-output-state-');
const APP = 'badout';
const TIMEOUT_S = 2;
let gw: RunningGateway;
let port = 0;
/** Every worker pid seen: none may outlive the gateway. */
const seen = new Set<number>();
const counts = { cases: 0, sent: 0, failedAsExpected: 0, unexpected: 0 };

test.before(async () => {
  addPackage(apps.path, 'rel-bad-output', APP);
  const envFile = join(state.path, 'environment.yaml');
  writeFileSync(envFile, `apps:\n  ${APP}: {workers: 1, threads: 4, timeout: ${TIMEOUT_S}}\n`);
  gw = await startCli(
    ['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', envFile, '--access-log', 'off'],
    { ms: 60_000 },
  );
  port = Number(new URL(gw.url).port);
  await rememberPids();
});

test.after(async () => {
  if (gw) await rememberPids().catch(() => {});
  await gw?.stop();
  await assertNoOrphans([...seen]);
  apps.remove();
  state.remove();
  process.stdout.write(
    `\nreliability: app output: ${counts.cases} bad outputs, ${counts.sent} requests sent, ` +
      `${counts.failedAsExpected} failed as expected (500, 504 or a cut connection), ${counts.unexpected} unexpected\n`,
  );
});

async function rememberPids(): Promise<void> {
  for (const pid of statusPids(await gatewayStatus(gw))) seen.add(pid);
}

async function workerPid(): Promise<number> {
  const workers = (await appStatus(gw, APP)).workers as Array<{ pid: number }>;
  assert.is(workers.length, 1);
  return workers[0].pid;
}

/** One request with `Connection: close`; the raw answer split into status, head and body. */
async function raw(path: string, ms = 10_000): Promise<{ status: number; head: string; body: string }> {
  counts.sent++;
  const text = await rawRequest(port, `GET /${APP}${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, ms);
  const cut = text.indexOf('\r\n\r\n');
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(text)?.[1] ?? 0);
  return { status, head: cut < 0 ? text : text.slice(0, cut), body: cut < 0 ? '' : text.slice(cut + 4) };
}

function expectFailure(ok: boolean, what: string): void {
  if (ok) counts.failedAsExpected++;
  else counts.unexpected++;
  assert.ok(ok, what);
}

const appLog = join(state.path, 'apps', APP, 'log', 'app.log');

/** The line the shim logs for a request the app failed, then the fault further down. */
async function assertLogged(path: string, fault: RegExp): Promise<void> {
  const line = `app:application (${APP}) failed on GET /${APP}${path}`;
  const text = await waitFor(() => {
    const log = existsSync(appLog) ? readFileSync(appLog, 'utf8') : '';
    const at = log.indexOf(line);
    return at >= 0 && fault.test(log.slice(at)) ? log.slice(at) : null;
  }, 5000, `"${line}" and ${fault} in ${appLog}`);
  assert.match(text.split('\n')[0], new RegExp(`\\(${APP}\\) failed on GET /${APP}`), 'the log line names the app');
}

const before: Array<[id: string, what: string, path: string, fault: RegExp]> = [
  ['R2.1', 'a status line that is not a string', '/status-int', /status must be a str like "200 OK", got int 200/],
  ['R2.2', 'a header with CR/LF in it (response splitting)', '/crlf', /header X-Bad: the value contains a control character \(CR, LF, NUL, \.\.\.; RFC 9110 5\.5\)/],
  ['R2.2b', 'two Content-Lengths that differ (RFC 9110 §8.6: no framing a client can trust)', '/two-lengths', /Content-Length given twice, 5 and 7/],
  ['R2.2c', 'a Content-Length that is not digits alone (`+5`, which int() reads and clients refuse)', '/plus-length', /Content-Length '\+5' is not a number/],
  ['R2.3', 'a body that is not bytes (str items)', '/str-body', /the response body must be bytes, got str/],
  ['R2.4', 'start_response called twice without exc_info', '/twice', /start_response\(\) called a second time without exc_info/],
];

for (const [id, what, path, fault] of before) {
  test(`${id} ${what}: 500, nothing of the bad head sent, a log line naming the app`, async () => {
    counts.cases++;
    const r = await raw(path);
    expectFailure(r.status === 500, `${path}: expected 500, got ${r.status}: ${r.head}`);
    assert.is(r.body, '500 Internal Server Error\n', 'a short body, no traceback outside development');
    // Nothing the app put in its head reaches the client: no injected header, no X-Bad.
    assert.not.match(r.head, /injected|X-Bad|Set-Cookie/i);
    assert.not.match(r.body, /injected/);
    await assertLogged(path, fault);
    // The worker goes on serving.
    counts.sent++;
    const ok = await request(`${gw.url}/${APP}/`, { headersTimeout: 5000, bodyTimeout: 5000 });
    assert.is(ok.statusCode, 200);
    await ok.body.dump();
  });
}

test('R2.2d the same Content-Length twice: nothing conflicts, served with the field once (it went out twice)', async () => {
  const r = await raw('/same-length-twice');
  assert.is(r.status, 200, r.head);
  assert.is(r.head.match(/\r\nContent-Length: /gi)?.length, 1, r.head);
  assert.is(r.body, 'hello');
});

/** Sends `path` on a keep-alive connection: the gateway must close it mid-body. */
async function cutAfterHeaders(path: string): Promise<string> {
  counts.sent++;
  const c = await RawConnection.open(port);
  try {
    c.write(`GET /${APP}${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
    return await c.waitClosed(5000);
  } finally {
    c.destroy();
  }
}

test('R2.5 an exception after the headers were sent (chunked): the connection is cut, no terminating 0-chunk', async () => {
  counts.cases++;
  const text = await cutAfterHeaders('/raise-chunked');
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(text, /\r\ntransfer-encoding: chunked\r\n/i);
  assert.ok(text.includes('partial partial'), 'the first chunk went out');
  expectFailure(!/\r\n0\r\n\r\n$/.test(text), 'no terminating chunk: a truncated body must not look complete');
  await assertLogged('/raise-chunked', /after the response headers were sent; the client connection is closed[\s\S]*RuntimeError: failed after the headers/);
});

test('R2.6 an exception after the headers were sent (Content-Length): the connection is cut short of the length', async () => {
  counts.cases++;
  const text = await cutAfterHeaders('/raise-sized');
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  const length = Number(/\r\ncontent-length: (\d+)\r\n/i.exec(text)?.[1]);
  assert.is(length, 100_000);
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  assert.ok(body.startsWith('partial '), 'the first bytes went out');
  expectFailure(body.length < length, `the body stops short of its Content-Length (${body.length} < ${length})`);
  await assertLogged('/raise-sized', /RuntimeError: failed after the headers/);
});

test('R2.6b a body shorter than the app\'s Content-Length (PEP 3333): sent as it is, then the connection cut, the error logged', async () => {
  counts.cases++;
  const text = await cutAfterHeaders('/short-full');
  assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(text, /\r\ncontent-length: 100\r\n/i, 'the app\'s length, not one made to fit');
  const body = text.slice(text.indexOf('\r\n\r\n') + 4);
  expectFailure(body === 'only ten!!', `what the app gave, then the close (${JSON.stringify(body)})`);
  await assertLogged('/short-full', /the body has 10 bytes, fewer than its Content-Length 100/);
});

test('R2.6c a body longer than its Content-Length: never more than the length; HEAD keeps its GET\'s length', async () => {
  const long = await request(`${gw.url}/${APP}/long-full`);
  assert.is(long.headers['content-length'], '5');
  assert.is(await long.body.text(), '01234');
  const head = await request(`${gw.url}/${APP}/head-length`, { method: 'HEAD' });
  assert.is(head.statusCode, 200);
  assert.is(head.headers['content-length'], '100');
  await head.body.text();
});

test('R2.7 an app that never returns: 504 after its timeout, the worker recycled (pid changes, the old one gone)', async () => {
  counts.cases++;
  const stuck = await workerPid();
  seen.add(stuck);
  const startedAt = Date.now();
  const r = await raw('/hang', 15_000);
  const took = Date.now() - startedAt;
  expectFailure(r.status === 504, `expected 504, got ${r.status}`);
  assert.ok(took >= TIMEOUT_S * 1000 - 100 && took < TIMEOUT_S * 1000 + 4000, `answered after ${took} ms with timeout: ${TIMEOUT_S}`);
  assert.match(r.body, /^504 Gateway Timeout\n/);
  // The gateway's log line names the app and the worker.
  await waitFor(() => gw.output().includes(`${APP}: recycling worker ${stuck}: a request got no response head within ${TIMEOUT_S} s`), 5000, 'the recycle line');
  const replacement = await waitFor(async () => {
    const pid = await workerPid();
    return pid !== stuck ? pid : null;
  }, 15_000, 'a new worker pid');
  seen.add(replacement);
  // Its thread never returns: the old worker is SIGKILLed once its drain (the timeout) is over.
  await assertNoOrphans([stuck], 10_000);
  counts.sent++;
  const after = await request(`${gw.url}/${APP}/`, { headersTimeout: 5000, bodyTimeout: 5000 });
  assert.is(after.statusCode, 200);
  assert.is(Number(await after.body.text()), replacement);
});

test.run();
