// Bad input from clients (issue 6, item 1), sent as raw bytes to the real gateway CLI: each is
// answered with a 4xx, or the connection is closed, while the gateway and every app go on
// serving; and the app never acts on it. Two apps (`alpha`, `beta`) run the rel-input-recorder
// fixture, which writes a `begin` line to its data directory when a request head reaches it
// and a `done` line once it has read the whole body. "Reached the app" counts `done` lines:
// a request the app could act on. A head may reach the app only where the gateway streams it
// before the body has arrived (a chunked body that turns bad, or over max_body, a stalled
// upload): then the app's read raises instead of returning bad bytes (counted as "cut off").
// The counts are printed in one `reliability: client input:` line.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { writeAsReads } from '../helpers/forced-reads.js';
import { withDeadline } from '../helpers/link-harness.js';
import { appStatus, gatewayStatus, statusPids } from '../helpers/status.js';
import { assertNoOrphans, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('reliability: client input');
const apps = tempDir('apppkg-rel-input-apps-');
const state = tempDir('apppkg-rel-input-state-');
const SECRET = `input-secret-${randomBytes(12).toString('hex')}`;
const APPS = ['alpha', 'beta'] as const;
type AppName = (typeof APPS)[number];
/** alpha's `timeout` (s): the stalled-upload case waits for it. */
const TIMEOUT_S = 3;
/** --header-timeout (s): the slowloris cases wait for it. */
const HEADER_TIMEOUT_S = 2;
/** No single case may take longer than this (uvu has no per-test timeout). */
const CASE_MS = 45_000;

const counts = { tried: 0, answered4xx: 0, closed: 0, reached: 0, cutOff: 0 };
let gw: RunningGateway;
let port = 0;
/** Every worker pid /status ever named: none may outlive the gateway. */
const pids = new Set<number>();

test.before(async () => {
  for (const name of APPS) addPackage(apps.path, 'rel-input-recorder', name);
  // The files a traversal would be after: next to alpha's static dir, and next to the apps.
  writeFileSync(join(apps.path, 'alpha', 'secret.txt'), `${SECRET}\n`);
  writeFileSync(join(apps.path, 'secret.txt'), `${SECRET}\n`);
  const envFile = join(state.path, 'environment.yaml');
  writeFileSync(
    envFile,
    [
      'apps:',
      `  alpha: {workers: 1, threads: 2, max_body: 1KB, timeout: ${TIMEOUT_S}}`,
      '  beta: {workers: 1, threads: 2}',
      '',
    ].join('\n'),
  );
  gw = await startCli([
    '--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path,
    '--environment', envFile, '--access-log', 'off', '--header-timeout', String(HEADER_TIMEOUT_S),
  ]);
  port = Number(new URL(gw.url).port);
  for (const pid of statusPids(await gatewayStatus(gw))) pids.add(pid);
});

test.after(async () => {
  if (gw) for (const pid of statusPids(await gatewayStatus(gw).catch(() => ({ apps: [] })))) pids.add(pid);
  console.log(
    `\nreliability: client input: ${counts.tried} inputs tried, ${counts.answered4xx} answered 4xx, ` +
      `${counts.closed} closed, ${counts.reached} reached the app (${counts.cutOff} bodies cut off mid-stream)`,
  );
  await gw?.stop();
  await assertNoOrphans([...pids], 10_000);
  apps.remove();
  state.remove();
});

/** A test body with a deadline of its own. */
function bounded(fn: () => Promise<void>): () => Promise<void> {
  return () => withDeadline(fn(), CASE_MS, 'the case');
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** begin/done lines each app has written so far. */
function seen(): Record<AppName, { begin: number; done: number; text: string }> {
  const out = {} as Record<AppName, { begin: number; done: number; text: string }>;
  for (const name of APPS) {
    const file = join(state.path, 'apps', name, 'data', 'seen.log');
    // The suite's own good requests (GET /ok, sent alongside some bad inputs) are not counted.
    const text = (existsSync(file) ? readFileSync(file, 'latin1') : '').split('\n').filter((l) => l && !l.startsWith("begin GET '/ok'") && !l.startsWith("done GET '/ok'")).join('\n');
    out[name] = { begin: (text.match(/^begin /gm) ?? []).length, done: (text.match(/^done /gm) ?? []).length, text };
  }
  return out;
}

interface Answer {
  text: string;
  closed: boolean;
}

/**
 * Connects, runs `send` (writes the bytes, at whatever pace), and collects the answer until
 * the gateway closes the connection or `ms` passes (then the connection is dropped).
 */
function exchange(send: (socket: net.Socket) => void | Promise<void>, ms = 5000): Promise<Answer> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let settled = false;
    const done = (closed: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ text, closed });
    };
    const timer = setTimeout(() => done(false), ms);
    socket.on('connect', () => void send(socket));
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('error', () => done(true)); // a reset is a close too
    socket.on('close', () => done(true));
  });
}

interface Expect {
  /** The status the gateway answers; omitted: any 4xx. */
  status?: number;
  /** The app may get the head (its body is streamed): its read must then be cut off. */
  headMayReach?: AppName;
  /** A cut connection without a 4xx is the expected answer (a response already begun). */
  cut?: boolean;
}

