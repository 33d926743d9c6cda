// Server-sent events as apps send them, through the real CLI under --apps: a Flask view
// returning a generator (WSGI) and a Starlette StreamingResponse (ASGI), with a short
// `timeout`, `idle_timeout` and `drain`, so that each bound would show if it applied to a
// stream: events arrive as sent, a stream outlasts `timeout` and `idle_timeout`, a client that
// leaves closes the app's generator (and is logged 499 once, with its bytes), and a deploy keeps
// the old version's streams until its drain is over, then cuts them, saying so in the log.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { addPackage } from '../helpers/apps-dir.js';
import { startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { runIf, type Register } from '../helpers/skip.js';
import { appStatus, stopGatewayChecked } from '../helpers/status.js';

const has = (module: string): boolean => spawnSync('/usr/bin/python3', ['-c', `import ${module}`], { stdio: 'ignore', timeout: 20_000 }).status === 0;
const HAS_FLASK = has('flask');
const HAS_STARLETTE = has('starlette');

const test = suite('gateway: server-sent events');
const frameworks: Array<{ app: string; label: string; on: Register<unknown> }> = [
  { app: 'flask', label: 'Flask (WSGI)', on: runIf(test, HAS_FLASK, 'needs python3-flask (Debian: apt-get install python3-flask)') },
  { app: 'star', label: 'Starlette (ASGI)', on: runIf(test, HAS_STARLETTE, 'needs python3-starlette (Debian: apt-get install python3-starlette)') },
];
const apps = tempDir('apppkg-sse-apps-');
const state = tempDir('apppkg-sse-state-');
let gw: RunningGateway | null = null;

// timeout 1 s, idle_timeout 1 s: both far below the streams' lives; drain 3 s.
const LIMITS = '    workers: 1\n    threads: 2\n    timeout: 1\n    idle_timeout: 1\n    drain: 3\n';

test.before(async () => {
  if (!HAS_FLASK && !HAS_STARLETTE) return;
  if (HAS_FLASK) addPackage(apps.path, 'flask-sse', 'flask.1.0');
  if (HAS_STARLETTE) addPackage(apps.path, 'starlette-sse', 'star.1.0');
  const env = join(state.path, 'environment.yaml');
  writeFileSync(env, `apps:\n  flask:\n${LIMITS}  star:\n${LIMITS}`);
  gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(state.path, 'root'), '--environment', env, '--watch-interval', '0.2'], { ms: 60_000 });
});

test.after(async () => {
  await stopGatewayChecked(gw, apps, state);
});

interface Stream {
  /** Each event's data line, with when it arrived (ms since the request). */
  events: Array<{ data: string; at: number }>;
  /** How the response ended: 'end' (whole), 'aborted' (cut), with when. */
  done: Promise<{ how: 'end' | 'aborted'; at: number }>;
  leave(): void;
}

function openStream(path: string): Stream {
  const t0 = Date.now();
  const events: Stream['events'] = [];
  let leave = (): void => {};
  const done = new Promise<{ how: 'end' | 'aborted'; at: number }>((resolve, reject) => {
    const req = http.get(`${gw!.url}${path}`, (res) => {
      if (res.statusCode !== 200) reject(new Error(`${path}: ${res.statusCode}`));
      let text = '';
      res.on('data', (c: Buffer) => {
        text += c.toString();
        let end: number;
        while ((end = text.indexOf('\n\n')) >= 0) {
          events.push({ data: text.slice(0, end).replace(/^data: /, ''), at: Date.now() - t0 });
          text = text.slice(end + 2);
        }
      });
      res.on('end', () => resolve({ how: 'end', at: Date.now() - t0 }));
      res.on('aborted', () => resolve({ how: 'aborted', at: Date.now() - t0 }));
      res.on('error', () => resolve({ how: 'aborted', at: Date.now() - t0 }));
    });
    req.on('error', (err) => (req.destroyed && events.length > 0 ? resolve({ how: 'aborted', at: Date.now() - t0 }) : reject(err)));
    // Never longer than the suite's bounds: a stream a test forgot is not left open.
    req.setTimeout(30_000, () => req.destroy());
    leave = () => req.destroy();
  });
  return { events, done, leave };
}

async function text(path: string): Promise<string> {
  return (await request(`${gw!.url}${path}`)).body.text();
}

/** The access log lines (stdout) of requests whose path starts with `path`. */
function accessLines(path: string): string[] {
  return gw!.output().split('\n').filter((l) => l.includes(`"GET ${path}`));
}

/**
 * The app awake: asleep past its 1 s idle_timeout, a request that waits for its wake longer than
 * its 1 s timeout (an import on a loaded machine) is a 503 by design, which a stream's test is not about.
 */
async function awake(app: string): Promise<void> {
  await waitFor(async () => {
    const res = await request(`${gw!.url}/${app}/log`);
    await res.body.dump();
    return res.statusCode === 200;
  }, 60_000, `${app} to wake`);
}

