// Requests beyond a worker's threads wait in the worker (PIPELINE_DEPTH), where it runs them
// back to back: (1) the app's timeout counts from when a thread takes one, not from when it
// was sent; (2) when the worker leaves the rotation (a new version takes over) what waits there
// unstarted is given back (RECLAIM/UNRUN) and served by the new version, not after the old
// one's slow request, and (3) so when its worker is recycled (a thread stuck past the timeout),
// again at each recycle, (4) a request with a body too: what of it went to the worker is sent
// again to the next, (5) one whose body went whole in its request's frame too. threads: 1, one
// worker: everything past the first request waits.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { appStatus } from '../helpers/status.js';
import { portOf } from '../helpers/both-readers.js';
import { assertNoOrphans, rawRequest, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('pipelining');
const apps = tempDir('apppkg-pipe-apps-');
const state = tempDir('apppkg-pipe-state-');
let gw: RunningGateway;
const seen = new Set<number>();
/** The timeout of the apps whose tests look at what waits behind a stuck thread (bodies, recycles). */
const STUCK_TIMEOUT_S = 6;

test.before(async () => {
  addPackage(apps.path, 'faults', 'pipe');
  addPackage(apps.path, 'faults', 'swap.1.0');
  addPackage(apps.path, 'faults', 'bodies');
  addPackage(apps.path, 'faults', 'recycles');
  addPackage(apps.path, 'faults', 'wholes');
  const env = join(state.path, 'environment.yaml');
  // bodies, recycles: what waits behind the stuck thread must be seen waiting in the worker, one
  // by one, before the thread's timeout recycles it; 2 s was too short a window for the status
  // polls under the suite's load (a wait timed out, the give-back come and gone).
  writeFileSync(env, `apps:\n  pipe:\n    workers: 1\n    threads: 1\n    timeout: 2\n  swap:\n    workers: 1\n    threads: 1\n${['bodies', 'recycles', 'wholes'].map((app) => `  ${app}:\n    workers: 1\n    threads: 1\n    timeout: ${STUCK_TIMEOUT_S}\n`).join('')}`);
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--environment', env, '--access-log', 'off', '--watch-interval', '0.2']);
});

test.after(async () => {
  for (const app of ['pipe', 'swap', 'bodies', 'recycles', 'wholes']) for (const w of (await appStatus(gw, app).catch(() => null))?.workers ?? []) seen.add(w.pid);
  await gw?.stop();
  await assertNoOrphans([...seen]);
  apps.remove();
  state.remove();
});

interface Answer {
  status: number;
  body: string;
  at: number;
}

async function send(path: string, app = 'pipe'): Promise<Answer> {
  const res = await request(`${gw.url}/${app}${path}`, { headersTimeout: 30_000, bodyTimeout: 30_000 });
  return { status: res.statusCode, body: (await res.body.text()).trim(), at: Date.now() };
}

const workerPids = async (app: string): Promise<number[]> => (await appStatus(gw, app)).workers.map((w: { pid: number }) => w.pid);

test('requests waiting in the worker are timed from when its thread takes them: 3 s of waiting, timeout 2 s, all 200', async () => {
  // Sent together: whichever sleep the thread takes last waits out the other, 3 s from its
  // sending to its answer, past the timeout (timed from its sending, it had a 504). Told by the
  // answers' times, not by status polls seeing two wait: that lasts the first sleep's 1.5 s,
  // which the polls missed on a loaded machine (load 25: "two requests waiting" timed out).
  const sentAt = Date.now();
  const done = await Promise.all([send('/sleep?t=1.5'), send('/sleep?t=1.5'), send('/')]);
  assert.equal(done.map((a) => a.status), [200, 200, 200], done.map((a) => a.body).join(' | '));
  const longest = Math.max(...done.map((a) => a.at - sentAt));
  assert.ok(longest > 2000, `the last answer came ${longest} ms after the requests were sent: none waited behind another`);
});

test('R2.7b what waits behind a stuck thread moves on at each recycle: a request given back once is given back again, and served, one with a body too', async () => {
  // Each stuck request (past the timeout) recycles its worker; what waits behind it there
  // never ran, so it moves on to the next worker every time, not only the first. The POST's
  // body went to the first worker: the gateway kept it, and sends it again each time (it had a
  // 502 at the drain's end). The drain's line tells the stuck request that had its 504.
  // The stuck requests sleep far past the first worker's drain (the timeout and 2 s, from its
  // replacement's start): its thread still runs the first at the drain's end, however late that
  // comes; ended sooner, the worker exited with no line.
  const stuckFor = `/sleep?t=${STUCK_TIMEOUT_S * 10}`;
  const [first] = await workerPids('recycles');
  seen.add(first);
  const stuck = [send(stuckFor, 'recycles')];
  await waitFor(async () => (await appStatus(gw, 'recycles')).workers[0]?.inFlight === 1, 5000, 'the first stuck request on the thread');
  stuck.push(send(stuckFor, 'recycles'));
  const behind = send('/', 'recycles');
  const posted = request(`${gw.url}/recycles/read`, { method: 'POST', body: 'a=1', headersTimeout: 60_000, bodyTimeout: 60_000 });
  await waitFor(async () => (await appStatus(gw, 'recycles')).queued === 3, 5000, 'three requests waiting in the worker');
  const [a, b] = await Promise.all(stuck);
  for (const pid of await workerPids('recycles')) seen.add(pid);
  const last = await behind;
  for (const pid of await workerPids('recycles')) seen.add(pid);
  assert.equal([a.status, b.status], [504, 504], `${a.body} | ${b.body}`);
  assert.is(last.status, 200, `${last.body}\n${gw.output()}`);
  seen.add(Number(last.body));
  assert.is.not(Number(last.body), first, 'served by a later worker');
  const post = await posted;
  assert.is(post.statusCode, 200);
  assert.is((await post.body.text()).trim(), 'read 3');
  const drained = new RegExp(`recycles: worker ${first} has drained for \\d+ s; (.*)`);
  await waitFor(() => drained.test(gw.output()), 30_000, 'the first recycled worker\'s drain line');
  assert.is(drained.exec(gw.output())![1], '1 request its threads still ran, whose client had its answer (a 504) or had left, ends with it');
});

test('R2.7b requests with a body waiting behind a stuck thread are given back with it and run by the next worker: a small one, a chunked one whose end comes after, one past the request window', async () => {
  // The app never ran them: they must not be cut with a 502 when the stuck thread's worker is
  // recycled. What of each body went to that worker is sent again to the next one, then the rest.
  const [first] = await workerPids('bodies');
  seen.add(first);
  const stuck = send('/sleep?t=20', 'bodies');
  await waitFor(async () => (await appStatus(gw, 'bodies')).workers[0]?.inFlight === 1, 5000, 'the stuck request on the thread');
  const post = async (path: string, body: Buffer | Readable): Promise<Answer> => {
    const res = await request(`${gw.url}/bodies${path}`, { method: 'POST', body, headersTimeout: 30_000, bodyTimeout: 30_000 });
    return { status: res.statusCode, body: (await res.body.text()).trim(), at: Date.now() };
  };
  const small = post('/echo', Buffer.from('small body'));
  await waitFor(async () => (await appStatus(gw, 'bodies')).queued === 1, 5000, 'the small POST waiting in the worker');
  // Chunked: its first piece goes to the stuck thread's worker, its last once another worker
  // has served the small POST (so after the give-back; a 502 came first before the fix).
  async function* pieces(): AsyncIterable<Buffer> {
    yield Buffer.from('first half, ');
    await small;
    yield Buffer.from('second half');
  }
  const chunked = post('/echo', Readable.from(pieces()));
  await waitFor(async () => (await appStatus(gw, 'bodies')).queued === 2, 5000, 'the chunked POST waiting in the worker');
  // Past the 1 MiB window: the client is held back once the window went to the worker.
  const large = post('/read', Buffer.alloc(3 << 20, 'x'));
  await waitFor(async () => (await appStatus(gw, 'bodies')).queued === 3, 5000, 'the large POST waiting in the worker');
  const answers = [await small, await chunked, await large];
  const stuckAnswer = await stuck;
  for (const pid of await workerPids('bodies')) seen.add(pid);
  assert.is(stuckAnswer.status, 504, stuckAnswer.body);
  assert.equal(answers.map((a) => a.status), [200, 200, 200], answers.map((a) => a.body).join(' | '));
  const [smallBody, smallPid] = answers[0].body.split(/ (?=\d+$)/);
  assert.is(smallBody, 'small body');
  assert.is.not(Number(smallPid), first, 'run by the next worker');
  seen.add(Number(smallPid));
  assert.ok(answers[1].body.startsWith('first half, second half '), answers[1].body);
  assert.is(answers[2].body, `read ${3 << 20}`);
});

test('a POST whose body went whole in its request\'s frame (REQUEST_FULL), waiting behind a stuck thread, is given back with its body and run by the next worker', async () => {
  const [first] = await workerPids('wholes');
  seen.add(first);
  const stuck = send('/sleep?t=20', 'wholes');
  await waitFor(async () => (await appStatus(gw, 'wholes')).workers[0]?.inFlight === 1, 5000, 'the stuck request on the thread');
  // Head and body in one write, so in one read of the front: the body is whole at dispatch.
  const posted = rawRequest(portOf(gw), 'POST /wholes/echo HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\nConnection: close\r\n\r\nwhole body', 30_000);
  await waitFor(async () => (await appStatus(gw, 'wholes')).queued === 1, 5000, 'the POST waiting in the worker');
  const stuckAnswer = await stuck;
  const answer = await posted;
  for (const pid of await workerPids('wholes')) seen.add(pid);
  assert.is(stuckAnswer.status, 504, stuckAnswer.body);
  assert.match(answer, /^HTTP\/1\.1 200 /, answer);
  const [body, pid] = answer.slice(answer.indexOf('\r\n\r\n') + 4).trim().split(/ (?=\d+$)/);
  assert.is(body, 'whole body', 'the body the worker gave back');
  assert.is.not(Number(pid), first, 'run by the next worker');
  seen.add(Number(pid));
});

test('a new version takes over while requests wait in the old worker: they are given back and the new version serves them', async () => {
  const [old] = await workerPids('swap');
  seen.add(old);
  // Held until the others are answered: with an 8 s sleep instead, a new version slower to
  // start than that (a loaded host) came after it, and the old worker served them once free.
  const gate = tempDir('apppkg-pipe-gate-');
  const release = join(gate.path, 'release');
  const slow = send(`/sleep?until=${encodeURIComponent(release)}`, 'swap');
  await waitFor(async () => (await appStatus(gw, 'swap')).workers[0]?.inFlight === 1, 5000, 'the slow request on the thread');
  const waiting = [send('/', 'swap'), send('/', 'swap'), send('/', 'swap')];
  await waitFor(async () => (await appStatus(gw, 'swap')).queued === 3, 5000, 'three requests waiting in the worker');
  // The new version starts now; until it is up, they wait where they are.
  addPackage(apps.path, 'faults', 'swap.2.0');
  const fast = await Promise.all(waiting);
  writeFileSync(release, '');
  const slowAnswer = await slow;
  gate.remove();
  for (const pid of await workerPids('swap')) seen.add(pid);
  assert.is(slowAnswer.status, 200, 'the request the old thread held finished there');
  assert.is(Number(slowAnswer.body), old);
  for (const a of fast) {
    assert.is(a.status, 200, a.body);
    seen.add(Number(a.body));
    assert.is.not(Number(a.body), old, `answered by the new version's worker\n${gw.output()}`);
    assert.ok(a.at < slowAnswer.at, 'not after the slow request on the old worker');
  }
});

test.run();
