// The serving version's restart (the admin's `restart`) follows the start's rules
// (fix-while-starting): a fix copied in while the restart's slow import fails is tried again at
// once, under --watch-interval 0 too, where no watcher looks again; and a commands.update that
// fails at the restart, writing into the directory as hooks do, is not run again for its own
// writes, while the version before keeps serving and status says why. An app.yaml edited in
// place is such a restart: failing (its update, or a service the host cannot give), it leaves
// that version serving, not the one below it, and so it does while the edit settles.
// Through the real CLI, a real Python import and a real shell hook.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { oneWorkerEach, writePackage } from '../helpers/apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, runCli, startCli, tempDir, waitFor, type CliResult, type RunningGateway } from '../helpers/process.js';
import { closedPort } from '../helpers/servers.js';
import { warmStateDir } from '../helpers/warm-state.js';

const test = suite('a restart of the serving version that fails');

const APP_YAML = 'platform: python, wsgi\napp: wsgi:application\n';
const TOKEN = 'restart-token';

const serving = (body: string) =>
  `def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"${body}"]\n`;

/** An import that says it has begun (`marker`), takes 2 s, then fails. */
const failingSlowly = (marker: string) =>
  `import time\nopen(${JSON.stringify(marker)}, "w").close()\ntime.sleep(2)\nraise RuntimeError("the database is not configured")\n`;

async function served(gw: RunningGateway): Promise<string> {
  const res = await request(`${gw.url}/blog/`);
  const body = await res.body.text();
  return res.statusCode === 200 ? body : `${res.statusCode}`;
}

/** The runs of a hook that counts them in `runs` under the marks directory, outside the version. */
const runs = (marks: string) => join(marks, 'runs');
const count = (marks: string) => (existsSync(runs(marks)) ? readFileSync(runs(marks), 'utf8').split('\n').filter(Boolean).length : 0);
/** A commands.update that counts its run, writes into the version as hooks do (collectstatic), and fails. */
const failingUpdate = (marks: string) => `${APP_YAML}commands:\n  update: echo run >> ${runs(marks)}; date +%s%N > built.txt; exit 3\n`;

async function blogStatus(gw: RunningGateway): Promise<any> {
  const status = (await (await request(`${gw.adminUrl}/status`, { headers: { authorization: `Bearer ${TOKEN}` } })).body.json()) as any;
  return status.apps.find((a: any) => a.name === 'blog');
}

/**
 * Runs `fn` on a gateway given `extra`, serving blog's `files` (given a directory for marks
 * outside it) from an apps directory, its admin on a token; with `older`, those are blog.2's and
 * `older` blog.1's.
 */
async function withGateway(files: (marks: string) => Record<string, string>, extra: string[], fn: (gw: RunningGateway, dir: string, marks: string, restart: () => Promise<CliResult>) => Promise<void>, older?: Record<string, string>): Promise<void> {
  const apps = tempDir('apppkg-fix-restart-apps-');
  const state = warmStateDir('apppkg-fix-restart-state-');
  const marks = tempDir('apppkg-fix-restart-marks-');
  const token = join(marks.path, 'admin-token');
  writeFileSync(token, `${TOKEN}\n`, { mode: 0o600 });
  if (older) writePackage(apps.path, 'blog.1', older);
  const dir = writePackage(apps.path, older ? 'blog.2' : 'blog', files(marks.path));
  let gw: RunningGateway | null = null;
  try {
    gw = await startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--admin-token', token, '--state-dir', state.path, ...(extra.includes('--environment') ? [] : oneWorkerEach(state.path)), ...(extra.includes('--settle') ? [] : ['--settle', '0.3']), '--access-log', 'off', ...extra]);
    const running = gw;
    const restart = () => runCli(['restart', 'blog', '--admin', new URL(running.adminUrl!).host, '--admin-token', token], { ms: 60_000 });
    await fn(running, dir, marks.path, restart);
  } finally {
    await gw?.stop();
    for (const d of [apps, state, marks]) d.remove();
  }
}

test('--watch-interval 0: a fix copied in while the restart\'s import fails is restarted with at once, without a SIGHUP', async () => {
  await withGateway(() => ({ 'app.yaml': APP_YAML, 'wsgi.py': serving('old') }), ['--watch-interval', '0'], async (gw, dir, marks, restart) => {
    assert.is(await served(gw), 'old');
    const marker = join(marks, 'importing');
    writeFileSync(join(dir, 'wsgi.py'), failingSlowly(marker));
    const restarted = restart();
    await waitFor(() => existsSync(marker), 30_000, () => `the restart's import to begin\n${gw.output()}`);
    writeFileSync(join(dir, 'wsgi.py'), serving('fixed'));
    const told = await restarted;
    // The restart asked for is of the code that ran: refused, whatever is restarted after it.
    assert.is.not(told.status, 0, told.stdout + told.stderr);
    await waitFor(() => /RuntimeError: the database is not configured/.test(gw.output()), 20_000, () => `the restart to be refused\n${gw.output()}`);
    let answer = '';
    await waitFor(async () => (answer = await served(gw)) === 'fixed', 20_000, () => `the fixed code to serve (answered ${answer})\n${gw.output()}`, ASK_GATEWAY_EVERY_MS).catch(() => {});
    assert.is(answer, 'fixed', gw.output());
    assert.match(gw.output(), /blog: files in .* changed while it was restarting; restarting it again with them/);
  });
});