/**
 * Sends one bad input; asserts the answer is a 4xx (or the connection is cut, where said),
 * that the connection ends, that no app reads a whole request from it, and that the secret
 * never shows; and counts it.
 */
async function badInput(what: string, send: string | Buffer | ((socket: net.Socket) => void | Promise<void>), expect: Expect = {}, ms = 5000): Promise<Answer> {
  const before = seen();
  const answer = await exchange(typeof send === 'function' ? send : (s) => void s.write(send), ms);
  counts.tried++;
  // A head the app was given is recorded before the gateway's answer can have gone out; give
  // a late one (a second request smuggled in the same bytes, say) the time to show.
  await sleep(100);
  const after = seen();
  const statusLine = answer.text.slice(0, answer.text.indexOf('\r\n'));
  const label = `${what}: answered ${JSON.stringify(answer.text.slice(0, 200))}`;
  // (505 is the one 5xx for bad input: a version the gateway does not speak, R1.4.)
  if (/^HTTP\/1\.1 (?:4\d\d|505) /.test(answer.text) && !expect.cut) {
    counts.answered4xx++;
    if (expect.status !== undefined) assert.match(statusLine, new RegExp(`^HTTP/1\\.1 ${expect.status} `), label);
  } else if (expect.cut && answer.closed) {
    counts.closed++;
  } else if (answer.text === '' && answer.closed) {
    counts.closed++;
  } else {
    assert.unreachable(`${label}; expected a 4xx or a closed connection`);
  }
  assert.ok(answer.closed, `${what}: the gateway closes the connection (got ${JSON.stringify(answer.text.slice(0, 200))})`);
  assert.not.ok(answer.text.includes(SECRET), `${what}: the secret file's content was served`);
  for (const name of APPS) {
    const reached = after[name].done - before[name].done;
    const heads = after[name].begin - before[name].begin;
    counts.reached += reached;
    const newLines = after[name].text.slice(before[name].text.length);
    assert.is(reached, 0, `${what}: ${name} read a whole request: ${newLines}`);
    if (expect.headMayReach === name) {
      assert.ok(heads <= 1, `${what}: ${name} got ${heads} heads: ${newLines}`);
      counts.cutOff += heads;
    } else {
      assert.is(heads, 0, `${what}: ${name} got the head: ${newLines}`);
    }
  }
  return answer;
}

async function get(path: string, ms = 10_000): Promise<{ status: number; text: string }> {
  const res = await request(`${gw.url}${path}`, { headersTimeout: ms, bodyTimeout: ms });
  return { status: res.statusCode, text: await res.body.text() };
}

/** The gateway process lives and every app answers a good request. */
async function assertServing(): Promise<void> {
  assert.is(gw.child.exitCode, null, 'the gateway is alive');
  for (const name of APPS) {
    const r = await get(`/${name}/ok`);
    assert.is(r.status, 200, `${name} serves`);
    assert.is(r.text, `ok ${name}`);
  }
}

const HOST = 'Host: x\r\n';
/** A request head; `extra` is raw header lines, each ending in CRLF. */
const head = (target: string, extra = '', method = 'GET') => `${method} ${target} HTTP/1.1\r\n${HOST}${extra}\r\n`;

test('R1.1 garbage bytes instead of a request line: 400', bounded(async () => {
  await badInput('a TLS ClientHello', Buffer.from('160301020001000001fc0303' + 'ab'.repeat(40) + '0d0a0d0a', 'hex'));
  // The same "random" bytes every run; no CR or LF, so the parser never waits for a line end.
  const junk = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 37 + 11) % 256).map((b) => (b === 13 || b === 10 ? 0 : b)));
  await badInput('512 bytes of junk', Buffer.concat([junk, Buffer.from('\r\n\r\n')]));
  await badInput('text that is no request', 'hello there, gateway\r\n\r\n', { status: 400 });
  await badInput('a request line of NUL bytes', Buffer.from('\0\0\0 \0\0 \0\0\0\r\n\r\n', 'latin1'), { status: 400 });
  await assertServing();
}));

