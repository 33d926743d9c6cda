// `uninstall`: asks on a terminal (not with --yes), goes ahead without one, runs commands.uninstall,
// then removes everything of the app under the state root and nothing of the app directory.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { EXAMPLES, runCli, startCli, tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { hasProgram, makeApp, makeWheel, runCliAs } from './lifecycle-apps.js';

const test = suite('lifecycle: uninstall');
const ifScript = runIf(test, hasProgram('script'), 'needs script(1) (bsdutils) to give uninstall a terminal');
const work = tempDir('apppkg-uninstall-work-');
const state = tempDir('apppkg-uninstall-state-');
test.after(() => {
  work.remove();
  state.remove();
});

const S = ['--state-dir', state.path];
const appState = join(state.path, 'apps', 'leaving');
let app: string;

function listTree(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

test.before(async () => {
  app = makeApp(
    work.path,
    'leaving',
    [
      'app: wsgi:application',
      'pip: requirements.txt',
      'commands:',
      // Proves the hook ran, in the app's environment, before the data went.
      '  uninstall: cp "$APPPKG_DATA_DIR/notes.txt" "$APPPKG_APP_DIR/../farewell.txt"',
      '',
    ].join('\n'),
  );
  makeWheel(app, 'thepkg', '1.0');
  writeFileSync(join(app, 'requirements.txt'), 'thepkg==1.0\n');
  const r = await runCli(['install', app, ...S], { ms: 120_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  const w = await runCli(['run', app, ...S, '--', 'sh', '-c', 'echo bye > "$APPPKG_DATA_DIR/notes.txt" && echo log > "$APPPKG_LOG_DIR/x.log"']);
  assert.is(w.status, 0, w.stderr);
});

ifScript('on a terminal it asks; anything but y keeps everything', async () => {
  const r = await runCliAs(['uninstall', app, ...S], { tty: true, input: 'n\n' });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /remove the data, logs, tmp and virtualenv of leaving\? \[y\/N\]/);
  assert.match(r.stdout, /not confirmed: the answer was not "y"/);
  assert.ok(existsSync(join(appState, 'data', 'notes.txt')));
});

test('a failing commands.uninstall exits 1 naming the hook; nothing removed', async () => {
  const failing = makeApp(work.path, 'stubborn', 'app: wsgi:application\ncommands:\n  uninstall: exit 5\n');
  assert.is((await runCli(['run', failing, ...S, '--', 'true'])).status, 0);
  const r = await runCli(['uninstall', failing, '--yes', ...S]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /commands\.uninstall \(exit 5\) exited with status 5/);
  assert.ok(existsSync(join(state.path, 'apps', 'stubborn', 'data')));
});

test('uninstall APP_DIR without a terminal (a script, as SPEC 3 writes it) runs the hook, removes everything of the app under the state root, keeps the app directory', async () => {
  const before = listTree(app);
  const r = await runCli(['uninstall', app, ...S]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /==> commands\.uninstall: cp/);
  assert.match(r.stdout, /==> removed .*leaving/);
  assert.is(readFileSync(join(work.path, 'farewell.txt'), 'utf8'), 'bye\n');
  assert.not.ok(existsSync(appState), 'the app state directory is gone');
  assert.equal(readdirSync(join(state.path, 'apps')).filter((e) => e.startsWith('leaving')), []);
  assert.equal(listTree(app), before);
  // Nothing left to remove is not an error, and the hook does not run again.
  const again = await runCli(['uninstall', app, '--yes', ...S]);
  assert.is(again.status, 0, again.stderr);
  assert.match(again.stdout, /nothing to remove/);
  assert.not.match(again.stdout, /commands\.uninstall/);
});

ifScript('on a terminal, y removes it', async () => {
  const other = makeApp(work.path, 'agreeable', 'app: wsgi:application\n');
  assert.is((await runCli(['run', other, ...S, '--', 'true'])).status, 0);
  const r = await runCliAs(['uninstall', other, ...S], { tty: true, input: 'y\n' });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.not.ok(existsSync(join(state.path, 'apps', 'agreeable')));
  assert.ok(existsSync(join(other, 'app.yaml')));
});

test('uninstall without APP_DIR is bad usage', async () => {
  const r = await runCli(['uninstall', '--yes', ...S]);
  assert.is(r.status, 2);
});

// One serve for both refusals: neither changes the state it refuses to touch.
test('an app that is running (here under serve) is not uninstalled: exit 1 naming its pids and what to do; its state stays; nor is one restored: its data swapped underneath it would lose every write after (it keeps the old one open)', async () => {
  const served = tempDir('apppkg-uninstall-served-');
  const backup = join(served.path, 'backup');
  assert.is((await runCli(['backup', join(EXAMPLES, 'hello'), '--to', backup, '--state-dir', served.path])).status, 0);
  const gw = await startCli(['serve', join(EXAMPLES, 'hello'), '--port', '0', '--state-dir', served.path]);
  try {
    const r = await runCli(['uninstall', join(EXAMPLES, 'hello'), '--yes', '--state-dir', served.path]);
    assert.is(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /hello is running \(pids \d+/);
    assert.match(r.stderr, /fix: stop it first/);
    assert.ok(existsSync(join(served.path, 'apps', 'hello', 'data')), 'its data is still there');

    const restore = await runCli(['restore', join(EXAMPLES, 'hello'), '--from', backup, '--state-dir', served.path]);
    assert.is(restore.status, 1, restore.stdout + restore.stderr);
    assert.match(restore.stderr, /hello is running \(pids \d+[^)]*\): restore would replace its state underneath it/);
    assert.match(restore.stderr, /fix: stop it first/);
  } finally {
    await gw.stop();
  }
  const restored = await runCli(['restore', join(EXAMPLES, 'hello'), '--from', backup, '--state-dir', served.path]);
  assert.is(restored.status, 0, 'once stopped, it is restored: ' + restored.stderr);
  const after = await runCli(['uninstall', join(EXAMPLES, 'hello'), '--yes', '--state-dir', served.path]);
  assert.is(after.status, 0, 'once stopped, it goes: ' + after.stderr);
  served.remove();
});

test.run();
