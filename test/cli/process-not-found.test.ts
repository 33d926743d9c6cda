// A `processes:` command whose program is not there exits 127, the shell's "not found", which
// only the app log said: the gateway's log and `status` said `exited (status 127)`, and the user
// had to find the app log to learn which program was missing. Now both name the key, the
// program, each directory of the PATH searched and the fix, for a background process that
// restarts and for a serving one whose version is refused. The same for a program that is there
// but cannot run: a script whose `#!` interpreter is not (the shell's "not found" of a file
// that exists, 127, as env's of `#!/usr/bin/env python9`) and a file that is not executable (126).
import { spawnSync } from 'node:child_process';
import { appendFileSync, chmodSync, chownSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { oneWorkerEach, writePackage } from '../helpers/apps-dir.js';
import { runCli, startCliIn, tempDir, waitFor, type RunningGateway } from '../helpers/process.js';
import { stopGatewayChecked } from '../helpers/status.js';
import { hasProgram, runIf } from '../helpers/skip.js';

const test = suite('cli: a processes: command not found');
const work = tempDir('apppkg-process-not-found-');
const apps = join(work.path, 'apps');
const state = join(work.path, 'state');
let gw: RunningGateway | null = null;
test.after(() => stopGatewayChecked(gw, work));

writePackage(apps, 'bg', {
  'app.yaml': 'platform: python, wsgi\napp: app:application\nprocesses:\n  worker:\n    command: apppkg-no-such-worker --flag\n',
  'app.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"x"]\n',
});
// Three that are there but cannot run, in an app of their own.
const scripts = writePackage(apps, 'scripts', {
  'app.yaml':
    'platform: python, wsgi\napp: app:application\nprocesses:\n' +
    '  gone:\n    command: ./bin/gone-interpreter --once\n' +
    '  nine:\n    command: ./bin/python-nine\n' +
    '  plain:\n    command: ./bin/not-executable.sh\n',
  'app.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"x"]\n',
});
mkdirSync(join(scripts, 'bin'));
for (const [name, text, mode] of [
  ['gone-interpreter', '#!/opt/apppkg-no-such-venv/bin/python\nprint("never")\n', 0o755],
  ['python-nine', '#!/usr/bin/env python9\nprint("never")\n', 0o755],
  ['not-executable.sh', '#!/bin/sh\necho never\n', 0o644],
] as const) {
  writeFileSync(join(scripts, 'bin', name), text);
  chmodSync(join(scripts, 'bin', name), mode);
}
// As root, an app runs as its directory's owner (here nobody): a root-owned 0744 script is one
// the gateway may execute and the app's user may not (126), judged as the gateway's user before.
const asRoot = process.getuid?.() === 0;
const NOBODY = 65534;
// A directory root keeps to itself (0700): a 0755 script in it is one nobody cannot reach, though
// its own mode bits let nobody run it (judged by them alone, the 126 went unexplained).
const rootOnly = join(work.path, 'root-only');
const hidden = join(rootOnly, 'hidden.sh');
// ACLs where setfacl (the acl package) and the filesystem take them: an entry that denies nobody
// a 0755 script, and one that grants it a 0744 script which exits 126 of its own accord.
const aclProbe = join(work.path, 'acl-probe');
writeFileSync(aclProbe, '');
const aclWorks = asRoot && hasProgram('setfacl') && spawnSync('setfacl', ['-m', `u:${NOBODY}:r--`, aclProbe], { stdio: 'ignore', timeout: 5_000 }).status === 0;
if (asRoot) {
  const owners = writePackage(apps, 'owners', {
    'app.yaml':
      `platform: python, wsgi\napp: app:application\nprocesses:\n  mine:\n    command: ./bin/root-only.sh\n  hidden:\n    command: ${hidden}\n` +
      (aclWorks ? '  denied:\n    command: ./bin/acl-denied.sh\n  granted:\n    command: ./bin/acl-granted.sh\n' : ''),
    'app.py': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"x"]\n',
  });
  mkdirSync(join(owners, 'bin'));
  writeFileSync(join(owners, 'bin', 'root-only.sh'), '#!/bin/sh\necho never\n', { mode: 0o744 });
  chmodSync(join(owners, 'bin', 'root-only.sh'), 0o744);
  mkdirSync(rootOnly, { mode: 0o700 });
  writeFileSync(hidden, '#!/bin/sh\necho never\n', { mode: 0o755 });
  if (aclWorks) {
    const denied = join(owners, 'bin', 'acl-denied.sh');
    writeFileSync(denied, '#!/bin/sh\necho never\n', { mode: 0o755 });
    const granted = join(owners, 'bin', 'acl-granted.sh');
    writeFileSync(granted, '#!/bin/sh\nexit 126\n', { mode: 0o744 });
    for (const [file, entry] of [[denied, 'r--'], [granted, 'r-x']]) {
      const r = spawnSync('setfacl', ['-m', `u:${NOBODY}:${entry}`, file], { encoding: 'utf8', timeout: 5_000 });
      if (r.status !== 0) throw new Error(`setfacl on ${file}: ${r.stderr}`);
    }
  }
  chownSync(owners, NOBODY, NOBODY);
  // nobody must reach its package: the test's temp directory is made 0700.
  chmodSync(work.path, 0o755);
  chmodSync(apps, 0o755);
}
writePackage(apps, 'web', { 'app.yaml': 'platform: python, command\nprocesses:\n  web:\n    command: apppkg-no-such-server --port $PORT\n' });