test('R1.2 a request line without an HTTP version (HTTP/0.9 style): 400; the line alone (a whole 0.9 request) at once, not at --header-timeout, on the lane and on node:http, in one read or two', bounded(async () => {
  await badInput('GET /alpha/x', 'GET /alpha/no-version\r\n\r\n', { status: 400 });
  // Fields after it: HTTP/0.9's request is its line (RFC 9112 Appendix C), what follows unread.
  const fields = await badInput('GET /beta/x', 'GET /beta/no-version\r\nHost: x\r\n\r\n', { status: 400 });
  assert.match(fields.text, /\r\n\r\n400 Bad Request\nHTTP\/0\.9 is not spoken here: send HTTP\/1\.1\n?$/, fields.text);
  // Within half of --header-timeout: the connection was held until then, and answered 408.
  const soon = (HEADER_TIMEOUT_S * 1000) / 2;
  const alone = await badInput('GET /alpha/x, the line alone', 'GET /alpha/no-version\r\n', { status: 400 }, soon);
  assert.match(alone.text, /\r\n\r\n400 Bad Request\nHTTP\/0\.9 is not spoken here: send HTTP\/1\.1\n?$/, alone.text);
  // A later request on a connection node:http reads (an absolute-form first one is handed to
  // it): the line in one read, in two (the second read ends it), and with fields after it.
  for (const pieces of [['GET /beta/no-version\r\n'], ['GET /beta/no-', 'version\r\n'], ['GET /beta/no-version\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n']]) {
    let sentAt = 0;
    const later = await exchange(async (socket) => {
      let got = '';
      socket.on('data', (c: Buffer) => (got += c.toString('latin1')));
      socket.write('GET http://x/beta/first HTTP/1.1\r\nHost: x\r\n\r\n');
      await waitFor(() => /^HTTP\/1\.1 200 [^]*\r\n\r\n/.test(got), 10_000, () => `the first answer, got ${JSON.stringify(got)}`);
      await writeAsReads(socket, pieces.slice(0, -1).map((piece) => Buffer.from(piece)));
      sentAt = performance.now();
      socket.write(pieces[pieces.length - 1]);
    }, 15_000);
    const statuses = [...later.text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => m[1]);
    assert.equal(statuses, ['200', '400'], `${JSON.stringify(pieces)}: ${later.text}`);
    assert.ok(later.closed && performance.now() - sentAt < soon + 200, `${JSON.stringify(pieces)}: answered and closed within ${soon} ms: ${later.text}`);
  }
  await assertServing();
}));

test('R1.3 malformed methods (bad characters, lower case, NUL, tabs): 400; a method no one registered (FOO) is no malformed one (R6.22)', bounded(async () => {
  await badInput('G(T', head('/alpha/m', '', 'G(T'), { status: 400 });
  await badInput('lower-case get', head('/alpha/m', '', 'get'), { status: 400 });
  await badInput('NUL in the method', head('/alpha/m', '', 'GE\0T'), { status: 400 });
  await badInput('tabs for spaces', `GET\t/alpha/m\tHTTP/1.1\r\n${HOST}\r\n`, { status: 400 });
  // (Two spaces between the parts are no bad input: RFC 9112 §3 lets a server accept them.)
  await assertServing();
}));

test('R1.4 HTTP versions that are not 1.x: another major (HTTP/2.0, HTTP/9.9) 505, no version (HTTP/1, HTTP/1.1x) 400', bounded(async () => {
  // RFC 9110 §15.6.6: 505 for a major version the server does not speak, parsed by llhttp
  // (2.0) or refused by it (3.0, 9.9) alike.
  for (const version of ['HTTP/2.0', 'HTTP/3.0', 'HTTP/9.9']) {
    await badInput(version, `GET /alpha/version ${version}\r\n${HOST}\r\n`, { status: 505 });
  }
  for (const version of ['HTTP/0.9', 'HTTP/1', 'HTTP/1.1x', 'HTTP/1.10', 'HTTPS/1.1', 'http/1.1']) {
    await badInput(version, `GET /alpha/version ${version}\r\n${HOST}\r\n`, { status: 400 });
  }
  await assertServing();
}));

// (A raw octet >= 0x80 is no bad input: SPEC 5.8 gives it to the app as latin-1, R6.8.)
test('R1.5 bad request targets (space, control character, raw NUL, %00, no leading slash): 400', bounded(async () => {
  await badInput('a space in the target', head('/alpha/a b'), { status: 400 });
  await badInput('a control character', head('/alpha/\x01'), { status: 400 });
  await badInput('a raw NUL', head('/alpha/a\0b'), { status: 400 });
  await badInput('%00 in the path', head('/alpha/a%00b', 'Connection: close\r\n'), { status: 400 });
  await badInput('no leading slash', head('alpha/x'), { status: 400 });
  await assertServing();
}));

test('R1.6 an absurdly long URL (100 KB): 414', bounded(async () => {
  const said = await badInput('100 KB path', head(`/alpha/${'a'.repeat(100 * 1024)}`), { status: 414 });
  // Why, as every other refusal says it (it had no body).
  assert.match(said.text, /\r\n\r\n414 URI Too Long\nthe request head is longer than 16 KiB, its request line alone over 8 KiB\n$/);
  await badInput('100 KB query', head(`/beta/x?${'q=1&'.repeat(25 * 1024)}`), { status: 414 });
  // A 12 KiB request line in a head within 16 KiB is served: the 414's body names the head's bound, not 8 KiB alone.
  const longServed = await get(`/alpha/ok?${'q'.repeat(12 * 1024)}`);
  assert.is(longServed.status, 200, longServed.text);
  await assertServing();
}));

