// An app's history file (supervisor/history-file.ts, history-writer.ts, app-histories.ts) on a
// real disk: what is read back, what is refused and said, when it is written.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppHistory, KEPT_EVENTS } from '../../src/supervisor/app-history.js';
import { AppHistories } from '../../src/supervisor/app-histories.js';
import { historyFile, readHistoryFile, writeHistoryFile } from '../../src/supervisor/history-file.js';
import { HistoryWriter } from '../../src/supervisor/history-writer.js';
import { tempDir, waitFor } from '../helpers/process.js';

const test = suite('history file');
const state = tempDir('apppkg-history-file-');
test.after(() => state.remove());

let n = 0;
/** A file in an app's state directory of its own. */
function appFile(): string {
  const dir = join(state.path, 'apps', `app${++n}`);
  mkdirSync(dir, { recursive: true });
  return join(dir, 'history.json');
}

const refusal = { code: 'APPPKG_COMMAND_FAILED', message: 'commands.update (migrate) exited with status 3', hint: 'read its output in app.log', log: '/x/app.log', tail: ['Traceback', 'KeyError: x'] };

test('what is written is read back as it was, 0600, and a missing file is an empty history', async () => {
  const file = appFile();
  assert.equal(readHistoryFile(file), { events: [], problem: null });
  const history = new AppHistory();
  history.add('serving', 'version 1.0 serving at /blog', { version: '1.0' });
  history.add('refused', 'version 2.0 refused', { version: '2.0', reason: refusal, repeat: true });
  history.add('refused', 'version 2.0 refused', { version: '2.0', reason: refusal, repeat: true });
  await writeHistoryFile(file, history.list());
  assert.is(statSync(file).mode & 0o777, 0o600);
  const read = readHistoryFile(file);
  assert.is(read.problem, null);
  assert.equal(read.events, history.list());
  assert.is(read.events[1].times, 2);
  // Its `at` stays the first time: the event is shown as it was.
  assert.equal(new AppHistory(read.events).list(), history.list());
});