test('a failed commands.update at a restart that writes into the directory is not run again for its own writes; the old code serves, status says why', async () => {
  await withGateway((marks) => ({ 'app.yaml': failingUpdate(marks), 'wsgi.py': serving('old') }), ['--watch-interval', '0.2'], async (gw, dir, marks, restart) => {
    assert.is(await served(gw), 'old');
    // Edited in place since its install: the restart is a deploy of these files, and runs the update (README).
    writeFileSync(join(dir, 'wsgi.py'), serving('new'));
    const told = await restart();
    assert.is.not(told.status, 0, told.stdout + told.stderr);
    await waitFor(() => count(marks) >= 1 && /exited with status 3|APPPKG_COMMAND_FAILED/.test(gw.output()), 20_000, () => `the hook to be refused\n${gw.output()}`);
    // Many of the watcher's looks (0.2 s), each of which would run it again: it ran once.
    await new Promise((r) => setTimeout(r, 3000));
    assert.is(count(marks), 1, gw.output());
    assert.not.match(gw.output(), /changed while it was (starting|restarting)/);
    assert.is(await served(gw), 'old');
    const blog = await blogStatus(gw);
    assert.is(blog.state, 'ready', JSON.stringify(blog));
    assert.is(blog.problem?.code, 'APPPKG_COMMAND_FAILED', JSON.stringify(blog.problem));
    // A change of the user's still runs it again: what the hook wrote is no longer taken for one, this is.
    writeFileSync(join(dir, 'wsgi.py'), serving('newer'));
    await waitFor(() => count(marks) >= 2, 20_000, () => `the hook to run again for a real change\n${gw.output()}`);
  });
});

test('an app.yaml edit of the serving version whose commands.update fails leaves that version serving, not the one below it', async () => {
  await withGateway((marks) => ({ 'app.yaml': failingUpdate(marks), 'wsgi.py': serving('v2') }), ['--watch-interval', '0.2'], async (gw, dir, marks) => {
    assert.is(await served(gw), 'v2');
    // Its restart in place runs the update (README): version 2's migration ran, and version 1's
    // code taking over would run against data it moved past.
    writeFileSync(join(dir, 'app.yaml'), `${failingUpdate(marks)}x-note: edited in place\n`);
    await waitFor(() => count(marks) >= 1 && /exited with status 3/.test(gw.output()), 20_000, () => `the hook to be refused\n${gw.output()}`);
    await new Promise((r) => setTimeout(r, 3000));
    assert.is(await served(gw), 'v2', gw.output());
    assert.not.match(gw.output(), /version 1 takes over/);
    assert.is(count(marks), 1, gw.output());
    const blog = await blogStatus(gw);
    assert.is(blog.version, '2', JSON.stringify(blog));
    assert.is(blog.problem?.code, 'APPPKG_COMMAND_FAILED', JSON.stringify(blog.problem));
  }, { 'app.yaml': APP_YAML, 'wsgi.py': serving('v1') });
});

test('an app.yaml edit of the serving version that asks for a service the host cannot give (APPPKG_SERVICE_UNAVAILABLE) leaves that version serving, not the one below it', async () => {
  const env = tempDir('apppkg-fix-restart-env-');
  try {
    // A Redis the environment names where nothing listens: the edited version cannot start.
    const port = await closedPort();
    const envFile = join(env.path, 'environment.yaml');
    writeFileSync(envFile, `defaults:\n  workers: 1\nservices:\n  redis: redis://127.0.0.1:${port}\n`, { mode: 0o600 });
    await withGateway(() => ({ 'app.yaml': APP_YAML, 'wsgi.py': serving('v2') }), ['--watch-interval', '0.2', '--environment', envFile], async (gw, dir) => {
      assert.is(await served(gw), 'v2');
      writeFileSync(join(dir, 'app.yaml'), `${APP_YAML}services:\n  redis: redis\n`);
      await waitFor(() => /APPPKG_SERVICE_UNAVAILABLE|ECONNREFUSED/.test(gw.output()), 20_000, () => `the edited version to be refused for its Redis\n${gw.output()}`);
      // Its tries again with back-off (1 s, 2 s) leave it serving too.
      await new Promise((r) => setTimeout(r, 3000));
      assert.is(await served(gw), 'v2', gw.output());
      assert.not.match(gw.output(), /version 1 takes over/);
      const blog = await blogStatus(gw);
      assert.is(blog.version, '2', JSON.stringify(blog));
      assert.is(blog.problem?.code, 'APPPKG_SERVICE_UNAVAILABLE', JSON.stringify(blog.problem));
    }, { 'app.yaml': APP_YAML, 'wsgi.py': serving('v1') });
  } finally {
    env.remove();
  }
});

test('an app.yaml edit of the serving version still settling leaves that version serving, not the one below it', async () => {
  await withGateway(() => ({ 'app.yaml': APP_YAML, 'wsgi.py': serving('v2') }), ['--watch-interval', '0.2', '--settle', '4'], async (gw, dir) => {
    assert.is(await served(gw), 'v2');
    writeFileSync(join(dir, 'app.yaml'), `${APP_YAML}x-note: edited in place\n`);
    // Within its settle (4 s) version 2 is not judged yet: what serves meanwhile is still version 2.
    await new Promise((r) => setTimeout(r, 2000));
    assert.is(await served(gw), 'v2', gw.output());
    assert.not.match(gw.output(), /version 1 takes over/);
    await waitFor(() => /blog: version 2 restarted/.test(gw.output()), 20_000, () => `version 2 restarted once settled\n${gw.output()}`);
    assert.is(await served(gw), 'v2', gw.output());
    assert.not.match(gw.output(), /version 1 takes over/);
  }, { 'app.yaml': APP_YAML, 'wsgi.py': serving('v1') });
});

test.run();
