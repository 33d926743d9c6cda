// A hook's Python writes as it goes (PYTHONUNBUFFERED, as the workers have it): its output,
// piped to the CLI's caller or to the app log, was block-buffered, so it came at the hook's end
// and was lost when the hook was killed. Each hook here prints a line and is then killed
// (SIGKILL, as a timeout's or the OOM killer's): the line must have reached its reader.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, startCli, tempDir, waitFor } from '../helpers/process.js';
import { makeApp } from './lifecycle-apps.js';

const test = suite('hooks: their output is not buffered');
const work = tempDir('apppkg-hook-output-');
const state = tempDir('apppkg-hook-output-state-');

/** Not from the caller's shell either (a developer's may export it), or the test cannot fail. */
const BUFFERED = { env: { PYTHONUNBUFFERED: undefined } };

/**
 * A shell line: Python prints `words`, then kills itself before it could flush a buffer. The
 * words are joined by Python: the hook's command line, echoed before it runs, must not hold them.
 */
const saysThenDies = (words: string): string => `python -c "import os, signal; print(' '.join(['${words.split(' ').join("', '")}'])); os.kill(os.getpid(), signal.SIGKILL)"`;

test.after(() => {
  work.remove();
  state.remove();
});

test('install: commands.install said what it did before it was killed', async () => {
  const app = makeApp(work.path, 'notes', `app: wsgi:application\ncommands:\n  install: ${saysThenDies('install got this far')}\n`);
  const r = await runCli(['install', app, '--state-dir', state.path], { ...BUFFERED, ms: 60_000 });
  assert.is.not(r.status, 0, 'the killed hook fails the install');
  assert.match(r.stdout + r.stderr, /install got this far/);
});

test('backup: commands.backup said what it did before it was killed', async () => {
  const app = makeApp(work.path, 'diary', `app: wsgi:application\ncommands:\n  backup: ${saysThenDies('backup got this far')}\n`);
  const r = await runCli(['backup', app, '--to', join(work.path, 'diary-backup'), '--state-dir', state.path], { ...BUFFERED, ms: 60_000 });
  assert.is.not(r.status, 0, 'the killed hook fails the backup');
  assert.match(r.stdout + r.stderr, /backup got this far/);
});

test('update under --apps: commands.update said what it did, in the app log, before it was killed', async () => {
  const apps = join(work.path, 'apps');
  mkdirSync(apps);
  makeApp(apps, 'blog.1', 'app: wsgi:application\n');
  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, '--access-log', 'off', '--settle', '0.3', '--watch-interval', '0.2'], { ...BUFFERED, ms: 60_000 });
  try {
    await waitFor(() => /blog: .* serving at \/blog/.test(gw.output()), 60_000, () => `blog.1 serving:\n${gw.output()}`);
    makeApp(apps, 'blog.2', `app: wsgi:application\ncommands:\n  update: ${saysThenDies('update got this far')}\n`);
    await waitFor(() => /blog: version 2 refused/.test(gw.output()), 60_000, () => `blog.2's update to fail:\n${gw.output()}`);
    const log = join(state.path, 'apps', 'blog', 'log', 'app.log');
    await waitFor(() => existsSync(log) && /update got this far/.test(readFileSync(log, 'utf8')), 5_000, () => `the hook's line in ${log}:\n${existsSync(log) ? readFileSync(log, 'utf8') : '(none)'}`);
  } finally {
    await gw.stop();
  }
});

test.run();