for (const { app, label, on } of frameworks) {
  on(`${label}: events arrive as they are sent, and a stream outlasts timeout and idle_timeout`, async () => {
    await awake(app);
    const s = openStream(`/${app}/events?n=8&gap=0.4&tag=long`);
    const done = await s.done;
    assert.is(done.how, 'end');
    assert.equal(s.events.map((e) => e.data), [0, 1, 2, 3, 4, 5, 6, 7].map((i) => `long ${i}`));
    // 2.8 s from the first event to the last: gathered up until the end, they would come together.
    assert.ok(s.events[7].at - s.events[0].at > 1500, `events spread over ${s.events[7].at - s.events[0].at} ms`);
    // The line is written as the response ends, which the client may see first.
    await waitFor(() => / 200 \d+ /.test(accessLines(`/${app}/events?n=8`).join('\n')), 5000, 'the access log line, 200');
  });

  on(`${label}: a client that leaves ends the app's stream; the request leaves the in-flight count; one 499 line with its bytes`, async () => {
    await awake(app);
    const s = openStream(`/${app}/events?gap=0.2&tag=gone`);
    await waitFor(() => s.events.length >= 3, 10_000, 'three events');
    s.leave();
    // Flask: GeneratorExit at the generator's yield; Starlette: its stream task is cancelled.
    const ended = app === 'flask' ? ['GeneratorExit gone', 'finally gone'] : ['cancelled gone', 'finally gone'];
    let log = '';
    await waitFor(async () => ((log = await text(`/${app}/log`)), ended.every((l) => log.includes(l))), 10_000, () => `${ended.join(', ')} in the app's notes:\n${log}`);
    await waitFor(async () => (await appStatus(gw!, app)).inFlight === 0, 10_000, 'nothing in flight');
    await waitFor(() => accessLines(`/${app}/events?gap=0.2&tag=gone`).length > 0, 10_000, 'the access log line');
    const lines = accessLines(`/${app}/events?gap=0.2&tag=gone`);
    assert.is(lines.length, 1, lines.join('\n'));
    const m = / 499 (\d+) /.exec(lines[0]);
    assert.ok(m !== null && Number(m[1]) >= 3 * 'data: gone 0\n\n'.length, lines[0]);
  });
}

runIf(test, HAS_STARLETTE, 'needs python3-starlette (Debian: apt-get install python3-starlette)')('Starlette (ASGI): request.is_disconnected() turns true when the client leaves', async () => {
  await awake('star');
  const t0 = Date.now();
  const req = http.get(`${gw!.url}/star/poll?tag=poll`);
  req.on('error', () => {});
  let log = '';
  await waitFor(async () => ((log = await text('/star/log')), log.includes('start poll')), 10_000, 'the long poll to start');
  req.destroy();
  await waitFor(async () => ((log = await text('/star/log')), log.includes('disconnected poll')), 10_000, () => `is_disconnected() to turn true:\n${log}`);
  assert.ok(Date.now() - t0 < 10_000);
});

runIf(test, HAS_FLASK, 'needs python3-flask (Debian: apt-get install python3-flask)')('Flask (WSGI): each stream holds a thread; the request past them waits until a client leaves frees one', async () => {
  // threads: 2, workers: 1 (LIMITS): two streams hold the worker whole.
  await awake('flask');
  const streams = [openStream('/flask/events?gap=0.2&tag=t1'), openStream('/flask/events?gap=0.2&tag=t2')];
  await waitFor(() => streams.every((s) => s.events.length >= 2), 10_000, 'both streams to run');
  let answered = false;
  const next = request(`${gw!.url}/flask/version`).then(async (res) => ((answered = true), { status: res.statusCode, body: await res.body.text() }));
  await waitFor(async () => (await appStatus(gw!, 'flask')).queued === 1, 10_000, 'the request to wait for a thread');
  // Its timeout (1 s) starts when a thread takes it: waiting longer than that is no 504.
  await new Promise((r) => setTimeout(r, 1500));
  assert.is(answered, false, 'no thread was free to answer it');
  streams[0].leave();
  const got = await next;
  assert.is(got.status, 200, got.body);
  streams[1].leave();
  await waitFor(async () => (await appStatus(gw!, 'flask')).inFlight === 0, 10_000, 'nothing in flight');
});

for (const { app, label, on } of frameworks) {
  on(`${label}: a deploy keeps the old version's stream until its drain is over, then cuts it and says so, and the app's stream ends as for a client gone; new requests go to the new version`, async () => {
    await awake(app);
    const s = openStream(`/${app}/events?gap=0.3&tag=deploy`);
    await waitFor(() => s.events.length >= 2, 10_000, 'the stream to run');
    addPackage(apps.path, app === 'flask' ? 'flask-sse' : 'starlette-sse', `${app}.1.1`);
    const failures: string[] = [];
    const served: string[] = [];
    await waitFor(async () => {
      const res = await request(`${gw!.url}/${app}/version`);
      const body = await res.body.text();
      if (res.statusCode !== 200) failures.push(`${res.statusCode} ${body}`);
      else served.push(body);
      return body === `${app}.1.1`;
    }, 30_000, 'version 1.1 to serve');
    const switched = s.events.length;
    const done = await s.done;
    assert.is(failures.length, 0, failures.join('\n'));
    assert.is(done.how, 'aborted', 'cut, never made to look whole');
    assert.ok(s.events.length > switched, 'the old version streamed on after the switch');
    await waitFor(() => accessLines(`/${app}/events?gap=0.3&tag=deploy`).length > 0, 10_000, 'the access log line');
    assert.match(accessLines(`/${app}/events?gap=0.3&tag=deploy`)[0], / 444 \d+ /);
    assert.match(gw!.output(), new RegExp(`${app}: worker \\d+ has drained for 3 s; 1 request still in flight \\(a stream, a long poll\\) is cut \\(444 in the access log\\)`));
    // The app hears of the cut as of a client gone: Flask's generator is closed at its next
    // yield (GeneratorExit), Starlette's task cancelled; either way its `finally` runs.
    const ended = app === 'flask' ? ['GeneratorExit deploy', 'finally deploy'] : ['cancelled deploy', 'finally deploy'];
    let log = '';
    await waitFor(async () => ((log = await text(`/${app}/log`)), ended.every((l) => log.includes(l))), 10_000, () => `${ended.join(', ')} in the app's notes:\n${log}`);
  });
}

test.run();