const FIX = "(fix: install it for the app (deb:, pip: or vendor/ with `apppkg-gateway vendor`), give its full path in processes.worker.command, or write the command as `python -m MODULE` so that the app's interpreter runs it)";
const said = (key: string, command: string, program: string) => `${key}: \`${command}\` runs ${program}, which is not on the app's PATH, which searches ${join(state, 'apps')}`;

// One gateway for both cases: each waits for its own apps' lines. `run` is given its file too.
const environment = oneWorkerEach(work.path);
test.before(async () => {
  // nobody may not run pyenv's interpreter under /root: Debian's, for owners alone.
  if (asRoot) appendFileSync(environment[1], 'apps:\n  owners:\n    python: /usr/bin/python3\n');
  gw = await startCliIn(work, ['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, ...environment]);
});

test('the gateway log and status name the program, the PATH searched and the fix', async () => {
  const worker = said('processes.worker.command', 'apppkg-no-such-worker --flag', 'apppkg-no-such-worker');
  const line = await waitFor(() => /bg: processes\.worker \d+ exited \(status 127\)[^\n]*/.exec(gw!.output())?.[0], 30_000, () => `the worker's exit in\n${gw!.output()}`);
  assert.ok(line.startsWith(`bg: processes.worker ${line.split(' ')[2]} exited (status 127): ${worker}`), line);
  assert.ok(line.includes(`, /bin ${FIX}; restarting in `), line);
  // The serving one: its version refused, the refusal saying the same.
  const web = said('processes.web.command', 'apppkg-no-such-server --port $PORT', 'apppkg-no-such-server');
  await waitFor(() => gw!.output().includes('web: '), 30_000, 'the web app refused');
  assert.match(gw!.output(), `processes.web of web did not start (it exited with status 127: ${web}`);
  const status = await runCli(['status', '--admin', gw!.adminUrl!]);
  assert.is(status.status, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`process worker: (?:\\d+ )?[a-z-]+, \\d+ restarts?, the last exited with status 127 at \\S+: ${escape(worker)}[^\\n]*, /bin ${escape(FIX)}`));
  assert.match(status.stdout, `did not start (it exited with status 127: ${web}`);
});

test('a script whose #! interpreter is not there, and a file that is not executable: the same, with their fix', async () => {
  const exitLine = (name: string, status: number) =>
    waitFor(() => new RegExp(`scripts: processes\\.${name} \\d+ exited \\(status ${status}\\)[^\\n]*`).exec(gw!.output())?.[0], 30_000, () => `processes.${name}'s exit in\n${gw!.output()}`);
  const gone = await exitLine('gone', 127);
  const script = (name: string) => join(scripts, 'bin', name);
  assert.ok(gone.includes(`: processes.gone.command: \`./bin/gone-interpreter --once\` runs ./bin/gone-interpreter, a script (${script('gone-interpreter')}) whose #! line names /opt/apppkg-no-such-venv/bin/python, which is not there (fix: correct its #! line (\`#!/usr/bin/env python\` runs the app's interpreter, on its PATH), or run it with its interpreter in processes.gone.command: \`python ./bin/gone-interpreter\`); restarting in `), gone);
  const nine = await exitLine('nine', 127);
  assert.ok(nine.includes(`: processes.nine.command: \`./bin/python-nine\` runs ./bin/python-nine, a script (${script('python-nine')}) whose #! line runs python9 through env, which is not on the app's PATH, which searches ${join(state, 'apps')}`), nine);
  const plain = await exitLine('plain', 126);
  assert.ok(plain.includes(`: processes.plain.command: \`./bin/not-executable.sh\` runs ./bin/not-executable.sh, but ${script('not-executable.sh')} is not executable (fix: make it executable (\`chmod +x ${script('not-executable.sh')}\`), or run it with its interpreter in processes.plain.command (\`python ./bin/not-executable.sh\`, \`sh ./bin/not-executable.sh\`)); restarting in `), plain);
  const status = await runCli(['status', '--admin', gw!.adminUrl!]);
  assert.is(status.status, 0, status.stderr);
  assert.match(status.stdout, new RegExp(`process gone: (?:\\d+ )?[a-z-]+, \\d+ restarts?, the last exited with status 127 at \\S+: processes\\.gone\\.command: ${escape('`./bin/gone-interpreter --once` runs ./bin/gone-interpreter, a script (')}`), status.stdout);
  assert.match(status.stdout, new RegExp(`process plain: (?:\\d+ )?[a-z-]+, \\d+ restarts?, the last exited with status 126 at \\S+: processes\\.plain\\.command: [^\\n]* is not executable`));
});

runIf(test, asRoot, 'needs root: only a gateway run as root runs an app as another user')('a script the gateway may execute and the app\'s user may not (root\'s, mode 0744): not executable, judged as the app\'s user', async () => {
  const mine = await waitFor(() => /owners: processes\.mine \d+ exited \(status 126\)[^\n]*/.exec(gw!.output())?.[0], 30_000, () => `processes.mine's exit in\n${gw!.output()}`);
  const script = join(apps, 'owners', 'bin', 'root-only.sh');
  assert.ok(mine.includes(`: processes.mine.command: \`./bin/root-only.sh\` runs ./bin/root-only.sh, but ${script} is not executable (fix: make it executable (\`chmod +x ${script}\`)`), mine);
});

runIf(test, asRoot, 'needs root: only a gateway run as root runs an app as another user')('a script in a directory the app\'s user may not search (root\'s, mode 0700): said as that, with the directory to open, not chmod +x of the script', async () => {
  const line = await waitFor(() => /owners: processes\.hidden \d+ exited \(status 126\)[^\n]*/.exec(gw!.output())?.[0], 30_000, () => `processes.hidden's exit in\n${gw!.output()}`);
  assert.ok(line.includes(`: processes.hidden.command: \`${hidden}\` runs ${hidden}, but ${hidden} is out of the app's user's reach: it may not search ${rootOnly} (fix: let the app's user search ${rootOnly} (\`chmod o+x ${rootOnly}\`, or \`setfacl -m u:${NOBODY}:x ${rootOnly}\`), or put the program where that user can reach it); restarting in `), line);
});

// run's argv is spawned as the app's user, not through a shell: spawn's EACCES said `chmod +x`
// of the script whatever the kernel refused.
runIf(test, asRoot, 'needs root: only run as root runs a command as the app\'s user')('run of a script in a directory the app\'s user may not search: the directory to open, not chmod +x', async () => {
  const r = await runCli(['run', join(apps, 'owners'), '--state-dir', state, ...environment, '--', hidden], { ms: 60_000 });
  assert.is(r.status, 126, r.stderr);
  assert.match(r.stderr, `apppkg-gateway: ${hidden}: not executable (65534 may not search ${rootOnly}, on its way)\n  fix: let the app's user search ${rootOnly} (\`chmod o+x ${rootOnly}\`, or \`setfacl -m u:${NOBODY}:x ${rootOnly}\`), or put the program where that user can reach it`);
});

const ifAcl = runIf(test, aclWorks, asRoot ? 'needs setfacl (the acl package) and a filesystem with ACLs' : 'needs root: only a gateway run as root runs an app as another user');
ifAcl('a script an ACL entry denies the app\'s user (mode 0755): not executable though its mode bits allow it, with getfacl and setfacl in the fix', async () => {
  const line = await waitFor(() => /owners: processes\.denied \d+ exited \(status 126\)[^\n]*/.exec(gw!.output())?.[0], 30_000, () => `processes.denied's exit in\n${gw!.output()}`);
  const script = join(apps, 'owners', 'bin', 'acl-denied.sh');
  assert.ok(line.includes(`: processes.denied.command: \`./bin/acl-denied.sh\` runs ./bin/acl-denied.sh, but ${script} is not executable by the app's user, though its mode bits allow it (fix: an ACL entry or a noexec mount refuses it (\`getfacl ${script}\`, \`findmnt -T ${script}\`): give the app's user execute (\`setfacl -m u:${NOBODY}:rx ${script}\`, or mount it without noexec), or run it with its interpreter in processes.denied.command (\`python ./bin/acl-denied.sh\`, \`sh ./bin/acl-denied.sh\`)); restarting in `), line);
});

ifAcl('a script an ACL entry lets the app\'s user run (mode 0744), which exits 126 itself: its status, not "not executable"', async () => {
  const line = await waitFor(() => /owners: processes\.granted \d+ exited \(status 126\)[^\n]*/.exec(gw!.output())?.[0], 30_000, () => `processes.granted's exit in\n${gw!.output()}`);
  assert.match(line, /exited \(status 126\); restarting in /);
});

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

test.run();
