// GET /apps/NAME/log's Apppkg-Log-Position and `from`: how `logs -f` goes on after a restart of
// the gateway from the byte after the last one it printed, and only in the same file.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { appendFileSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { startAdminServer, type AdminServer } from '../../src/admin/admin-server.js';
import { GatewayMetrics } from '../../src/admin/metrics.js';
import { tempDir, waitFor } from '../helpers/process.js';
import { fakeProvider, fakeStatus } from './fake-status.js';

const test = suite('admin: a log followed again from where it was left');
const dir = tempDir('apppkg-log-resume-');
const file = join(dir.path, 'blog.log');
let server: AdminServer;

test.before(async () => {
  server = await startAdminServer({ listen: { kind: 'tcp', host: '127.0.0.1', port: 0 }, provider: fakeProvider(dir.path), metrics: new GatewayMetrics({ status: fakeStatus, processMetrics: false }) });
});

test.after(async () => {
  await server?.close();
  dir.remove();
});

async function log(query: string): Promise<{ position: string | undefined; body: string }> {
  const res = await request(`${server.url}/apps/blog/log?${query}`, { headersTimeout: 5000, bodyTimeout: 5000 });
  assert.is(res.statusCode, 200);
  const position = res.headers['apppkg-log-position'];
  return { position: typeof position === 'string' ? position : undefined, body: await res.body.text() };
}

test('the header names the file and where the body starts; from= of the same file goes on from there', async () => {
  writeFileSync(file, 'one\ntwo\nthree\n');
  const st = statSync(file);
  const first = await log('lines=2');
  assert.is(first.body, 'two\nthree\n');
  assert.is(first.position, `${st.dev}:${st.ino}:4`);
  const left = `${st.dev}:${st.ino}:${4 + Buffer.byteLength(first.body)}`;
  appendFileSync(file, 'four\nfive\n');
  const resumed = await log(`lines=0&from=${left}`);
  assert.is(resumed.body, 'four\nfive\n');
  assert.is(resumed.position, left);
});

test('from= of another file, or past the end of this one (started anew), is not used: lines applies', async () => {
  writeFileSync(file, 'old\n');
  const old = statSync(file);
  renameSync(file, `${file}.1`);
  writeFileSync(file, 'new one\nnew two\n');
  const now = statSync(file);
  const other = await log(`lines=1&from=${old.dev}:${old.ino}:2`);
  assert.is(other.body, 'new two\n');
  assert.is(other.position, `${now.dev}:${now.ino}:8`);
  const past = await log(`lines=0&from=${now.dev}:${now.ino}:999`);
  assert.is(past.body, '');
  assert.is(past.position, `${now.dev}:${now.ino}:${now.size}`);
  // Not a position at all: as if absent.
  assert.is((await log('lines=1&from=nonsense')).body, 'new two\n');
});

// `logs -f` came back to a gateway whose apps had not yet made their log anew (rotated while it was
// away): the head had no position, read as an older gateway's ("from its end", the rotation unsaid),
// and the follower tracked no position from then on.
test('a follower coming back (from=) to a log not made yet: the head waits for the file and names it', async () => {
  writeFileSync(file, 'before\n');
  const old = statSync(file);
  renameSync(file, `${file}.2`);
  const leave = new AbortController();
  let headed = false;
  const asked = request(`${server.url}/apps/blog/log?lines=0&follow=1&from=${old.dev}:${old.ino}:7`, { headersTimeout: 10_000, bodyTimeout: 0, signal: leave.signal });
  asked.then(() => (headed = true), () => {});
  try {
    await new Promise((r) => setTimeout(r, 600));
    assert.not.ok(headed, 'no head before the file exists');
    writeFileSync(file, 'made anew\n');
    const now = statSync(file);
    const res = await asked;
    assert.is(res.statusCode, 200);
    assert.is(res.headers['apppkg-log-position'], `${now.dev}:${now.ino}:${now.size}`);
  } finally {
    leave.abort();
  }
});

