// What a command or hook leaves running in the background ends with it (SPEC 4: no orphan
// processes, ever), as a container's processes end with its main process under `docker run`:
// `test`, `install`, `run`, `backup`, `restore`, `uninstall`, `check` (its hook and the app's
// import) and the library's runCommand and run used to return and leave a `sleep &` running,
// its parent init. And `check` of an app whose import starts a helper waited for the helper to
// close the pipes it inherited: 60 s, then a false "the import did not finish".
import { readFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AppPackage } from '../../src/index.js';
import { makeApp } from '../lifecycle/lifecycle-apps.js';
import { assertNoOrphans, runCli, tempDir } from '../helpers/process.js';

const test = suite('processes a command leaves behind');
const work = tempDir('apppkg-left-behind-');
const S = ['--state-dir', join(work.path, 'state')];
/** Every pid a test read, killed after it whatever happened. */
const seen: number[] = [];
test.after(() => {
  for (const pid of seen) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
  work.remove();
});

/** A shell line that starts a sleeper in the background, notes its pid in `name`, and exits with `status`. */
function leaves(name: string, status = 0): string {
  return `sleep 600 & echo $! > ${join(work.path, `${name}.pid`)}; exit ${status}`;
}

function pidIn(name: string): number {
  const file = join(work.path, `${name}.pid`);
  assert.ok(existsSync(file), `${name}: the command noted no pid`);
  const pid = Number(readFileSync(file, 'utf8').trim());
  seen.push(pid);
  return pid;
}

const app = makeApp(
  work.path,
  'leaver',
  [
    'platform: python, wsgi',
    'app: wsgi:application',
    'commands:',
    ...(['install', 'test', 'check', 'restore', 'uninstall'] as const).map((hook) => `  ${hook}: ${leaves(hook)}`),
    // Restore refuses an empty backup directory.
    `  backup: echo dump > "$APPPKG_BACKUP_DIR/dump"; ${leaves('backup')}`,
    '',
  ].join('\n'),
);

test('install, test, backup, restore and uninstall: the hook\'s background process ends with the command', async () => {
  const steps: [string, string[]][] = [
    ['install', ['install', app, ...S]],
    ['test', ['test', app, ...S]],
    ['backup', ['backup', app, ...S, '--to', join(work.path, 'backup')]],
    ['restore', ['restore', app, ...S, '--from', join(work.path, 'backup')]],
    ['uninstall', ['uninstall', app, ...S, '--yes']],
  ];
  for (const [hook, args] of steps) {
    const r = await runCli(args, { ms: 60_000 });
    assert.is(r.status, 0, `${hook}: ${r.stdout}${r.stderr}`);
    await assertNoOrphans([pidIn(hook)], 5000);
  }
});

test('run: what the command started ends when it exits, and its exit status is still the CLI\'s', async () => {
  const r = await runCli(['run', app, ...S, '--', 'sh', '-c', leaves('run', 3)]);
  assert.is(r.status, 3, r.stdout + r.stderr);
  await assertNoOrphans([pidIn('run')], 5000);
});

test('run: a process that ignores SIGTERM is killed after the grace', async () => {
  const r = await runCli(['run', app, ...S, '--', 'sh', '-c', `trap '' TERM; ${leaves('run-deaf')}`]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  await assertNoOrphans([pidIn('run-deaf')], 10_000);
});

test('check: an import that starts a helper is reported as soon as it is done, and the helper, like the hook\'s sleeper, ends with the check', async () => {
  const dir = makeApp(work.path, 'helper', `platform: python, wsgi\napp: wsgi:application\ncommands:\n  check: ${leaves('check-hook')}\n`);
  writeFileSync(
    join(dir, 'wsgi.py'),
    `import subprocess\nhelper = subprocess.Popen(["sleep", "600"])\nopen(${JSON.stringify(join(work.path, 'check-import.pid'))}, "w").write(str(helper.pid))\n` +
      'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n',
  );
  const started = Date.now();
  // Not 60 s: the import's own deadline, after which it used to fail.
  const r = await runCli(['check', dir, ...S], { ms: 30_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /ok\s+app\s+wsgi:application imports and is callable/);
  assert.ok(Date.now() - started < 30_000);
  await assertNoOrphans([pidIn('check-import'), pidIn('check-hook')], 5000);
});

test('the library: runCommand and run, output captured or not, end what the command left behind', async () => {
  const pkg = await AppPackage.open(app, { stateDir: join(work.path, 'state') });
  let captured = '';
  const output = new Writable({
    write(chunk, _encoding, next) {
      captured += String(chunk);
      next();
    },
  });
  assert.is(await pkg.runCommand('test', { output }), 0, captured);
  await assertNoOrphans([pidIn('test')], 5000);
  assert.is(await pkg.run(['sh', '-c', leaves('lib-run', 5)], { output }), 5, captured);
  await assertNoOrphans([pidIn('lib-run')], 5000);
  assert.is(await pkg.run(['sh', '-c', `${leaves('lib-run-inherit')}; :`]), 0);
  await assertNoOrphans([pidIn('lib-run-inherit')], 5000);
});

test.run();