test('R1.7 invalid header names (space in it, space before the colon, no colon, empty, NUL, non-token): 400', bounded(async () => {
  await badInput('a space in a name', head('/alpha/h', 'Bad Name: v\r\n'), { status: 400 });
  await badInput('a space before the colon', head('/alpha/h', 'X-Name : v\r\n'), { status: 400 });
  await badInput('no colon', head('/alpha/h', 'NoColonHere\r\n'), { status: 400 });
  await badInput('an empty name', head('/alpha/h', ': v\r\n'), { status: 400 });
  await badInput('NUL in a name', head('/alpha/h', 'X-\0Name: v\r\n'), { status: 400 });
  await badInput('a non-token name', head('/alpha/h', 'X(Name): v\r\n'), { status: 400 });
  await assertServing();
}));

test('R1.8 invalid header values (CR alone, LF alone, NUL, control character, obs-fold, bare-LF lines): 400', bounded(async () => {
  await badInput('CR alone in a value', head('/alpha/h', 'X-A: a\rb\r\n'), { status: 400 });
  await badInput('LF alone in a value', head('/alpha/h', 'X-A: a\nb\r\n'), { status: 400 });
  await badInput('NUL in a value', head('/alpha/h', 'X-A: a\0b\r\n'), { status: 400 });
  await badInput('a control character in a value', head('/alpha/h', 'X-A: a\x01b\r\n'), { status: 400 });
  await badInput('obs-fold (a continuation line)', head('/alpha/h', 'X-A: a\r\n  folded\r\n'), { status: 400 });
  await badInput('bare LF line endings', 'GET /alpha/h HTTP/1.1\nHost: x\n\n', { status: 400 });
  await assertServing();
}));

test('R1.9 Host: two of them, an invalid one, none on HTTP/1.1: 400; a request pipelined behind such a refusal is not processed', bounded(async () => {
  await badInput('two Host headers', 'GET /alpha/h HTTP/1.1\r\nHost: alpha.localhost\r\nHost: beta.localhost\r\n\r\n', { status: 400 });
  // The 400 says close, so what follows in the same bytes never reaches an app (RFC 9112 §9.6),
  // however many requests: node:http parses them all, the third as well as the second.
  const behind = head('/beta/pipelined', 'Content-Length: 5\r\n', 'POST') + 'hello';
  for (const more of ['', head('/beta/third')]) {
    // Routed to beta and cut at once, it may never reach the app's code: beta's count says it was routed.
    const routedBefore = (await appStatus(gw, 'beta')).requests;
    const answer = await badInput(`two Host headers, ${more === '' ? 'a POST' : 'a POST and a GET'} pipelined behind`, 'GET /alpha/h HTTP/1.1\r\nHost: alpha.localhost\r\nHost: beta.localhost\r\n\r\n' + behind + more, { status: 400 });
    assert.is(answer.text.split('HTTP/1.1 ').length, 2, `one answer, the 400: ${answer.text}`);
    assert.is((await appStatus(gw, 'beta')).requests, routedBefore, `a request pipelined behind the 400 was routed to beta: ${more === '' ? 'the POST' : 'the POST or the GET'}`);
  }
  await badInput('Host with a path', 'GET /alpha/h HTTP/1.1\r\nHost: x/y\r\n\r\n', { status: 400 });
  await badInput('Host with a space', 'GET /alpha/h HTTP/1.1\r\nHost: a b\r\n\r\n', { status: 400 });
  await badInput('Host with userinfo', 'GET /alpha/h HTTP/1.1\r\nHost: u@x\r\n\r\n', { status: 400 });
  await badInput('no Host on HTTP/1.1', 'GET /alpha/h HTTP/1.1\r\n\r\n', { status: 400 });
  await assertServing();
}));

test('R1.10 100 KB of headers: 431', bounded(async () => {
  const many = Array.from({ length: 1000 }, (_, i) => `X-H${i}: ${'v'.repeat(95)}\r\n`).join('');
  const said = await badInput('1000 headers of 100 bytes', head('/alpha/h', many), { status: 431 });
  assert.match(said.text, /\r\n\r\n431 Request Header Fields Too Large\nthe request head is longer than 16 KiB\n$/);
  await badInput('one 100 KB header', head('/beta/h', `X-Big: ${'v'.repeat(100 * 1024)}\r\n`), { status: 431 });
  await badInput('100 KB of cookies', head('/alpha/h', `Cookie: ${'c=1; '.repeat(20 * 1024)}\r\n`), { status: 431 });
  // The bound is on the head's bytes, not only on its names and values (node:http's measure):
  // 5,000 empty fields are 20 KB of head and 5 KB of names, served until 2026-12-07.
  const empty = await badInput('5,000 empty fields: 20 KB of head', head('/alpha/h', 'a:\r\n'.repeat(5000)), { status: 431 });
  assert.match(empty.text, /\r\n\r\n431 Request Header Fields Too Large\nthe request head is longer than 16 KiB\n$/);
  const longLine = await badInput('a 10 KB target and 3,000 empty fields', head(`/alpha/${'t'.repeat(10 * 1024)}`, 'a:\r\n'.repeat(3000)), { status: 414 });
  assert.match(longLine.text, /\r\n\r\n414 URI Too Long\nthe request head is longer than 16 KiB, its request line alone over 8 KiB\n$/);
  // The edge, the same whoever reads the head: the lane (one read), node:http (split after its
  // line). No space after a colon: node:http keeps none, so a head of `Name: value` passes by those.
  const edge = (bytes: number): string => {
    const start = 'GET /beta/edge HTTP/1.1\r\nHost:x\r\nConnection:close\r\nX:';
    return `${start}${'v'.repeat(bytes - start.length)}\r\n\r\n`;
  };
  for (const split of [false, true]) {
    const send = (bytes: number) => async (socket: net.Socket) => {
      const text = edge(bytes);
      if (split) await writeAsReads(socket, [Buffer.from(text.slice(0, 20))]);
      socket.write(split ? text.slice(20) : text);
    };
    const within = await exchange(send(16 * 1024));
    assert.match(within.text, /^HTTP\/1\.1 200 /, `16,384 bytes up to the blank line${split ? ', split' : ''}: ${within.text.slice(0, 200)}`);
    await badInput(`16,385 bytes up to the blank line${split ? ', split after its line' : ''}`, send(16 * 1024 + 1), { status: 431 });
  }
  await assertServing();
}));

