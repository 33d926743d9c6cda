// An ASGI worker whose event loop is held by sync code in an async view (docs/reliability.md
// R2.7c, R2.7d): it reads nothing, so the requests sent to it wait unread, and the gateway cannot
// move them (it cannot see what the worker has read; RECLAIM needs the loop). Once the loop has
// let a PING go a beat unanswered, no new request goes there: the other worker serves them at
// once. The held request's 504 says what holds the worker, and a loop held past the app's
// timeout has its worker replaced, a stream's head out or not, and what it holds without a head
// answered 504 then; a loop free again within it
// serves on, as does a WSGI worker whose one thread runs a long handler (its monitor answers
// the heartbeat). Real CLI, real Python workers; the heartbeat's beat lowered (a test knob) so
// that the silence is seen in a fraction of the block.
// Fixtures: test/fixtures/apps/asgi-timeout, test/fixtures/apps/faults.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { assertNoOrphans, isAlive, startCli, tempDir, waitFor, within, type RunningGateway } from '../helpers/process.js';
import { tricklingPost } from '../helpers/trickling-post.js';
import { appStatus } from '../helpers/status.js';

const TIMEOUT_S = 3;
const BLOCK_S = 6;
const test = suite('asgi worker with its loop held');
const work = tempDir('apppkg-asgi-blocked-');
let gw: RunningGateway;
const pids = new Set<number>();

async function get(path: string, app = 'hz'): Promise<{ status: number; body: string; ms: number }> {
  const started = performance.now();
  const res = await request(`${gw.url}/${app}${path}`, { headersTimeout: 30_000 });
  return { status: res.statusCode, body: await res.body.text(), ms: performance.now() - started };
}

test.before(async () => {
  const apps = join(work.path, 'apps');
  addPackage(apps, 'asgi-timeout', 'hz');
  addPackage(apps, 'asgi-timeout', 'one');
  addPackage(apps, 'asgi-timeout', 'nq');
  addPackage(apps, 'asgi-timeout', 'st');
  addPackage(apps, 'asgi-timeout', 'up');
  addPackage(apps, 'faults', 'th');
  const env = join(work.path, 'environment.yaml');
  writeFileSync(env, `apps:\n  hz:\n    workers: 2\n    timeout: ${TIMEOUT_S}\n  one:\n    workers: 1\n  nq:\n    workers: 1\n    queue: 0\n  st:\n    workers: 1\n    timeout: 1\n  up:\n    workers: 1\n    timeout: 2\n  th:\n    workers: 1\n    threads: 1\n    timeout: 1\n`);
  gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--environment', env], {
    // A beat of 300 ms; a loop silent for 20 s before a worker with nothing in flight counts as
    // hung, or a held loop as stuck after its 504 (worker-pool.ts): what replaces a held worker
    // here is its silence past the app's timeout.
    env: { APPPKG_TEST_HEARTBEAT_MS: '300', APPPKG_TEST_HUNG_AFTER_MS: '20000' },
  });
  await waitFor(async () => {
    pids.add(Number((await get('/pid')).body));
    return pids.size === 2;
  }, 10_000, 'both workers answering');
});

test.after(async () => {
  await gw?.stop(30_000);
  await assertNoOrphans([...pids], 10_000);
  work.remove();
});