test('a file that is not the gateway\'s history is refused with what was expected and found', () => {
  const cases: Array<[string, RegExp]> = [
    ['', /^expected JSON, found an empty file$/],
    ['{"format": 1, "events": [', /^expected JSON \(.+\)$/],
    ['[1, 2]', /^expected \{"format": 1, "events": \[\.\.\.\]\}, found JSON of another shape$/],
    ['{"format": 2, "events": []}', /^expected format 1, found format 2 \(written by a newer apppkg-gateway\)$/],
    ['{"format": 1, "events": {}}', /^expected "events" to be a list$/],
    ['{"format": 1, "events": [{"at": "x", "kind": "teleported", "version": null, "from": null, "message": "", "reason": null, "times": 1, "lastAt": null}]}', /^expected events\[0\] to be a history event .*teleported/],
    ['{"format": 1, "events": [{"at": "x", "kind": "refused", "version": null, "from": null, "message": "", "reason": {"code": 1}, "times": 1, "lastAt": null}]}', /^expected events\[0\] to be a history event/],
  ];
  for (const [text, problem] of cases) {
    const file = appFile();
    writeFileSync(file, text);
    const read = readHistoryFile(file);
    assert.equal(read.events, [], text);
    assert.match(String(read.problem), problem, text);
  }
  const dir = appFile();
  mkdirSync(dir);
  assert.match(String(readHistoryFile(dir).problem), /^it cannot be read \(EISDIR/);
});

test('more events than are kept: the newest 50', async () => {
  const file = appFile();
  const history = new AppHistory();
  for (let i = 0; i < KEPT_EVENTS; i++) history.add('exited', `worker ${i} exited`);
  const events = history.list();
  const older = events.map((e, i) => ({ ...e, message: `earlier ${i}` }));
  await writeHistoryFile(file, [...older, ...events]);
  assert.equal(new AppHistory(readHistoryFile(file).events).list(), events);
});

test('exits alike (a crash loop: pids and back-offs apart) add to one event, its first message kept; another event between starts anew', () => {
  const history = new AppHistory();
  const exit = (pid: number, ms: number, loop = '') => {
    const what = `worker ${pid} exited (status 1); restarting in ${ms} ms${loop}`;
    history.add('exited', what, { version: '1.0', alike: what.replace(/\d+/g, '#') });
  };
  history.add('refused', 'version 2.0 refused', { version: '2.0' });
  for (let i = 0; i < 60; i++) exit(1000 + i, 100 * 2 ** Math.min(i, 8));
  for (let i = 0; i < 60; i++) exit(2000 + i, 30000, ' (crash loop)');
  history.add('restarted', 'restarted by the admin', { version: '1.0' });
  exit(3000, 100);
  assert.equal(history.list().map((e) => [e.kind, e.times, e.message]), [
    ['refused', 1, 'version 2.0 refused'],
    ['exited', 60, 'worker 1000 exited (status 1); restarting in 100 ms'],
    ['exited', 60, 'worker 2000 exited (status 1); restarting in 30000 ms (crash loop)'],
    ['restarted', 1, 'restarted by the admin'],
    ['exited', 1, 'worker 3000 exited (status 1); restarting in 100 ms'],
  ]);
  // Read back from a file, the newest is not added to: its `alike` was not kept.
  const again = new AppHistory(history.list());
  again.add('exited', 'worker 3001 exited (status 1); restarting in 200 ms', { version: '1.0', alike: 'worker # exited (status #); restarting in # ms' });
  assert.is(again.list().length, 6);
});

test('a burst of events is one write now and one a second later; close() writes what is pending at once, then nothing more', async () => {
  const file = appFile();
  let writer: HistoryWriter | null = null;
  const history = new AppHistory([], () => writer?.changed());
  writer = new HistoryWriter({ app: 'blog', file, events: () => history.list(), say: (line) => assert.unreachable(line) });
  history.add('serving', 'version 1.0 serving at /blog', { version: '1.0' });
  const first = await waitFor(() => (existsSync(file) ? statSync(file).ino : null), 5000, 'the first write');
  for (let i = 0; i < 10; i++) history.add('exited', `worker ${i} exited`);
  // Within the second of the first write: pending, not written yet.
  assert.is(statSync(file).ino, first);
  assert.is(JSON.parse(readFileSync(file, 'utf8')).events.length, 1);
  await writer.close();
  assert.equal(readHistoryFile(file).events, history.list(), 'every event, written by close()');
  const closed = statSync(file).ino;
  history.add('removed', 'its directory went away');
  await new Promise((resolve) => setTimeout(resolve, 1200));
  assert.is(statSync(file).ino, closed, 'nothing written after close()');
});

test('AppHistories: a bad file is said once with its path; an app met again before it was released goes on with its history', async () => {
  const root = tempDir('apppkg-histories-');
  try {
    mkdirSync(join(root.path, 'apps', 'blog'), { recursive: true });
    writeFileSync(historyFile(root.path, 'blog'), 'garbage');
    const said: string[] = [];
    const histories = new AppHistories({ stateDir: root.path, say: (line) => said.push(line) });
    const blog = histories.of('blog');
    assert.equal(blog.list(), []);
    assert.is(said.length, 1);
    assert.ok(said[0].startsWith(`blog: its history in ${historyFile(root.path, 'blog')} was not read: expected JSON (`), said[0]);
    blog.add('removed', 'its directory went away; stopping it');
    assert.is(histories.of('blog'), blog, 'the same history, its removed event in it');
    await histories.release('blog', () => false);
    assert.equal(readHistoryFile(historyFile(root.path, 'blog')).events.map((e) => e.kind), ['removed']);
    // Released: met again, it is read from its file.
    const again = histories.of('blog');
    assert.is.not(again, blog);
    assert.equal(again.list(), blog.list());
    // An app that never ran here has no state directory: nothing is made for it, nothing said.
    histories.of('never').add('serving', 'x');
    await histories.close();
    assert.not.ok(existsSync(join(root.path, 'apps', 'never')));
    assert.is(said.length, 1, said.join('\n'));
  } finally {
    root.remove();
  }
});

test.run();
