// A fix copied into a version while its slow import fails. The refusal kept the files as the
// failed start left them, the fix among them, as the refused ones: the version was tried again
// only at the next change or a SIGHUP, though the code that failed is no longer there. Now a
// version whose files changed during its start is tried once more with them, under the
// watcher's default poll and under --watch-interval 0 (no watcher) alike. Through the real CLI
// with a real Python import; the fix lands while the import sleeps, told by a file the module
// writes outside its directory.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { oneWorkerEach, writePackage } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, startCli, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { warmStateDir } from '../helpers/warm-state.js';

const test = suite('a fix copied in while a version fails to start');

const APP_YAML = 'platform: python, wsgi\napp: wsgi:application\n';

/** An import that says it has begun (`marker`), takes 2 s, then fails. */
const failingSlowly = (marker: string) =>
  `import time\nopen(${JSON.stringify(marker)}, "w").close()\ntime.sleep(2)\nraise RuntimeError("the database is not configured")\n`;

const FIXED = 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"fixed"]\n';

async function served(gw: RunningGateway, path: string): Promise<string> {
  const res = await request(`${gw.url}${path}`);
  const body = await res.body.text();
  return res.statusCode === 200 ? body : `${res.statusCode}`;
}

/** Starts a gateway with `extra` on an app whose import fails slowly, fixes it during the import, and returns what it serves. */
async function fixedDuringImport(extra: string[]): Promise<{ answer: string; output: string }> {
  const apps = tempDir('apppkg-fix-apps-');
  const state = warmStateDir('apppkg-fix-state-');
  const marks = tempDir('apppkg-fix-marks-');
  const marker = join(marks.path, 'importing');
  const dir = writePackage(apps.path, 'blog', { 'app.yaml': APP_YAML, 'wsgi.py': failingSlowly(marker) });
  const starting = startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, ...oneWorkerEach(state.path), '--settle', '0.3', '--access-log', 'off', ...extra]);
  let gw: RunningGateway | null = null;
  try {
    await waitFor(() => existsSync(marker), 30_000, 'the import to begin');
    writeFileSync(join(dir, 'wsgi.py'), FIXED);
    gw = await starting;
    const running = gw;
    // The refusal is of the code that ran: it comes first, whatever is served after.
    await waitFor(() => /RuntimeError: the database is not configured/.test(running.output()), 20_000, 'the slow import to be refused');
    let answer = '';
    await waitFor(async () => (answer = await served(running, '/blog/')) === 'fixed', 20_000, () => `the fixed app to serve (answered ${answer})\n${running.output()}`, ASK_GATEWAY_EVERY_MS).catch(() => {});
    return { answer, output: running.output() };
  } finally {
    await (gw ?? (await starting.catch(() => null)))?.stop();
    for (const d of [apps, state, marks]) d.remove();
  }
}

for (const [extra, what] of [[[], 'the default --watch-interval (its poll)'], [['--watch-interval', '0'], '--watch-interval 0 (no watcher: only a SIGHUP looked again)']] as const) {
  test(`${what}: the fixed version serves without a SIGHUP`, async () => {
    const { answer, output } = await fixedDuringImport([...extra]);
    assert.is(answer, 'fixed', output);
    assert.match(output, /blog: files in .* changed while it was starting; trying it again with them/);
  });
}

test('an app that writes into its own directory at every failed import is tried once more, not at every look', async () => {
  const apps = tempDir('apppkg-fix-apps-');
  const state = warmStateDir('apppkg-fix-state-');
  const marks = tempDir('apppkg-fix-marks-');
  const imports = join(marks.path, 'imports');
  // Each import appends a line outside its directory (counted) and rewrites a file inside it (a
  // cache, a log the app keeps there), then fails.
  const module = `import os, time\nwith open(${JSON.stringify(imports)}, "a") as f:\n    f.write("import\\n")\nwith open(os.path.join(os.path.dirname(__file__), "last-try.txt"), "w") as f:\n    f.write(repr(time.time()))\nraise RuntimeError("the database is not configured")\n`;
  writePackage(apps.path, 'blog', { 'app.yaml': APP_YAML, 'wsgi.py': module });
  const count = () => (existsSync(imports) ? readFileSync(imports, 'utf8').split('\n').filter(Boolean).length : 0);
  let gw: RunningGateway | null = null;
  try {
    gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, ...oneWorkerEach(state.path), '--settle', '0.3', '--watch-interval', '0.2', '--access-log', 'off']);
    const running = gw;
    await waitFor(() => count() >= 2 && (running.output().match(/RuntimeError: the database is not configured/g) ?? []).length >= 2, 20_000, () => `two imports refused (${count()} imports)\n${running.output()}`);
    // Many of the watcher's looks, and each try takes well under this: a third try would be in.
    await new Promise((r) => setTimeout(r, 4000));
    assert.is(count(), 2, running.output());
    assert.is((running.output().match(/changed while it was starting/g) ?? []).length, 1, running.output());
  } finally {
    await gw?.stop();
    for (const d of [apps, state, marks]) d.remove();
  }
});

test('a failed commands.install that writes into the directory is not run again for its own writes', async () => {
  const apps = tempDir('apppkg-fix-apps-');
  const state = warmStateDir('apppkg-fix-state-');
  const marks = tempDir('apppkg-fix-marks-');
  const runs = join(marks.path, 'runs');
  writePackage(apps.path, 'blog', { 'app.yaml': `${APP_YAML}commands:\n  install: echo run >> ${runs}; date +%s%N > built.txt; exit 3\n`, 'wsgi.py': FIXED });
  const count = () => (existsSync(runs) ? readFileSync(runs, 'utf8').split('\n').filter(Boolean).length : 0);
  let gw: RunningGateway | null = null;
  try {
    gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state.path, ...oneWorkerEach(state.path), '--settle', '0.3', '--watch-interval', '0.2', '--access-log', 'off']);
    const running = gw;
    await waitFor(() => /APPPKG_COMMAND_FAILED|commands\.install .*failed|exited with status 3/.test(running.output()), 20_000, () => `the hook to be refused\n${running.output()}`);
    await new Promise((r) => setTimeout(r, 3000));
    assert.is(count(), 1, running.output());
    assert.not.match(running.output(), /changed while it was starting/);
  } finally {
    await gw?.stop();
    for (const d of [apps, state, marks]) d.remove();
  }
});

test.run();
