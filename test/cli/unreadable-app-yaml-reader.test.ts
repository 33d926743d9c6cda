// An app.yaml its reader may not read: the fix said "make the file readable by the user the
// gateway runs as" to the user running `check`, to a program's AppPackage.open and to Python's
// apppkg.AppPackage, none of which had a gateway read it; a user of `check` went to look at the
// gateway's user. Each names the user that read it, as the caller knows that reader, and the
// command that lets it read. A gateway's own read (test/supervisor/unreadable-package) keeps its words.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { installForOtherUsers, runCli, tempDir, type CliResult } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const test = suite('an app.yaml its reader may not read: the fix names that reader, not the gateway\'s user');
const work = tempDir('apppkg-unreadable-reader-');
const asNobody = process.getuid?.() === 0 && spawnSync('runuser', ['-u', 'nobody', '--', 'true']).status === 0 && spawnSync('runuser', ['-u', 'nobody', '--', '/usr/bin/python3', '-c', '']).status === 0;
const ifNobody = runIf(test, asNobody, 'needs root, runuser and /usr/bin/python3 to read app.yaml as a user it is closed to');
const nobodyUid = asNobody ? spawnSync('id', ['-u', 'nobody'], { encoding: 'utf8' }).stdout.trim() : '';

test.after(() => work.remove());

/** A package whose app.yaml only root may read, in directories everyone may enter, and a state root nobody may write. */
function closedPackage(name: string): { dir: string; file: string; state: string } {
  chmodSync(work.path, 0o755);
  const dir = join(work.path, name);
  mkdirSync(dir, { mode: 0o755 });
  const file = join(dir, 'app.yaml');
  writeFileSync(file, 'platform: python, wsgi\napp: wsgi:application\n', { mode: 0o600 });
  const state = join(work.path, `${name}-state`);
  mkdirSync(state);
  chmodSync(state, 0o777);
  return { dir, file, state };
}

/** `argv` run as nobody, bounded (runCli's deadline kills runuser; timeout its child). */
function asNobodyRun(argv: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return runCli(['-u', 'nobody', '--', 'timeout', '50', ...argv], { bin: 'runuser', cwd: work.path, env, ms: 60_000 });
}

const allowed = (file: string): string => `read it and search each directory above it: as its owner or root, \`chmod a+r ${file}\` (and \`chmod a+x\` on a directory above it that this user may not enter)`;

ifNobody('check as a user that may not read app.yaml: the fix names that user, the one running check', async () => {
  const { dir, file, state } = closedPackage('check');
  const r = await asNobodyRun([installForOtherUsers().bin, 'check', dir, '--state-dir', state]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, `cannot read ${file}: EACCES\n`);
  assert.match(r.stderr, `  fix: let nobody (uid ${nobodyUid}), the user running \`apppkg-gateway check\`, ${allowed(file)}\n`);
  assert.not.match(r.stderr, 'gateway runs as');
});

ifNobody('AppPackage.open in a program of such a user: the fix names the user the program runs as', async () => {
  const { dir, file, state } = closedPackage('library');
  const index = join(installForOtherUsers().root, 'dist', 'index.js');
  const program = `import(${JSON.stringify(index)}).then((m) => m.AppPackage.open(${JSON.stringify(dir)}, { stateDir: ${JSON.stringify(state)} })).then(() => console.log('opened'), (e) => console.log(JSON.stringify({ code: e.code, hint: e.hint })))`;
  const r = await asNobodyRun([process.execPath, '-e', program]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  const said = JSON.parse(r.stdout) as { code: string; hint: string };
  assert.is(said.code, 'APPPKG_FILE_UNREADABLE', r.stdout);
  assert.is(said.hint, `let nobody (uid ${nobodyUid}), the user this program runs as, ${allowed(file)}`);
});

ifNobody('apppkg.AppPackage in Python of such a user: the fix names the user the Python program runs as', async () => {
  const { dir, file, state } = closedPackage('python');
  const { root, bin } = installForOtherUsers();
  const program = 'import sys, apppkg\ntry:\n    apppkg.AppPackage(sys.argv[1], state_dir=sys.argv[2])\nexcept apppkg.AppPackageError as exc:\n    print(exc)\n';
  const r = await asNobodyRun(['/usr/bin/python3', '-c', program, dir, state], { PYTHONPATH: join(root, 'python-shim'), APPPKG_GATEWAY: bin });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, `cannot read ${file}: EACCES\n`);
  assert.match(r.stdout, `      fix: let nobody (uid ${nobodyUid}), the user the Python program calling AppPackage runs as, ${allowed(file)}\n`);
  assert.not.match(r.stdout, 'gateway runs as');
});

test.run();