test('R1.11 a Content-Length over max_body: 413 at once, before the app reads; closed, nothing pipelined behind it processed', bounded(async () => {
  // Only the head is sent: an app given it would wait for the body. The gateway answers anyway.
  await badInput('Content-Length 5000 (max_body 1KB), no body', head('/alpha/read', 'Content-Length: 5000\r\n', 'POST'), { status: 413 });
  await badInput('Content-Length 1 GB with a body', head('/alpha/read', `Content-Length: ${2 ** 30}\r\n`, 'POST') + 'x'.repeat(4096), { status: 413 });
  // The 413 says close, so a request pipelined after the body is not processed (RFC 9112 §9.6),
  // on the lean lane and in node:http (which reads an absolute-form request, and what follows it).
  const behind = head('/beta/pipelined', 'Content-Length: 5\r\n', 'POST') + 'hello';
  for (const target of ['/alpha/read', 'http://x/alpha/read']) {
    // Routed to beta and cut at once, it may never reach the app's code: beta's count says it was routed.
    const routedBefore = (await appStatus(gw, 'beta')).requests;
    const answer = await badInput(`Content-Length 2000 to ${target} with its body, a POST pipelined behind`, head(target, 'Content-Length: 2000\r\n', 'POST') + 'y'.repeat(2000) + behind, { status: 413 });
    assert.is(answer.text.split('HTTP/1.1 ').length, 2, `one answer, the 413: ${answer.text}`);
    assert.is((await appStatus(gw, 'beta')).requests, routedBefore, `${target}: the request pipelined behind the 413 was routed to beta`);
  }
  // Under the limit, the same request is read whole.
  const ok = await exchange((s) => void s.write(head('/alpha/read', 'Content-Length: 1000\r\nConnection: close\r\n', 'POST') + 'x'.repeat(1000)));
  assert.match(ok.text, /^HTTP\/1\.1 200 [\s\S]*read 1000$/);
  await assertServing();
}));

test('R1.12 a chunked body crossing max_body: 413, the app\'s read cut off; closed', bounded(async () => {
  const chunk = `320\r\n${'y'.repeat(0x320)}\r\n`; // 800 bytes: two cross 1 KB
  await badInput('chunked 1600 bytes (max_body 1KB)', head('/alpha/read', 'Transfer-Encoding: chunked\r\n', 'POST') + chunk + chunk + '0\r\n\r\n', { status: 413, headMayReach: 'alpha' });
  await assertServing();
}));