test('R2.7c no new request goes to the worker whose loop is held once it has missed a beat; its 504 says why', async () => {
  const blocked = get(`/block?${BLOCK_S}`);
  // It names the request that holds the loop, as the 504 does: which route to look at.
  const silent = await waitFor(() => new RegExp(String.raw`hz: worker (\d+) has not answered the heartbeat for [\d.]+ s, with 1 request in flight \(held longest: GET \/hz\/block\?${BLOCK_S}, for [\d.]+ s\): its event loop is held \(a blocking call in an async function: run sync code with loop\.run_in_executor`).exec(gw.output()), 5000, () => `the line saying the worker is silent, naming GET /hz/block?${BLOCK_S}, in:\n${gw.output()}`);
  const held = Number(silent[1]);
  assert.ok(pids.has(held), `${held} is one of ${[...pids]}`);
  const other = [...pids].find((pid) => pid !== held);
  // Sixteen at once: with none kept from the held worker, about half went there (least in flight,
  // ties at random), each to wait unread for the rest of the block, or its 504.
  const answers = await Promise.all(Array.from({ length: 16 }, () => get('/pid')));
  for (const answer of answers) {
    assert.is(answer.status, 200, answer.body);
    assert.is(Number(answer.body), other, 'answered by the worker whose loop is free');
    assert.ok(answer.ms < 2000, `answered in ${Math.round(answer.ms)} ms`);
  }
  const answer = await blocked;
  assert.is(answer.status, 504, answer.body);
  // The request's own timeout answers it, or the silence rule's when that was judged first: a
  // gateway held past both clocks (a loaded host; they end within a beat of each other) runs
  // the heartbeat's judging before the request's timer. Both say what holds the loop.
  assert.match(answer.body, new RegExp(`(the app did not answer within ${TIMEOUT_S} s|its worker has not answered for longer than the app's timeout \\(${TIMEOUT_S} s\\) and is being replaced): its worker's event loop has not answered for `), answer.body);
  assert.match(answer.body, `the request it had held longest then: GET /hz/block?${BLOCK_S}. A blocking call in an async function holds the loop: run sync code with loop.run_in_executor`);
  // Silent past the timeout: replaced (uvicorn would leave it; gunicorn's arbiter kills it).
  await waitFor(() => new RegExp(`hz: recycling worker ${held}: it has not answered the heartbeat within the app's timeout \\(${TIMEOUT_S} s\\), with 1 request in it: its event loop is held \\(a blocking call in an async function`).test(gw.output()), 5000, 'the line saying the held worker is recycled');
  const serving = new Set<number>();
  await waitFor(async () => {
    serving.add(Number((await get('/pid')).body));
    return serving.size === 2;
  }, 10_000, 'two workers answering');
  assert.not.ok(serving.has(held), `${held} took no request after its recycle; served by ${[...serving]}`);
  await waitFor(() => !isAlive(held), 15_000, `the held worker ${held} gone`);
  for (const pid of serving) pids.add(pid);
  assert.not.match(gw.output(), `hz: worker ${held} answers again`, `a recycled worker is not said to take requests again:\n${gw.output()}`);
});

test('R2.7c a loop held for less than the app\'s timeout: the worker answers again and serves on', async () => {
  const from = gw.output().length;
  const blocked = get('/block?1.5');
  const silent = await waitFor(() => /hz: worker (\d+) has not answered the heartbeat/.exec(gw.output().slice(from)), 5000, 'the line saying the worker is silent');
  const held = Number(silent[1]);
  assert.is((await blocked).status, 200);
  await waitFor(() => gw.output().slice(from).includes(`hz: worker ${held} answers again after `), 5000, 'the line saying it answers again');
  await waitFor(async () => Number((await get('/pid')).body) === held, 10_000, 'the worker whose loop was held serving again');
  assert.not.match(gw.output().slice(from), 'recycling', 'no recycle');
});

test('R2.7d a stream whose loop is held after its head past the timeout: its worker is replaced, the stream cut', async () => {
  const pid = Number((await get('/pid', 'st')).body);
  pids.add(pid);
  const from = gw.output().length;
  const res = await request(`${gw.url}/st/stream-block?30`, { headersTimeout: 5000 });
  assert.is(res.statusCode, 200);
  const body = res.body.text().then((text) => text, (err: Error) => `cut: ${err.message}`);
  // No 504 is left to give, nor does its timeout judge a request whose head is out: without the
  // silence's own bound the worker stayed held for the whole 30 s.
  await waitFor(() => new RegExp(`st: recycling worker ${pid}: it has not answered the heartbeat within the app's timeout \\(1 s\\), with 1 request in it: its event loop is held`).test(gw.output().slice(from)), 5000, () => `the line saying the held worker is recycled, in:\n${gw.output().slice(from)}`);
  const next = await waitFor(async () => {
    const answer = await get('/pid', 'st');
    return answer.status === 200 && Number(answer.body) !== pid && Number(answer.body);
  }, 10_000, 'the replacement serving');
  pids.add(next);
  // Stopped with the grace (the drain's, then its cancel's bound), the loop still held: killed.
  await waitFor(() => !isAlive(pid), 15_000, `the held worker ${pid} gone`);
  const text = await within(5000, 'the stream\'s end', body);
  assert.not.match(text, 'done', 'the held stream never finished');
});