// A gateway that has just started answers before it has looked at --apps once: `logs -f`
// coming back to it was told "no app named blog" and exited, in the middle of a restart.
test('an app route asked before the gateway has listed its apps waits for the list, not "no such app"', async () => {
  writeFileSync(file, 'listed\n');
  let known = false;
  let list = (): void => {};
  const provider = { ...fakeProvider(dir.path), appsListed: new Promise<void>((resolve) => (list = resolve)) };
  provider.logFileOf = (name) => (known && name === 'blog' ? file : null);
  const early = await startAdminServer({ listen: { kind: 'tcp', host: '127.0.0.1', port: 0 }, provider, metrics: new GatewayMetrics({ status: fakeStatus, processMetrics: false }) });
  try {
    const asked = request(`${early.url}/apps/blog/log?lines=1`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
    // Given time to answer before the list, as it did: "no app named blog".
    await new Promise((r) => setTimeout(r, 300));
    known = true;
    list();
    const res = await asked;
    const body = await res.body.text();
    assert.is(res.statusCode, 200, body);
    assert.is(body, 'listed\n');
  } finally {
    await early.close();
  }
});

/** The descriptors of this process open on `path` (the admin server runs in it). */
const openOn = (path: string): number => readdirSync('/proc/self/fd').filter((fd) => {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`) === path;
  } catch {
    return false; // closed since the listing
  }
}).length;

// Not followed, the body was read whole before the first byte went out: `from` the start of a
// log of gigabytes took as much of the gateway's memory, its event loop held meanwhile.
test('a log asked from= its start without follow is read as the client takes it: a client that reads nothing holds a few chunks of the gateway\'s memory, not the log; one that leaves frees the file; one that reads gets every byte', async () => {
  writeFileSync(file, '');
  const size = 256 * 1024 * 1024;
  truncateSync(file, size); // sparse: no disk, but every byte to read
  const st = statSync(file);
  const before = process.memoryUsage().arrayBuffers;
  const client = connect(Number(new URL(server.url).port), '127.0.0.1');
  try {
    client.write(`GET /apps/blog/log?lines=0&from=${st.dev}:${st.ino}:0 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    // Readable once the head is out; the answer is never read from here on.
    await new Promise((resolve) => client.once('readable', resolve));
    const held = process.memoryUsage().arrayBuffers - before;
    assert.ok(held < size / 4, `the server holds ${Math.round(held / 1048576)} MiB of a ${size / 1048576} MiB log for a client that reads none of it`);
    assert.is(openOn(file), 1, 'the log is open while the answer goes on');
  } finally {
    client.destroy();
  }
  await waitFor(() => openOn(file) === 0, 10_000, 'the log closed once the client left');
  // A client that reads: the whole file, in order, and the answer ends.
  writeFileSync(file, Buffer.alloc(3 * 1024 * 1024 + 7, 'abcdefg\n'));
  const whole = statSync(file);
  const res = await request(`${server.url}/apps/blog/log?lines=0&from=${whole.dev}:${whole.ino}:0`, { headersTimeout: 5000, bodyTimeout: 10_000 });
  assert.is(res.statusCode, 200);
  assert.ok(Buffer.from(await res.body.arrayBuffer()).equals(Buffer.alloc(whole.size, 'abcdefg\n')), 'every byte of the log, in order');
  await waitFor(() => openOn(file) === 0, 10_000, 'the log closed once the answer ended');
});

/** Bytes this process has read by read(2) and its kin (/proc/self/io's rchar). */
const bytesRead = (): number => Number(/^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))?.[1]);

// A HEAD read the file back for its last lines, then to its end, for a body it then dropped.
test('a HEAD of the log route answers its head without reading the log', async () => {
  writeFileSync(file, '');
  const size = 32 * 1024 * 1024;
  truncateSync(file, size); // sparse, one line: its last lines are the whole file
  const st = statSync(file);
  for (const query of ['lines=10000', `lines=0&from=${st.dev}:${st.ino}:0`]) {
    const before = bytesRead();
    const res = await request(`${server.url}/apps/blog/log?${query}`, { method: 'HEAD', headersTimeout: 5000, bodyTimeout: 5000 });
    assert.is(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /^text\/plain/);
    assert.is(await res.body.text(), '');
    const read = bytesRead() - before;
    assert.ok(read < size / 32, `HEAD ?${query} read ${Math.round(read / 1048576)} MiB of a ${size / 1048576} MiB log`);
  }
});

test('what the app puts under its log\'s name that is no file (a directory, a FIFO) is not read: a follower and a plain ask are answered, and the gateway stays up', async () => {
  // A directory's read threw EISDIR out of the follower's timer, and took the gateway down; a
  // FIFO held the open, and the gateway's event loop, until a writer came.
  writeFileSync(file, 'before\n');
  const follower = await request(`${server.url}/apps/blog/log?lines=1&follow=1`, { headersTimeout: 5000 });
  assert.is(follower.statusCode, 200);
  const followed: Buffer[] = [];
  follower.body.on('data', (chunk: Buffer) => followed.push(chunk));
  follower.body.on('error', () => {});
  try {
    await waitFor(() => Buffer.concat(followed).toString() === 'before\n', 5000, 'the followed line');
    rmSync(file);
    mkdirSync(file);
    // A few of the follower's polls (200 ms) on the directory.
    await new Promise((r) => setTimeout(r, 1000));
    const asked = await log('lines=5');
    assert.is(asked.body, '');
    rmSync(file, { recursive: true });
    const made = spawnSync('mkfifo', [file], { timeout: 5000 });
    assert.is(made.status, 0, `mkfifo: ${made.stderr}`);
    await new Promise((r) => setTimeout(r, 1000));
    assert.is((await log('lines=5')).body, '');
    // A file again: the follower takes it up.
    rmSync(file);
    writeFileSync(file, 'after\n');
    await waitFor(() => Buffer.concat(followed).toString() === 'before\nafter\n', 5000, () => `the new file's line, followed: ${JSON.stringify(Buffer.concat(followed).toString())}`);
  } finally {
    follower.body.destroy();
  }
});

test.run();
