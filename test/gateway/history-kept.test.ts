// An app's history (SPEC 5.4: switched, refused and why, rolled back) outlives a restart of the
// gateway: kept in STATE/apps/NAME/history.json, written at most once a second, read at the next
// start; a file that cannot be used is said in the log and the app serves.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { appendFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, watch, writeFileSync, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage, writePackage } from '../helpers/apps-dir.js';
import { appStatus, gatewayStatus, statusPids, stopGatewayChecked } from '../helpers/status.js';
import { assertNoOrphans, runCli, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';

const test = suite('gateway history kept');

interface Env {
  apps: ReturnType<typeof tempDir>;
  state: ReturnType<typeof tempDir>;
  gateways: RunningGateway[];
  watchers: FSWatcher[];
}
const opened: Env[] = [];

function open(): Env {
  const env: Env = { apps: tempDir('apppkg-history-apps-'), state: tempDir('apppkg-history-state-'), gateways: [], watchers: [] };
  opened.push(env);
  return env;
}

async function start(env: Env, extra: string[] = []): Promise<RunningGateway> {
  const gw = await startCli(['--apps', env.apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', env.state.path, '--access-log', 'off', ...extra]);
  env.gateways.push(gw);
  return gw;
}

test.after(async () => {
  for (const env of opened) {
    for (const w of env.watchers) w.close();
    for (const gw of env.gateways) await stopGatewayChecked(gw);
    env.apps.remove();
    env.state.remove();
  }
});

/** Stops `gw` and checks that the processes its status named are gone; its exit status. */
async function stopChecked(gw: RunningGateway): Promise<number | null> {
  const pids = statusPids(await gatewayStatus(gw));
  const code = await gw.stop();
  await assertNoOrphans(pids);
  return code;
}

const version = (v: string) => ({ 'environ_app.py': [[/VERSION = "1"/, `VERSION = "${v}"`]] as [RegExp, string][] });
const historyFileOf = (env: Env, name: string) => join(env.state.path, 'apps', name, 'history.json');
const fileEvents = (file: string): any[] => JSON.parse(readFileSync(file, 'utf8')).events;
test('a refused version is still in the history, with its reason, after the gateway is stopped and started again', async () => {
  const env = open();
  addPackage(env.apps.path, 'environ', 'blog.1.0', version('1.0'));
  const first = await start(env);
  await waitFor(async () => ((await appStatus(first, 'blog')).state === 'ready' ? true : null), 30_000, 'blog 1.0 to serve');
  const failing = addPackage(env.apps.path, 'environ', 'blog.2.0', version('2.0'));
  writeFileSync(join(failing, 'app.yaml'), `${readFileSync(join(failing, 'app.yaml'), 'utf8')}commands:\n  update: echo migrating; exit 3\n`);
  const before = await waitFor(async () => {
    const app = await appStatus(first, 'blog');
    return app.history.some((e: any) => e.kind === 'refused') ? app.history : null;
  }, 30_000, 'the refusal in the history');
  assert.is(await stopChecked(first), 0);

  const file = historyFileOf(env, 'blog');
  assert.is(statSync(file).mode & 0o777, 0o600, 'it holds tracebacks and app output: the gateway\'s alone');
  const written = fileEvents(file);
  // The file keeps the refusal's output too; /status shows it here, since the app runs as the
  // gateway's own user (root's too: docs/admin.md "Who may do what").
  assert.equal(written.find((e: any) => e.kind === 'refused').reason.tail, ['migrating']);
  assert.equal(written, before, 'the file holds the history as status showed it at the stop');
  // Taken out overnight: the next start does not refuse it again, and still tells why it was.
  rmSync(failing, { recursive: true });
  const second = await start(env);
  const after = await waitFor(async () => {
    const app = await appStatus(second, 'blog');
    return app?.state === 'ready' && app.history.at(-1)?.kind === 'serving' ? app.history : null;
  }, 30_000, 'blog 1.0 serving again');
  assert.equal(after.slice(0, before.length), before, 'the earlier events, as they were (their times too)');
  const refused = after.find((e: any) => e.kind === 'refused');
  assert.is(refused.version, '2.0');
  assert.is(refused.reason.code, 'APPPKG_COMMAND_FAILED');
  assert.match(refused.reason.message, /commands\.update.*exited with status 3/);
  assert.equal(after.slice(before.length).map((e: any) => e.kind), ['serving'], 'the start itself adds nothing but what happened: 1.0 serving');
  assert.not.match(second.output(), /history/, 'a good file is read without a word');
  assert.is(await stopChecked(second), 0);

  // `uninstall` removes it with the app's other state.
  const removed = await runCli(['uninstall', join(env.apps.path, 'blog.1.0'), '--yes', '--state-dir', env.state.path]);
  assert.is(removed.status, 0, removed.stderr);
  assert.not.ok(existsSync(file));
});

test('an app whose directory went away keeps its history file; back, its history goes on from `removed`', async () => {
  const env = open();
  const dir = addPackage(env.apps.path, 'environ', 'blog.1.0', version('1.0'));
  const gw = await start(env, ['--settle', '0']);
  await waitFor(async () => ((await appStatus(gw, 'blog'))?.state === 'ready' ? true : null), 30_000, 'blog to serve');
  const aside = join(env.state.path, 'blog.1.0-aside');
  // A rename, not a copy: the package comes back as it was.
  renameSync(dir, aside);
  const file = historyFileOf(env, 'blog');
  await waitFor(() => (existsSync(file) && fileEvents(file).some((e: any) => e.kind === 'removed') ? true : null), 30_000, 'the removed event in the file');
  await waitFor(async () => ((await appStatus(gw, 'blog')) === undefined ? true : null), 30_000, 'blog to leave status');
  renameSync(aside, dir);
  const history = await waitFor(async () => {
    const app = await appStatus(gw, 'blog');
    return app?.state === 'ready' && app.history.at(-1)?.kind === 'serving' ? app.history : null;
  }, 30_000, 'blog serving again');
  assert.equal(history.map((e: any) => e.kind), ['serving', 'removed', 'serving']);
});

/**
 * An app whose import, once the test has written GATE/hold, blocks in the first worker that
 * takes it until GATE/release exists; /hold answers once GATE/let-go exists. Cues, not times.
 */
const gatedApp = (gate: string) => `import os, time

GATE = ${JSON.stringify(gate)}


def wait_for(name):
    for _ in range(1200):
        if os.path.exists(os.path.join(GATE, name)):
            return
        time.sleep(0.05)


try:
    os.rename(os.path.join(GATE, "hold"), os.path.join(GATE, "hold.taken"))
except OSError:
    pass
else:
    wait_for("release")


def application(environ, start_response):
    if environ["PATH_INFO"] == "/hold":
        wait_for("let-go")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok\\n"]
`;

// The new app's history was the old copy's object: what the old copy did after its removal (a
// restart it had under way, finishing) landed in the history of the app added again.
test('an app removed and added again while its old copy drains: the old copy\'s later events stay out of the new app\'s history and file', async () => {
  const env = open();
  const gate = join(env.state.path, 'gate');
  mkdirSync(gate);
  const dir = join(env.apps.path, 'blog');
  writePackage(env.apps.path, 'blog', { 'app.yaml': 'platform: python, wsgi\napp: app:application\n', 'app.py': gatedApp(gate) });
  // One worker: the restart's one import is the one held at the gate, and the restart's end is its.
  const environment = join(env.state.path, 'environment.yaml');
  writeFileSync(environment, 'apps:\n  blog:\n    workers: 1\n');
  const gw = await start(env, ['--settle', '0', '--watch-interval', '0.3', '--environment', environment]);
  const pids = new Set<number>();
  const kinds = async () => {
    const app = await appStatus(gw, 'blog');
    for (const w of app?.workers ?? []) if (w.pid) pids.add(w.pid);
    return app?.history.map((e: any) => e.kind);
  };
  await waitFor(async () => ((await appStatus(gw, 'blog'))?.state === 'ready' ? true : null), 30_000, 'blog to serve');
  await kinds();
  // A request the old copy holds: it drains until the test lets it go, and is not released meanwhile.
  // Caught here: a failure below stops the gateway under them, and uvu must report that one.
  const held = request(`${gw.url}/blog/hold`, { headersTimeout: 60_000 }).then((r) => r.body.text().then(() => r.statusCode), (err: Error) => err.message);
  await waitFor(async () => ((await appStatus(gw, 'blog'))?.inFlight === 1 ? true : null), 10_000, 'the held request');
  // A restart in place (its app.yaml edited) whose fresh workers cannot finish importing yet:
  // it ends after the app is back.
  writeFileSync(join(gate, 'hold'), '');
  appendFileSync(join(dir, 'app.yaml'), '# edited: a restart in place\n');
  await waitFor(() => (existsSync(join(gate, 'hold.taken')) ? true : null), 30_000, () => `the restart's import to block\n${gw.output()}`);
  const aside = join(env.state.path, 'blog-aside');
  renameSync(dir, aside);
  await waitFor(() => (gw.output().includes('blog: removed; stopping it') ? true : null), 30_000, 'the removal');
  renameSync(aside, dir);
  await waitFor(async () => {
    const app = await appStatus(gw, 'blog');
    return app?.state === 'ready' && app.history.at(-1)?.kind === 'serving' ? true : null;
  }, 30_000, 'blog added again and serving');
  assert.equal(await kinds(), ['serving', 'removed', 'serving']);
  writeFileSync(join(gate, 'let-go'), '');
  assert.is(await held, 200);
  // The old copy's restart ends now: an event of the removed app, not of this one.
  writeFileSync(join(gate, 'release'), '');
  await waitFor(() => (/blog: \S+ restarted; draining the old one/.test(gw.output()) ? true : null), 30_000, () => `the old copy's restart to end\n${gw.output()}`);
  assert.equal(await kinds(), ['serving', 'removed', 'serving'], 'the new app\'s history');
  await kinds();
  await stopChecked(gw);
  await assertNoOrphans([...pids]);
  assert.equal(fileEvents(historyFileOf(env, 'blog')).map((e: any) => e.kind), ['serving', 'removed', 'serving'], 'the file, written at the stop');
});

// Its workers serve until the test creates data/crash; then each dies within 50 ms, and every
// worker started after dies as soon as it has imported: a crash loop that begins with a burst.
const CRASH_ON_CUE = `import os, threading, time

CUE = os.path.join(os.environ["APPPKG_DATA_DIR"], "crash")


def die_on_cue():
    while not os.path.exists(CUE):
        time.sleep(0.05)
    os._exit(1)


threading.Thread(target=die_on_cue, daemon=True).start()


def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"alive for now\\n"]
`;

test('a crash loop writes its history file about once a second, not at each exit, and the stop writes what is pending', async () => {
  const env = open();
  writePackage(env.apps.path, 'flaky', { 'app.yaml': 'platform: python, wsgi\napp: cue:application\n', 'cue.py': CRASH_ON_CUE });
  const environment = join(env.state.path, 'environment.yaml');
  writeFileSync(environment, 'apps:\n  flaky:\n    workers: 6\n    threads: 1\n', { mode: 0o600 });
  const gw = await start(env, ['--environment', environment]);
  await waitFor(async () => ((await appStatus(gw, 'flaky')).state === 'ready' ? true : null), 30_000, 'flaky to serve');
  // Each write renames a new file over history.json: inotify reports every one, however close.
  const appState = join(env.state.path, 'apps', 'flaky');
  let writes = 0;
  let sentinel = false;
  env.watchers.push(watch(appState, (_event, name) => {
    if (name === 'history.json') writes++;
    if (name === 'sentinel') sentinel = true;
  }));
  const began = performance.now();
  writeFileSync(join(appState, 'data', 'crash'), '');
  const exits = (history: any[]) => history.filter((e: any) => e.kind === 'exited').reduce((n: number, e: any) => n + e.times, 0);
  const last = await waitFor(async () => {
    const app = await appStatus(gw, 'flaky');
    return exits(app.history) >= 8 ? app.history : null;
  }, 60_000, '8 exits of flaky\'s workers');
  assert.is(await stopChecked(gw), 0);
  const seconds = (performance.now() - began) / 1000;
  // inotify reports in order: once a file made now is seen, every write before it was counted.
  writeFileSync(join(appState, 'sentinel'), '');
  await waitFor(() => sentinel || null, 10_000, 'the watcher to catch up');
  const events = exits(last);
  // Alike but for their pids and back-offs, the exits are counted in a few events, not one each.
  const exitEvents = last.filter((e: any) => e.kind === 'exited').length;
  assert.ok(exitEvents <= 2, `${exitEvents} events for ${events} exits: ${JSON.stringify(last)}`);
  assert.ok(writes >= 1, 'written at all');
  // Six exits within 50 ms and the restarts' after: one write each, before.
  assert.ok(writes < events, `${writes} writes for ${events} exits`);
  // At most one a second, and the stop's: a bound a slow machine only loosens.
  assert.ok(writes <= Math.floor(seconds) + 2, `${writes} writes in ${seconds.toFixed(1)} s for ${events} exits`);
  // Everything status showed before the stop is in the file, the events of the last second too.
  const kept = fileEvents(join(appState, 'history.json'));
  for (const e of last) assert.ok(kept.some((k: any) => k.at === e.at && k.kind === e.kind && k.message === e.message), `${e.kind} at ${e.at} in the file`);
  assert.ok(exits(kept) >= events);
});

test('a history file that is garbage, or from a newer gateway, is said in the log and left: the app serves, its history starts afresh', async () => {
  const env = open();
  addPackage(env.apps.path, 'environ', 'blog.1.0', version('1.0'));
  addPackage(env.apps.path, 'environ', 'shop.1.0', version('1.0'));
  for (const name of ['blog', 'shop']) mkdirSync(join(env.state.path, 'apps', name), { recursive: true });
  writeFileSync(historyFileOf(env, 'blog'), '{"format": 1, "events": [{"at": "yesterday", "kind"');
  writeFileSync(historyFileOf(env, 'shop'), '{"format": 2, "events": [{"kind": "teleported"}]}\n');
  const gw = await start(env);
  for (const name of ['blog', 'shop']) {
    const res = await request(`${gw.url}/${name}/`);
    await res.body.text();
    assert.is(res.statusCode, 200, `${name} serves`);
  }
  const output = gw.output();
  const blogLine = output.split('\n').find((l) => l.includes(historyFileOf(env, 'blog')));
  assert.ok(blogLine, output);
  assert.match(blogLine!, /blog: its history in \S+ was not read: expected JSON \(.+\); the app's history starts empty, and the file is replaced at its next event$/);
  const shopLine = output.split('\n').find((l) => l.includes(historyFileOf(env, 'shop')));
  assert.ok(shopLine, output);
  assert.match(shopLine!, /expected format 1, found format 2 \(written by a newer apppkg-gateway\)/);
  assert.is(output.split('\n').filter((l) => l.includes('history.json')).length, 2, 'one line each');
  for (const name of ['blog', 'shop']) {
    assert.equal((await appStatus(gw, name)).history.map((e: any) => e.kind), ['serving']);
    // Replaced at its next event by what the app's history now is.
    await waitFor(() => {
      try {
        return fileEvents(historyFileOf(env, name)).length === 1 ? true : null;
      } catch {
        return null;
      }
    }, 10_000, `${name}'s file replaced`);
  }
});

test.run();