test('R2.7d a worker replaced for its silence: the requests on it without a head are answered 504 at once, not at its drain\'s end', async () => {
  const pid = Number((await get('/pid', 'up')).body);
  pids.add(pid);
  const from = gw.output().length;
  const blocked = get('/block?20', 'up');
  await new Promise((resolve) => setTimeout(resolve, 100));
  // Sent before the silence is seen (a beat of 300 ms), so to the held worker, whichever of the
  // two holds its loop: its clock kept young by its body, it had a 502 when the drain killed
  // the worker, 2 s + 5 s after the recycle.
  let aliveAtAnswer: boolean | null = null;
  const answer = await tricklingPost(Number(new URL(gw.url).port), '/up/block?20', () => (aliveAtAnswer = isAlive(pid)));
  assert.match(gw.output().slice(from), new RegExp(`up: recycling worker ${pid}: it has not answered the heartbeat within the app's timeout \\(2 s\\)`));
  assert.match(answer, /^HTTP\/1\.1 504 /, answer);
  assert.match(answer, 'its worker has not answered for longer than the app\'s timeout (2 s) and is being replaced: its worker\'s event loop has not answered for ');
  assert.ok(aliveAtAnswer === true, 'answered while the held worker was still there (its drain not over)');
  assert.is((await blocked).status, 504);
  const next = await waitFor(async () => {
    const answer = await get('/pid', 'up');
    return answer.status === 200 && Number(answer.body) !== pid && Number(answer.body);
  }, 10_000, 'the replacement serving');
  pids.add(next);
  await waitFor(() => !isAlive(pid), 15_000, `the held worker ${pid} gone`);
});

test('R2.7d a WSGI worker whose one thread runs a handler past the timeout, its head out, is not silent and serves on', async () => {
  const pid = Number((await get('/pid', 'th')).body);
  pids.add(pid);
  const from = gw.output().length;
  const answer = await get('/slow-stream?t=3', 'th');
  assert.is(answer.status, 200);
  assert.is(answer.body, 'begun\ndone\n');
  assert.is(Number((await get('/pid', 'th')).body), pid, 'the same worker');
  assert.not.match(gw.output().slice(from), /th: (worker \d+ has not answered|recycling)/, 'its monitor answered the heartbeat');
});

test('R2.7c with one worker, a request waits in the app\'s queue while its loop is held, and is served when it answers', async () => {
  const pid = Number((await get('/pid', 'one')).body);
  pids.add(pid);
  // The loop is held until the test lets it go: a 3 s sleep could end, on a loaded host, before the
  // look at /status that must see the next request waiting.
  const release = join(work.path, 'release-one');
  const blocked = get(`/block-until?${encodeURIComponent(release)}`, 'one');
  await waitFor(() => gw.output().includes(`one: worker ${pid} has not answered the heartbeat`), 5000, 'the line saying the worker is silent');
  const waiting = get('/pid', 'one');
  await waitFor(async () => (await appStatus(gw, 'one')).queued === 1, 10_000, 'the request waiting in the app\'s queue');
  assert.is((await appStatus(gw, 'one')).workers[0].inFlight, 1, 'only the held request is in the worker');
  writeFileSync(release, '');
  assert.is((await blocked).status, 200);
  const answer = await waiting;
  assert.is(answer.status, 200, answer.body);
  assert.is(Number(answer.body), pid);
});

test('R2.7c with one worker and queue: 0, a request while its loop is held: 503, the app busy; served once it answers', async () => {
  const pid = Number((await get('/pid', 'nq')).body);
  pids.add(pid);
  const blocked = get('/block?3', 'nq');
  await waitFor(() => gw.output().includes(`nq: worker ${pid} has not answered the heartbeat`), 5000, 'the line saying the worker is silent');
  const refused = await get('/pid', 'nq');
  assert.is(refused.status, 503, refused.body);
  assert.match(refused.body, /nq is busy; try again/);
  assert.is((await blocked).status, 200);
  const answer = await get('/pid', 'nq');
  assert.is(answer.status, 200, answer.body);
  assert.is(Number(answer.body), pid);
});

test.run();