test('R1.13 Content-Length with Transfer-Encoding, or chunked then HTAB (request smuggling): 400, closed, the smuggled request never reaches the app', bounded(async () => {
  const smuggled = `GET /alpha/smuggled HTTP/1.1\r\n${HOST}\r\n`;
  await badInput('CL then TE', head('/alpha/read', 'Content-Length: 4\r\nTransfer-Encoding: chunked\r\n', 'POST') + `0\r\n\r\n${smuggled}`, { status: 400 });
  await badInput('TE then CL', head('/alpha/read', 'Transfer-Encoding: chunked\r\nContent-Length: 40\r\n', 'POST') + `0\r\n\r\n${smuggled}`, { status: 400 });
  await badInput('CL 0 with TE, a chunk holding the request', head('/beta/read', 'Content-Length: 0\r\nTransfer-Encoding: chunked\r\n', 'POST') + `${smuggled.length.toString(16)}\r\n${smuggled}\r\n0\r\n\r\n`, { status: 400 });
  await badInput('TE twice, CL too', head('/alpha/read', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\nContent-Length: 5\r\n', 'POST') + `0\r\n\r\n${smuggled}`, { status: 400 });
  // `chunked` then an HTAB, which llhttp refuses only once the head is read, with a body that
  // reads as a trailer section: the request was ended there, served with no body, and the
  // smuggled one behind it served too (the body in the head's read, or in a later one).
  const tabbed = head('/beta/read', 'Transfer-Encoding: chunked\t\r\n', 'POST');
  await badInput('TE chunked<HTAB>, a body like a trailer section', `${tabbed}X-Y: z\r\n\r\n${smuggled}`, { status: 400 });
  await badInput('TE chunked<HTAB>, a body like a trailer section in a later read', async (s) => {
    s.write(tabbed);
    await sleep(300);
    s.write(`X-Y: z\r\n\r\n${smuggled}`);
  }, { status: 400 });
  for (const name of APPS) assert.not.match(seen()[name].text, /smuggled/, `${name} never saw the smuggled request`);
  await assertServing();
}));

test('R1.14 two different Content-Lengths, and Content-Lengths that are not a number: 400', bounded(async () => {
  await badInput('5 and 6', head('/alpha/read', 'Content-Length: 5\r\nContent-Length: 6\r\n', 'POST') + 'hello!', { status: 400 });
  await badInput('a list 5, 6', head('/alpha/read', 'Content-Length: 5, 6\r\n', 'POST') + 'hello!', { status: 400 });
  await badInput('negative', head('/alpha/read', 'Content-Length: -1\r\n', 'POST'), { status: 400 });
  await badInput('a plus sign', head('/alpha/read', 'Content-Length: +5\r\n', 'POST') + 'hello', { status: 400 });
  await badInput('hexadecimal', head('/alpha/read', 'Content-Length: 0x5\r\n', 'POST') + 'hello', { status: 400 });
  await badInput('past 2^53', head('/alpha/read', 'Content-Length: 99999999999999999999999\r\n', 'POST') + 'hello', { status: 400 });
  await assertServing();
}));

test('R1.15 a Transfer-Encoding that does not end in chunked (gzip, xchunked, "chunked, gzip", space before the colon, chunked then HTAB): 400, closed', bounded(async () => {
  for (const te of ['Transfer-Encoding: gzip', 'Transfer-Encoding: xchunked', 'Transfer-Encoding: chunked, gzip', 'Transfer-Encoding : chunked', 'Transfer-Encoding: chunked\r\nTransfer-Encoding: identity']) {
    await badInput(te, head('/alpha/read', `${te}\r\n`, 'POST') + '5\r\nhello\r\n0\r\n\r\n', { status: 400 });
  }
  // llhttp reads `chunked` then an HTAB as no chunked and refuses it, but only after node:http
  // has emitted the request, with the value trimmed to `chunked`: the app (beta, which does
  // not read the body first at /early) must not be given it.
  for (const te of ['chunked\t', 'chunked \t', '\tchunked\t']) {
    for (const path of ['/alpha/read', '/beta/early']) {
      await badInput(`Transfer-Encoding: ${JSON.stringify(te)} to ${path}`, head(path, `Transfer-Encoding: ${te}\r\n`, 'POST') + '5\r\nhello\r\n0\r\n\r\n', { status: 400 });
    }
  }
  await assertServing();
}));

test('R1.16 an invalid chunk size (not hex, negative, overflowing, data longer than its size, NUL in an extension): 400 saying why, closed, the app\'s read cut off', bounded(async () => {
  // The head goes to the app as it arrives (bodies stream); the bad chunk cuts its read off.
  const bad: Array<[body: string, why: string]> = [
    ['zz\r\nhello\r\n0\r\n\r\n', 'a chunk size is not a hexadecimal number'],
    ['-5\r\nhello\r\n0\r\n\r\n', 'a chunk size is not a hexadecimal number'],
    [`${'f'.repeat(20)}\r\nhello\r\n0\r\n\r\n`, 'a chunk size is too large'],
    ['5\r\nhelloXX\r\n0\r\n\r\n', 'chunk data is longer than its size'],
    ['5;\0\r\nhello\r\n0\r\n\r\n', 'a chunk extension has no name'],
  ];
  for (const [body, why] of bad) {
    const answer = await badInput(`chunked ${JSON.stringify(body.slice(0, 8))}`, head('/beta/read', 'Transfer-Encoding: chunked\r\n', 'POST') + body, { status: 400, headMayReach: 'beta' });
    // The lean lane reads these bodies; node:http's 400 (APPPKG_LEAN_LANE=0) has no body.
    if (process.env.APPPKG_LEAN_LANE !== '0') assert.ok(answer.text.endsWith(`\r\n\r\n400 Bad Request\n${why}\n`), answer.text);
  }
  // The bad chunk after a valid one, in its own packet, once the app has started reading.
  await badInput('a bad chunk after a good one', async (s) => {
    s.write(head('/beta/read', 'Transfer-Encoding: chunked\r\n', 'POST') + '5\r\nhello\r\n');
    await sleep(300);
    s.write('zz\r\nbad\r\n0\r\n\r\n');
  }, { status: 400, headMayReach: 'beta' });
  await assertServing();
}));

test('R1.17 an invalid chunk after the app\'s response began: the connection is cut, no 400 inside its body', bounded(async () => {
  // Before the fix the gateway wrote "HTTP/1.1 400" into the middle of the 200's chunked body.
  const answer = await badInput('a bad chunk once /early answered', async (s) => {
    s.write(head('/beta/early', 'Transfer-Encoding: chunked\r\n', 'POST') + '5\r\nhello\r\n');
    await waitFor(() => seen().beta.text.includes("begin POST '/early'"), 5000, 'the app to start');
    await sleep(300);
    s.write('zz\r\nbad\r\n0\r\n\r\n');
  }, { cut: true, headMayReach: 'beta' });
  assert.match(answer.text, /^HTTP\/1\.1 200 [\s\S]*started\n/);
  assert.not.match(answer.text, /HTTP\/1\.1 400/, 'no second status line inside the body');
  assert.not.match(answer.text, /\r\n0\r\n\r\n$/, 'a cut body never looks complete');
  await assertServing();
}));

test(`R1.18 slowloris: ten clients sending their heads a byte a second are dropped after --header-timeout (${HEADER_TIMEOUT_S} s) with 408; other clients are served meanwhile`, bounded(async () => {
  const slowHead = `GET /alpha/slowloris HTTP/1.1\r\n${HOST}X-Slow: ${'s'.repeat(40)}\r\n\r\n`;
  const startedAt = Date.now();
  const loris = Array.from({ length: 10 }, (_, i) =>
    badInput(`slowloris ${i}`, async (s) => {
      for (let n = 0; n < slowHead.length && !s.destroyed; n++) {
        s.write(slowHead[n]);
        await sleep(1000);
      }
    }, { status: 408 }, 20_000),
  );
  // Meanwhile every app answers, again and again.
  let served = 0;
  while (Date.now() - startedAt < HEADER_TIMEOUT_S * 1000) {
    for (const name of APPS) {
      const r = await get(`/${name}/ok`, 5000);
      assert.is(r.status, 200);
      served++;
    }
    await sleep(100);
  }
  await Promise.all(loris);
  const took = Date.now() - startedAt;
  // Dropped long before the head (about 60 bytes) could have been sent at this pace.
  assert.ok(took < 15_000, `the slow clients were dropped after ${took} ms`);
  assert.ok(served >= 4, `${served} good requests were served meanwhile`);
  await assertServing();
}));

test(`R1.19 a connection that sends nothing is closed after --header-timeout, unanswered (no request came)`, bounded(async () => {
  const startedAt = Date.now();
  const answer = await badInput('an idle connection', () => undefined, {}, 15_000);
  assert.is(answer.text, '', 'nothing is written to a connection that asked nothing');
  assert.ok(Date.now() - startedAt < 10_000, 'dropped well before the keep-alive of a busy client would matter');
  await assertServing();
}));

test(`R1.20 a slow upload (a byte a second, past the app's ${TIMEOUT_S} s timeout) holds one thread: the app's other requests are served meanwhile; it completes`, bounded(async () => {
  // Bodies stream to the app as they arrive (README, "Slow clients"): the app's read waits for
  // each piece, so the upload holds one of alpha's two threads; the timeout counts from the
  // last piece, so a slow but steady upload is not a stuck app. A legitimate request: not counted.
  const before = (await appStatus(gw, 'alpha')).workers.map((w: { pid: number }) => w.pid);
  const upload = exchange(async (s) => {
    s.write(head('/alpha/read', 'Content-Length: 6\r\nConnection: close\r\n', 'POST'));
    for (let i = 0; i < 6; i++) {
      await sleep(1000);
      s.write('u');
    }
  }, 20_000);
  await waitFor(async () => (await appStatus(gw, 'alpha')).workers[0].inFlight === 1, 5000, 'the upload to reach the app');
  let served = 0;
  while (served < 10) {
    const r = await get('/alpha/ok', 5000);
    assert.is(r.status, 200, 'alpha serves while the upload trickles');
    served++;
    await sleep(200);
  }
  const answer = await upload;
  assert.match(answer.text, /^HTTP\/1\.1 200 [\s\S]*read 6$/, `the upload completes: ${answer.text.slice(0, 200)}`);
  const afterPids = (await appStatus(gw, 'alpha')).workers.map((w: { pid: number }) => w.pid);
  assert.equal(afterPids, before, 'the worker was not recycled');
}));

test('R1.21 as many slow uploads as the app has threads: its next request waits for a free thread (the documented limit), then is served', bounded(async () => {
  const finished: string[] = [];
  const trickle = (label: string, bytes: number) =>
    exchange(async (s) => {
      s.write(head('/alpha/read', `Content-Length: ${bytes}\r\nConnection: close\r\n`, 'POST'));
      for (let i = 0; i < bytes; i++) {
        await sleep(1000);
        s.write('t');
      }
    }, 20_000).then((a) => {
      finished.push(label);
      return a;
    });
  const uploads = [trickle('upload 1', 4), trickle('upload 2', 5)];
  await waitFor(async () => (await appStatus(gw, 'alpha')).workers[0].inFlight === 2, 5000, 'both threads to be held');
  const waiting = get('/alpha/ok', 15_000).then((r) => {
    finished.push('request');
    return r;
  });
  // The request waits for a thread (in the gateway's queue, or sent to alpha's worker to wait
  // there: PIPELINE_DEPTH), not in a thread of its own.
  await waitFor(async () => (await appStatus(gw, 'alpha')).queued === 1, 2000, 'the request to be queued');
  assert.equal(finished, [], 'nothing finished while both uploads hold the threads');
  const [a, b] = await Promise.all(uploads);
  const r = await waiting;
  assert.match(a.text, /read 4$/);
  assert.match(b.text, /read 5$/);
  assert.is(r.status, 200);
  assert.ok(finished.indexOf('request') < finished.indexOf('upload 2'), `the request was served once upload 1 freed a thread: ${finished.join(', ')}`);
  // beta's threads are its own: it never waited.
  assert.is((await get('/beta/ok')).status, 200);
}));

test(`R1.22 an upload that stops: 408 after the app's timeout (${TIMEOUT_S} s), closed; the app's read is cut off and its worker is not recycled`, bounded(async () => {
  const before = (await appStatus(gw, 'alpha')).workers.map((w: { pid: number }) => w.pid);
  const startedAt = Date.now();
  await badInput('2 of 100 bytes, then nothing', (s) => void s.write(head('/alpha/read', 'Content-Length: 100\r\n', 'POST') + 'st'), { status: 408, headMayReach: 'alpha' }, 15_000);
  const took = Date.now() - startedAt;
  assert.ok(took >= TIMEOUT_S * 1000 - 100, `answered after ${took} ms with timeout: ${TIMEOUT_S}`);
  await sleep(500); // a recycle would have been started by now
  const afterPids = (await appStatus(gw, 'alpha')).workers.map((w: { pid: number }) => w.pid);
  assert.equal(afterPids, before, 'the worker was not recycled: a client\'s stall is not a stuck app');
  assert.not.match(gw.output(), /alpha: recycling worker/);
  await assertServing();
}));

test('R1.23 path traversal out of a static dir with .. (literal, %2e%2e, .%2e, mixed case) that climbs above the root, or beside %2f: 400, the secret never served', bounded(async () => {
  // Sanity: the static files are there, and served by the gateway (the app never sees them).
  const ok = await get('/alpha/static/sub/inner.txt');
  assert.is(ok.status, 200);
  assert.is(ok.text, 'sub ok\n');
  // A .. that stays under the root is resolved before routing (RFC 3986 §5.2.4, as nginx): a
  // static file is found by the path it resolves to, never by one outside the mapped directory.
  const resolved = await get('/alpha/static/sub/%2e%2e/../static/sub/./inner.txt');
  assert.is(resolved.status, 200);
  assert.is(resolved.text, 'sub ok\n');
  for (const path of [
    '/alpha/static/../../../secret.txt',
    '/alpha/static/%2e%2e/%2e%2e/%2e%2e/secret.txt',
    '/alpha/static/.%2e/%2E./..',
    '/alpha/static/sub/../../../../secret.txt',
    // Above the root only with its // merged, as nginx merges them before resolving (RFC 3986 alone: /secret.txt).
    '/alpha/static//../../../secret.txt',
    '/alpha/static/..%2fsecret.txt',
    '/alpha/static/%2e%2e%2fsecret.txt',
    '/alpha/static/%2E%2E%2Fsecret.txt',
    '/alpha/static/%2e%2e%2f%2e%2e%2f%2e%2e%2fetc/passwd',
    '/../secret.txt',
  ]) {
    const answer = await badInput(path, head(path, 'Connection: close\r\n'), { status: 400 });
    assert.not.match(answer.text, /root:/, path);
  }
  await assertServing();
}));

test('R1.24 traversal that is no dot segment to the gateway (..%5c, ..\\, double-encoded %252e, overlong UTF-8 %c0%ae, %00): 4xx, the secret never served', bounded(async () => {
  for (const path of [
    '/alpha/static/..%5csecret.txt',
    '/alpha/static/..%5c..%5csecret.txt',
    '/alpha/static/..\\secret.txt',
    '/alpha/static/%252e%252e/secret.txt',
    '/alpha/static/%252e%252e%252fsecret.txt',
    '/alpha/static/%c0%ae%c0%ae/secret.txt',
    '/alpha/static/secret.txt%00.txt',
  ]) {
    await badInput(path, head(path, 'Connection: close\r\n'));
  }
  await assertServing();
}));

test('R1.25 after all of it: the gateway is alive, every app serves, no worker was replaced, no input reached an app', bounded(async () => {
  await sleep(500); // anything late would have been recorded by now
  await assertServing();
  const status = await gatewayStatus(gw);
  for (const name of APPS) {
    const app = status.apps.find((a: { name: string }) => a.name === name);
    assert.is(app.state, 'ready', `${name} is ready`);
    for (const w of app.workers) assert.ok(pids.has(w.pid), `${name}'s worker ${w.pid} is the one it started with`);
    // Every "done" line is one of this suite's good requests, never a bad input's path.
    assert.not.match(seen()[name].text, /^done .*(smuggled|slowloris|no-version|secret)/m);
  }
  assert.is(counts.reached, 0, 'no bad input reached an app');
  assert.ok(counts.tried >= 60, `${counts.tried} inputs tried`);
  assert.is(counts.tried, counts.answered4xx + counts.closed, 'every input was answered with a 4xx or closed');
}));

test.run();
