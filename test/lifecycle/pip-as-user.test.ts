// A root gateway builds an app's venv as the app's user (H192): pip, and the build of a source
// requirement it runs (a build backend, a setup.py: the app's own code), ran as root, and the
// requirements files, which may name any path (-r /etc/...), were read as root and their lines
// shown by check and pip. Needs root (and a user of its own, as users.test.ts makes): skipped
// otherwise. Real gateway, real venv, real pip, offline.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { request } from 'undici';
import { hostGroup, hostUser } from '../helpers/host-accounts.js';
import { installForOtherUsers, runCli, startCli, tempDir, waitFor, within, type RunningGateway } from '../helpers/process.js';
import { isRoot, runIf } from '../helpers/skip.js';
import { fileIndex, inTreeBackend, makeApp, makeWheel } from './lifecycle-apps.js';
import { canUnprotectHardlinks, UNPROTECT_REASON, withUnprotectedHardlinks } from './protected-hardlinks.js';
import { idOf, victimTree } from './subdir-swapper.js';

const test = suite('lifecycle: pip as the app\'s user');
const ifRoot = runIf(test, isRoot, 'needs root to run pip as an app\'s user');
const ifHardlinks = runIf(test, isRoot && canUnprotectHardlinks, UNPROTECT_REASON);
const USER = 'apppkg-test-app';
const GROUP = 'apppkg-test-readers';
const OTHER = 'apppkg-test-other';
const work = tempDir('apppkg-pip-user-');
const running: RunningGateway[] = [];
test.after(async () => {
  for (const gw of running) await gw.stop();
  work.remove();
});

/** Every file of `dir`, recursively, whose owner is not `uid` (symlinks as themselves). */
function notOwnedBy(dir: string, uid: number): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => join(dir, f)).filter((f) => spawnSync('stat', ['-c', '%u', f], { encoding: 'utf8' }).stdout.trim() !== String(uid));
}

// A source requirement whose in-tree build backend (what pip runs to build it) writes the uid it
// ran as beside itself, then builds the wheel: nothing from an index is needed. Given a file
// `link-stamp-to`, it also leaves, where the venv's stamp goes, a link to the file it names; given
// `link-stage-to`, one in vendor's staging directory (TMPDIR/stage when vendor lends it its TMPDIR).
const BACKEND = inTreeBackend('uidpkg', `    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, 'built-by-uid'), 'w') as f:
        f.write(str(os.getuid()))
    if os.path.exists(os.path.join(here, 'link-stamp-to')):
        os.symlink(open(os.path.join(here, 'link-stamp-to')).read(), os.path.join(sys.prefix, 'apppkg-venv.json'))
    if os.path.exists(os.path.join(here, 'link-stage-to')):
        os.symlink(open(os.path.join(here, 'link-stage-to')).read(), os.path.join(os.environ['TMPDIR'], 'stage', 'leak.txt'))
    def fill_and_wait(top, count, mode):
        # Directories for the swapper to trade for links, then wait until it has begun.
        import time
        for i in range(count):
            os.mkdir(os.path.join(top, 'sub%d' % i))
            if mode is not None:
                os.chmod(os.path.join(top, 'sub%d' % i), mode)
            open(os.path.join(top, 'sub%d' % i, 'f0'), 'w').close()
        open(os.path.join(here, 'lent-at'), 'w').write(os.environ['TMPDIR'])
        give_up = time.monotonic() + 30
        while not os.path.exists(os.path.join(os.environ['TMPDIR'], 'swapper-in')) and time.monotonic() < give_up:
            time.sleep(0.01)
    if os.path.exists(os.path.join(here, 'stage-dirs')):
        fill_and_wait(os.path.join(os.environ['TMPDIR'], 'stage'), int(open(os.path.join(here, 'stage-dirs')).read()), None)
    if os.path.exists(os.path.join(here, 'open-dirs')):
        top = os.path.join(os.environ['TMPDIR'], 'open')
        os.mkdir(top)
        os.chmod(top, 0o777)
        fill_and_wait(top, int(open(os.path.join(here, 'open-dirs')).read()), 0o777)
    if os.path.exists(os.path.join(here, 'link-log-to')):
        log = os.path.join(os.environ['TMPDIR'], 'pip.log')
        os.unlink(log)
        os.link(open(os.path.join(here, 'link-log-to')).read(), log)
        raise SystemExit('failed on purpose, once pip.log is a hard link')
`);

// A process of the app's user's that works in the directory vendor lent it, from before pip
// ends (its name read from argv[1], which the build backend writes) until argv[3] exists (120 s
// at most): it swaps the directories DIR/sub* (DIR: argv[4], else stage) for symlinks to argv[2] and back, over and over,
// by names relative to its working directory, which stay open to it once vendor closes the
// scratch directory above.
const LENT_SWAPPER = `
import os, sys, time
marker, victim, stop = sys.argv[1:4]
where = sys.argv[4] if len(sys.argv) > 4 else 'stage'
give_up = time.monotonic() + 120
open(stop + '.started', 'w').close()
while not os.path.exists(marker):
    if os.path.exists(stop) or time.monotonic() > give_up: sys.exit(0)
    time.sleep(0.005)
os.chdir(open(marker).read())
open('swapper-in', 'w').close()
while not os.path.exists(stop) and time.monotonic() < give_up:
    try: subs = [s for s in os.listdir(where) if s.startswith('sub') and not s.endswith('.away')]
    except OSError: continue
    for sub in subs:
        p = os.path.join(where, sub)
        try:
            if os.path.islink(p):
                os.unlink(p); os.rename(p + '.away', p)
            else:
                os.rename(p, p + '.away'); os.symlink(victim, p)
        except OSError: pass
`;

let apps: string;
let state: string;
let envFile: string;

test.before(() => {
  if (!isRoot) return;
  chmodSync(work.path, 0o755);
  apps = join(work.path, 'apps');
  mkdirSync(apps);
  state = join(work.path, 'state');
  envFile = join(work.path, 'environment.yaml');
  // An interpreter the app's user can run (pyenv's under /root it cannot).
  writeFileSync(envFile, 'python: /usr/bin/python3\n');
});

ifRoot('pip, and the build of a source requirement, run as the app\'s user, in a venv it owns, under --apps and install', async () => {
  const { uid, gid } = hostUser(USER);
  const app = makeApp(apps, 'pipuser', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  mkdirSync(join(app, 'uidpkg'));
  writeFileSync(join(app, 'uidpkg', 'pyproject.toml'), '[build-system]\nrequires = []\nbuild-backend = "uidbackend"\nbackend-path = ["."]\n');
  writeFileSync(join(app, 'uidpkg', 'uidbackend.py'), BACKEND);
  writeFileSync(join(app, 'requirements.txt'), './uidpkg\n');
  spawnSync('chown', ['-R', `${USER}:`, app]);
  const builtBy = join(app, 'uidpkg', 'built-by-uid');

  const gw = await startCli(['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, '--environment', envFile], { bin: installForOtherUsers().bin });
  running.push(gw);
  await waitFor(async () => (await request(`${gw.url}/pipuser/`)).statusCode === 200, 180_000, () => `pipuser to serve:\n${gw.output()}`, 250);
  assert.is(readFileSync(builtBy, 'utf8'), String(uid), gw.output());
  const venv = join(state, 'apps', 'pipuser', 'venv');
  // The build is the user's, but for the stamp we write and the user may only remove.
  assert.equal(notOwnedBy(`${venv}/`, uid).map((f) => f.slice(venv.length + 1)), ['apppkg-venv.json']);
  await gw.stop();

  writeFileSync(builtBy, 'none');
  // What we write into the user's build after pip is not written through a link it left there.
  const rootFile = join(work.path, 'root-file');
  writeFileSync(rootFile, 'root\'s own\n', { mode: 0o644 });
  writeFileSync(join(app, 'uidpkg', 'link-stamp-to'), rootFile);
  const r = await runCli(['install', app, '--rebuild', '--state-dir', state, '--environment', envFile], { ms: 180_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.is(readFileSync(builtBy, 'utf8'), String(uid), r.stdout + r.stderr);
  assert.is(statSync(join(state, 'apps', 'pipuser', 'venv', 'bin')).uid, uid);
  assert.is(readFileSync(rootFile, 'utf8'), 'root\'s own\n');
  assert.ok(JSON.parse(readFileSync(join(state, 'apps', 'pipuser', 'venv', 'apppkg-venv.json'), 'utf8')).requirementsSha256);

  // The venv is the user's now: check, as root, asks its python what is installed as that user
  // (a .pth file there runs at its start).
  const lib = join(state, 'apps', 'pipuser', 'venv', 'lib');
  const pth = join(lib, readdirSync(lib)[0], 'site-packages', 'zz-uid.pth');
  const ranAs = join(app, 'pth-ran-as');
  writeFileSync(pth, `import os; open(${JSON.stringify(ranAs)}, 'a').write('%d\\n' % os.getuid())\n`);
  chownSync(pth, uid, gid);
  const check = await runCli(['check', app, '--state-dir', state, '--environment', envFile], { ms: 120_000 });
  assert.match(check.stdout, /ok\s+pip\s+0 requirements satisfied in venv /, check.stdout + check.stderr);
  const uids = readFileSync(ranAs, 'utf8').split('\n').filter(Boolean);
  assert.ok(uids.length > 0);
  assert.equal([...new Set(uids)], [String(uid)], check.stdout + check.stderr);
});

ifRoot("install as root reads the host's pip configuration as the app's user, whose pip builds the venv: an index it names is used, a target it sets refused", async () => {
  hostUser(USER);
  const app = makeApp(apps, 'pipconfuser', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  writeFileSync(join(app, 'requirements.txt'), 'userpkg==1.0\n');
  spawnSync('chown', ['-R', `${USER}:`, app]);
  // Readable by the app's user (work is 0755): the index, and the file PIP_CONFIG_FILE names.
  const index = fileIndex(join(work.path, 'user-mirror'), [['userpkg', '1.0']]);
  const conf = join(work.path, 'user-pip.conf');
  const target = join(work.path, 'user-target');
  writeFileSync(conf, `[global]\nindex-url = ${index}\n[install]\ntarget = ${target}\n`, { mode: 0o644 });
  const env = { PIP_CONFIG_FILE: conf, XDG_CONFIG_DIRS: join(work.path, 'no-xdg') };
  const refused = await runCli(['install', app, '--state-dir', state, '--environment', envFile], { env, ms: 180_000 });
  assert.is(refused.status, 1, refused.stdout + refused.stderr);
  assert.match(refused.stdout, `pip: the host's pip configuration sets target = ${target} ([install] of ${conf})`);
  assert.ok(!existsSync(target));

  writeFileSync(conf, `[global]\nindex-url = ${index}\n`, { mode: 0o644 });
  const r = await runCli(['install', app, '--state-dir', state, '--environment', envFile], { env, ms: 180_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, `(from the host's pip configuration: ${conf} (index-url))`);
  const venv = join(state, 'apps', 'pipconfuser', 'venv');
  assert.is(statSync(join(venv, 'bin')).uid, hostUser(USER).uid);
  const lib = join(venv, 'lib');
  assert.ok(existsSync(join(lib, readdirSync(lib)[0], 'site-packages', 'userpkg', '__init__.py')), r.stdout);
});

ifRoot('a requirements include the app\'s user cannot read: check and install say so and show none of it', async () => {
  hostUser(USER);
  const secret = join(work.path, 'secret.txt');
  writeFileSync(secret, 'password: hunter2\n', { mode: 0o600 });
  chownSync(secret, 0, 0);
  const app = makeApp(apps, 'pipsecret', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  writeFileSync(join(app, 'requirements.txt'), `-r ${secret}\n`);
  spawnSync('chown', ['-R', `${USER}:`, app]);

  const check = await runCli(['check', app, '--state-dir', state, '--environment', envFile], { ms: 120_000 });
  const checkOut = check.stdout + check.stderr;
  assert.not.match(checkOut, /hunter2/);
  const refusal = new RegExp(`pip: cannot read the requirements file ${secret}: the app's user, ${USER}, cannot read it \\(mode 0600`);
  assert.match(checkOut, /FAIL\s+pip/);
  assert.match(checkOut, refusal);

  const install = await runCli(['install', app, '--state-dir', state, '--environment', envFile], { ms: 120_000 });
  const installOut = install.stdout + install.stderr;
  assert.is(install.status, 1, installOut);
  assert.not.match(installOut, /hunter2/);
  assert.match(installOut, refusal);
  assert.match(installOut, new RegExp(`make the file readable by ${USER}`));

  // A group the user is in by /etc/group alone grants nothing: the app and pip run with their
  // primary group only (Node drops the others when it switches users), so check says so too.
  hostGroup(GROUP, [USER]);
  const byGroup = join(work.path, 'by-group.txt');
  writeFileSync(byGroup, 'password: hunter3\n', { mode: 0o640 });
  spawnSync('chown', [`root:${GROUP}`, byGroup]);
  writeFileSync(join(app, 'requirements.txt'), `-r ${byGroup}\n`);
  const groupCheck = await runCli(['check', app, '--state-dir', state, '--environment', envFile], { ms: 120_000 });
  const groupOut = groupCheck.stdout + groupCheck.stderr;
  assert.not.match(groupOut, /hunter3/);
  assert.match(groupOut, new RegExp(`pip: cannot read the requirements file ${byGroup}: the app's user, ${USER}, cannot read it \\(mode 0640`));
});

ifRoot('a requirements include under a root-only directory: check says the same whether the file is there or not, naming the directory', async () => {
  hostUser(USER);
  const vault = join(work.path, 'vault');
  mkdirSync(vault, { mode: 0o700 });
  writeFileSync(join(vault, 'there.txt'), 'password: hunter4\n', { mode: 0o644 });
  const app = makeApp(apps, 'pipvault', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  spawnSync('chown', ['-R', `${USER}:`, app]);
  const checkOf = async (name: string) => {
    writeFileSync(join(app, 'requirements.txt'), `-r ${join(vault, name)}\n`);
    const check = await runCli(['check', app, '--state-dir', state, '--environment', envFile], { ms: 120_000 });
    return (check.stdout + check.stderr).replaceAll(name, 'NAME');
  };
  const there = await checkOf('there.txt');
  const missing = await checkOf('missing.txt');
  assert.not.match(there, /hunter4/);
  assert.match(there, new RegExp(`cannot read it \\(no search permission on ${vault}: mode 0700, owner root`));
  assert.is(missing, there);
});

ifRoot('check\'s vendor line reads the manifest and what it names only as the app\'s user could: no hash of a root-only file compared', async () => {
  hostUser(USER);
  const secret = join(work.path, 'vendor-secret.txt');
  writeFileSync(secret, 'password: hunter4\n', { mode: 0o600 });
  chownSync(secret, 0, 0);
  const secretSha = createHash('sha256').update(readFileSync(secret)).digest('hex');
  const app = makeApp(apps, 'vendorsecret', 'platform: python, wsgi\napp: wsgi:application\npaths: vendor/\n');
  mkdirSync(join(app, 'vendor'));
  writeFileSync(join(app, 'requirements.txt'), '');
  const manifest = (requirements: { file: string; sha256: string }, otherFiles: Record<string, string> = {}) =>
    JSON.stringify({ format: 1, requirements, interpreter: { python: '', tag: '' }, distributions: [], otherFiles });
  const manifestFile = join(app, 'vendor', '.apppkg-vendor.json');
  const check = async () => {
    spawnSync('chown', ['-R', '-h', `${USER}:`, app]);
    const r = await runCli(['check', app, '--state-dir', state, '--environment', envFile], { ms: 120_000 });
    const out = r.stdout + r.stderr;
    assert.not.match(out, /hunter4/);
    return out;
  };

  // The manifest names the root-only file as its requirements, with its digest (readRequirementsTree's:
  // its path from the app, its bytes): whether it matches ("current with") would tell what the file holds.
  const treeSha = createHash('sha256').update(`${relative(app, secret)}\0`).update(readFileSync(secret)).update('\0').digest('hex');
  writeFileSync(manifestFile, manifest({ file: secret, sha256: treeSha }));
  const named = await check();
  assert.match(named, /FAIL\s+vendor/, named);
  assert.match(named, new RegExp(`cannot read the requirements file ${secret}: the app's user, ${USER}, cannot read it \\(mode 0600`), named);

  // A vendored file named as a path out of the vendor directory, with the root-only file's digest.
  const requirementsSha = createHash('sha256').update('requirements.txt\0\0').digest('hex');
  writeFileSync(manifestFile, manifest({ file: 'requirements.txt', sha256: requirementsSha }, { [relative(join(app, 'vendor'), secret)]: secretSha }));
  const viaFiles = await check();
  assert.match(viaFiles, /FAIL\s+vendor/, viaFiles);
  assert.match(viaFiles, /vendor-secret\.txt \(the app's user cannot read it\)/, viaFiles);

  // The manifest a link to the root-only file: not read, so not shown in a JSON error.
  rmSync(manifestFile);
  symlinkSync(secret, manifestFile);
  const linked = await check();
  assert.match(linked, /FAIL\s+vendor/, linked);
  assert.match(linked, /cannot read \.apppkg-vendor\.json: the app's user, apppkg-test-app, cannot read it/, linked);
});

ifRoot('export kubernetes and containerfile, as root, read app.yaml only as the app\'s user could: a link to a root-only file shows none of it', async () => {
  hostUser(USER);
  const secret = join(work.path, 'export-secret.yaml');
  writeFileSync(secret, 'python: "hunter5-kept-by-root"\n', { mode: 0o600 });
  chownSync(secret, 0, 0);
  const exportApps = join(work.path, 'export-apps');
  mkdirSync(exportApps);
  const app = makeApp(exportApps, 'exportsecret', 'platform: python, wsgi\napp: wsgi:application\n');
  rmSync(join(app, 'app.yaml'));
  symlinkSync(secret, join(app, 'app.yaml'));
  spawnSync('chown', ['-R', '-h', `${USER}:`, app]);
  const refusal = `may not read ${secret} (mode 0600, owner root, gid 0)`;

  const k8s = await runCli(['export', 'kubernetes', '--apps', exportApps, '--image', 'registry.example/{name}:{version}', '--out', join(work.path, 'export-out')], { ms: 60_000 });
  const k8sOut = k8s.stdout + k8s.stderr;
  assert.not.match(k8sOut, /hunter5/);
  assert.ok(k8sOut.includes(refusal), k8sOut);
  const recipe = await runCli(['export', 'containerfile', app], { ms: 60_000 });
  const recipeOut = recipe.stdout + recipe.stderr;
  assert.is(recipe.status, 1, recipeOut);
  assert.not.match(recipeOut, /hunter5/);
  assert.ok(recipeOut.includes(refusal), recipeOut);
});

ifRoot('export containerfile, as root, looks for the wheels requirement lines name only where the app\'s user could: a root-only directory tells nothing of what it holds', async () => {
  hostUser(USER);
  const app = makeApp(apps, 'wheeloracle', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  // In the app directory (the build context: a path outside it is said missing from the image unlooked).
  writeFileSync(join(app, 'requirements.txt'), './root-only-wheels/present-1.0-py3-none-any.whl\n./root-only-wheels/absent-1.0-py3-none-any.whl\n');
  spawnSync('chown', ['-R', `${USER}:`, app]);
  const hidden = join(app, 'root-only-wheels');
  mkdirSync(hidden, { mode: 0o700 });
  writeFileSync(join(hidden, 'present-1.0-py3-none-any.whl'), '');
  const recipe = await runCli(['export', 'containerfile', app], { ms: 60_000 });
  const out = recipe.stdout + recipe.stderr;
  assert.is(recipe.status, 0, out);
  // Both said as the user's pip would find them: not there (root's listing had the one there left out).
  assert.ok(out.includes('#   ./root-only-wheels/absent-1.0-py3-none-any.whl: no such file'), out);
  assert.ok(out.includes('#   ./root-only-wheels/present-1.0-py3-none-any.whl: no such file'), out);
});

/** The app and state root of the venv `export venv` built as the app's user (the test below), for the one after it. */
let exportedVenv: { app: string; state: string } | null = null;

/** An app owned by USER whose requirements name a local directory built by BACKEND; its `built-by-uid` file. */
function backendApp(name: string, yaml: string): { app: string; builtBy: string } {
  const app = makeApp(apps, name, yaml);
  mkdirSync(join(app, 'uidpkg'));
  writeFileSync(join(app, 'uidpkg', 'pyproject.toml'), '[build-system]\nrequires = []\nbuild-backend = "uidbackend"\nbackend-path = ["."]\n');
  writeFileSync(join(app, 'uidpkg', 'uidbackend.py'), BACKEND);
  writeFileSync(join(app, 'requirements.txt'), './uidpkg\n');
  spawnSync('chown', ['-R', `${USER}:`, app]);
  return { app, builtBy: join(app, 'uidpkg', 'built-by-uid') };
}

ifRoot('export venv and vendor, as root, run pip and the build of a source requirement as the app\'s user', async () => {
  const { uid } = hostUser(USER);
  const exported = backendApp('exportvenv', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\npython: ">=3.9"\n');
  // The image's interpreter: export venv names none but app.yaml's, and pyenv's under /root the user cannot run.
  const exportState = join(work.path, 'export-state');
  const venv = await runCli(['export', 'venv', exported.app, '--state-dir', exportState], { ms: 180_000, env: { PATH: `/usr/bin:/bin:${process.env.PATH}` } });
  assert.is(venv.status, 0, venv.stdout + venv.stderr);
  assert.is(readFileSync(exported.builtBy, 'utf8'), String(uid), venv.stdout + venv.stderr);
  assert.is(statSync(join(exportState, 'apps', 'exportvenv', 'venv', 'bin')).uid, uid);
  exportedVenv = { app: exported.app, state: exportState };

  const vendored = backendApp('vendoruser', 'platform: python, wsgi\napp: wsgi:application\npaths: vendor/\n');
  const vendor = await runCli(['vendor', vendored.app, '--no-index', '--environment', envFile], { ms: 180_000 });
  assert.is(vendor.status, 0, vendor.stdout + vendor.stderr);
  assert.is(readFileSync(vendored.builtBy, 'utf8'), String(uid), vendor.stdout + vendor.stderr);
  assert.ok(readFileSync(join(vendored.app, 'vendor', 'uidpkg.py'), 'utf8').includes('VERSION'));

  // An interpreter the app's user cannot run is said as such, not as one without pip.
  const hidden = join(work.path, 'root-only-python');
  mkdirSync(hidden, { mode: 0o700 });
  symlinkSync('/usr/bin/python3', join(hidden, 'python3'));
  const hiddenEnv = join(work.path, 'environment-hidden-python.yaml');
  writeFileSync(hiddenEnv, `python: ${join(hidden, 'python3')}\n`);
  const unrunnable = await runCli(['vendor', vendored.app, '--no-index', '--environment', hiddenEnv], { ms: 180_000 });
  assert.is(unrunnable.status, 1, unrunnable.stdout + unrunnable.stderr);
  assert.ok(unrunnable.stderr.includes(`user ${USER} cannot run it (EACCES)`), unrunnable.stdout + unrunnable.stderr);

  // What the user's build leaves in the stage is not followed by root into the vendor directory.
  const secret = join(work.path, 'stage-secret.txt');
  writeFileSync(secret, 'password: hunter6\n', { mode: 0o600 });
  chownSync(secret, 0, 0);
  writeFileSync(join(vendored.app, 'uidpkg', 'link-stage-to'), secret);
  writeFileSync(join(vendored.app, 'requirements.txt'), './uidpkg\n# again\n');
  spawnSync('chown', ['-R', `${USER}:`, vendored.app]);
  const linked = await runCli(['vendor', vendored.app, '--no-index', '--environment', envFile], { ms: 180_000 });
  const linkedOut = linked.stdout + linked.stderr;
  assert.is(linked.status, 1, linkedOut);
  assert.ok(linkedOut.includes(`staging directory holds what no wheel installs: leak.txt, a symlink (to ${secret}); nothing was changed`), linkedOut);
  assert.not.match(linkedOut, /hunter6/);
  assert.not.ok(existsSync(join(vendored.app, 'vendor', 'leak.txt')));
});

ifRoot('vendor, as root, writes the vendor directory as the app\'s user\'s, through no link its user left there', async () => {
  const { uid } = hostUser(USER);
  const wheels = join(work.path, 'vendor-link-wheels');
  mkdirSync(wheels);
  makeWheel(wheels, 'linkpkg', '1.0');
  chmodSync(wheels, 0o755);
  const app = makeApp(apps, 'vendorlinks', 'platform: python, wsgi\napp: wsgi:application\npaths: vendor/\n');
  writeFileSync(join(app, 'requirements.txt'), 'linkpkg\n');
  spawnSync('chown', ['-R', `${USER}:`, app]);
  const vendor = () => runCli(['vendor', app, '--no-index', '--find-links', wheels, '--environment', envFile], { ms: 180_000 });
  const first = await vendor();
  assert.is(first.status, 0, first.stdout + first.stderr);
  const vendorDir = join(app, 'vendor');
  assert.equal(notOwnedBy(`${vendorDir}/`, uid).map((f) => f.slice(vendorDir.length + 1)), [], 'vendor left files of root\'s in the app');

  // The user links a vendored directory to one of root's: root neither writes there nor opens it to all.
  const victim = join(work.path, 'vendor-victim');
  mkdirSync(victim, { mode: 0o700 });
  rmSync(join(vendorDir, 'linkpkg'), { recursive: true });
  symlinkSync(victim, join(vendorDir, 'linkpkg'));
  spawnSync('chown', ['-h', `${USER}:`, join(vendorDir, 'linkpkg')]);
  const linked = await vendor();
  assert.is(linked.status, 0, linked.stdout + linked.stderr);
  assert.equal(readdirSync(victim), [], 'root wrote into the directory the app\'s user linked');
  assert.is(statSync(victim).mode & 0o777, 0o700, 'root opened the directory the app\'s user linked to all');
  assert.ok(readFileSync(join(vendorDir, 'linkpkg', '__init__.py'), 'utf8').includes('1.0'));
  assert.is(statSync(join(vendorDir, 'linkpkg')).uid, uid);

  // The vendor directory itself a link: refused, nothing written where it leads.
  rmSync(vendorDir, { recursive: true });
  symlinkSync(victim, vendorDir);
  const refused = await vendor();
  assert.is(refused.status, 1, refused.stdout + refused.stderr);
  assert.ok(refused.stderr.includes(`vendor --into vendor/: expected a directory of the app, found a symlink (to ${victim}) at ${vendorDir}; nothing was changed`), refused.stderr);
  assert.equal(readdirSync(victim), []);
});

ifRoot('vendor, as root, takes the stage back from the app\'s user by descriptor: directories a process of that user\'s swaps for links to another\'s as root walks them lead root\'s chown nowhere', async () => {
  hostUser(USER);
  const other = hostUser(OTHER);
  const victim = victimTree(work.path, 'stage-victim', other.uid);
  const { app } = backendApp('vendorswaps', 'platform: python, wsgi\napp: wsgi:application\npaths: vendor/\n');
  writeFileSync(join(app, 'uidpkg', 'stage-dirs'), '2000');
  spawnSync('chown', ['-R', `${USER}:`, app]);
  const { status, out } = await vendorWhileLentSwapping(app, victim, 'stage');
  assert.ok(existsSync(join(app, 'uidpkg', 'lent-at')), `the build never ran: ${out}`);
  const taken = readdirSync(victim).filter((f) => statSync(join(victim, f)).uid !== other.uid);
  assert.equal(taken, [], `root chowned files of ${OTHER}'s the app's user linked into the stage: ${out}`);
  // Refused or done, said as either: never an error of root's walk, nor of the scratch
  // directory's removal (root's by then: the user's process can no longer change it).
  assert.ok(status === 0 || out.includes('staging directory holds what no wheel installs'), out);
});

ifRoot('vendor, as root, leaves no directory of the lent one writable by the app\'s user and removes it by descriptor: a 0777 directory the build made, its entries swapped for links to root\'s as root removes them, leads the removal nowhere', async () => {
  hostUser(USER);
  const victim = victimTree(work.path, 'removal-victim');
  const { app } = backendApp('vendoropen', 'platform: python, wsgi\napp: wsgi:application\npaths: vendor/\n');
  writeFileSync(join(app, 'uidpkg', 'open-dirs'), '2000');
  spawnSync('chown', ['-R', `${USER}:`, app]);
  const { status, out } = await vendorWhileLentSwapping(app, victim, 'open');
  assert.ok(existsSync(join(app, 'uidpkg', 'lent-at')), `the build never ran: ${out}`);
  assert.equal(readdirSync(victim).sort(), [...Array(10).keys()].map((i) => `f${i}`).sort(), `root removed files of its own where the app's user's links led: ${out}`);
  assert.is(status, 0, out);
});

ifHardlinks('vendor, as root, reads no pip.log the app\'s user left as a hard link to a file of another\'s, and says so', async () => {
  hostUser(USER);
  const secret = join(work.path, 'log-secret.txt');
  writeFileSync(secret, 'Running command a root-only build\nhunter6-root-only\nERROR: a root-only build exited with 1\n', { mode: 0o600 });
  chownSync(secret, 0, 0);
  const { app } = backendApp('vendorloglink', 'platform: python, wsgi\napp: wsgi:application\npaths: vendor/\n');
  writeFileSync(join(app, 'uidpkg', 'link-log-to'), secret);
  spawnSync('chown', ['-R', `${USER}:`, app]);
  const vendored = await withUnprotectedHardlinks(() => runCli(['vendor', app, '--no-index', '--environment', envFile], { ms: 180_000 }));
  const out = vendored.stdout + vendored.stderr;
  assert.is(vendored.status, 1, out);
  assert.not.match(out, /hunter6/);
  assert.ok(out.includes(`pip's log (pip.log) was not read for what it says: a file of root, not ${USER}'s (a hard link), left in its place by a process of ${USER}'s`), out);
  assert.is(readFileSync(secret, 'utf8').includes('hunter6'), true);
  assert.is(statSync(secret).uid, 0);
});

// BACKEND's build, which pip runs after it has written its report (`--report`, once the
// requirements are resolved: its metadata comes from the hook below, without a build), leaving
// in the report's place a file of the user's own with two names, which says that uidpkg was
// installed from a wheel for one interpreter and platform.
const FORGED_REPORT_BACKEND = `${inTreeBackend('uidpkg', `    report = os.path.join(os.environ['TMPDIR'], 'pip-report.json')
    twin = report + '.twin'
    with open(twin, 'w') as f:
        f.write('{"install": [{"metadata": {"name": "uidpkg"}, "download_info": {"url": "file:///w/uidpkg-1.0-cp311-cp311-linux_x86_64.whl"}}]}')
    os.unlink(report)
    os.link(twin, report)
`)}
def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    info = 'uidpkg-1.0.dist-info'
    os.mkdir(os.path.join(metadata_directory, info))
    with open(os.path.join(metadata_directory, info, 'METADATA'), 'w') as f:
        f.write('Metadata-Version: 2.1\\nName: uidpkg\\nVersion: 1.0\\n')
    return info
`;

ifRoot('vendor, as root, reads no pip report the app\'s user left with two names, says so, and takes each distribution\'s tags from its WHEEL file', async () => {
  hostUser(USER);
  const { app } = backendApp('vendorreportlink', 'platform: python, wsgi\napp: wsgi:application\npaths: vendor/\n');
  writeFileSync(join(app, 'uidpkg', 'uidbackend.py'), FORGED_REPORT_BACKEND);
  spawnSync('chown', ['-R', `${USER}:`, app]);
  const vendored = await runCli(['vendor', app, '--no-index', '--environment', envFile], { ms: 180_000 });
  const out = vendored.stdout + vendored.stderr;
  // Read, the report's wheel for cp311 on linux_x86_64 made uidpkg a binary distribution, refused without --allow-binary.
  assert.is(vendored.status, 0, out);
  assert.ok(out.includes(`==> pip's report (pip-report.json) not read: a hard link (a file with 2 names), left by a process of ${USER}'s; each distribution's WHEEL file tells its tags instead`), out);
  assert.match(out, /uidpkg 1\.0\n/, out);
  assert.ok(readFileSync(join(app, 'vendor', 'uidpkg.py'), 'utf8').includes('VERSION'));
});

/**
 * `vendor APP --no-index` run while a process of USER's swaps LENT/WHERE/sub* for links to
 * `victim` and back (LENT_SWAPPER), from the build's start (the build waits for it) until vendor
 * has ended; the process is stopped, and waited for, whatever happens.
 */
async function vendorWhileLentSwapping(app: string, victim: string, where: string): Promise<{ status: number | null; out: string }> {
  const signals = join(work.path, 'signals');
  mkdirSync(signals, { recursive: true, mode: 0o777 });
  chmodSync(signals, 0o777);
  const stop = join(signals, `stop-lent-swapper-${where}-${Date.now()}`);
  const swapper = spawn('python3', ['-c', LENT_SWAPPER, join(app, 'uidpkg', 'lent-at'), victim, stop, where], { uid: idOf(USER, '-u'), gid: idOf(USER, '-g'), cwd: '/', stdio: 'ignore' });
  const exited = new Promise((resolve) => swapper.on('close', resolve));
  try {
    await waitFor(() => existsSync(`${stop}.started`), 20_000, 'the swapping process to start');
    const vendored = await runCli(['vendor', app, '--no-index', '--environment', envFile], { ms: 180_000 });
    return { status: vendored.status, out: vendored.stdout + vendored.stderr };
  } finally {
    writeFileSync(stop, '');
    await within(20_000, 'the swapping process to stop', exited);
  }
}

ifRoot('root follows no link out of the user\'s venv but to its interpreter; an app\'s venv.py does not run in its venv\'s build', async () => {
  assert.ok(exportedVenv, 'the export venv test before this one built the venv');
  const { app, state: venvState } = exportedVenv;
  const check = async () => {
    const r = await runCli(['check', app, '--state-dir', venvState, '--environment', envFile], { ms: 120_000 });
    return (r.stdout + r.stderr).split('\n').find((line) => /\bpip\b/.test(line)) ?? r.stdout + r.stderr;
  };
  const venvLine = await check();
  assert.match(venvLine, /in venv /, venvLine);

  // bin/python3, the user's, made a link into a directory only root may search: whether what it
  // names is there must not change what check says (root's access(2) of it said "venv" or not).
  const rootOnly = join(work.path, 'root-only-bin');
  mkdirSync(rootOnly, { mode: 0o700 });
  symlinkSync('/usr/bin/python3', join(rootOnly, 'python3'));
  const python3 = join(venvState, 'apps', 'exportvenv', 'venv', 'bin', 'python3');
  const kept = join(work.path, 'python3-link');
  renameSync(python3, kept);
  symlinkSync(join(rootOnly, 'python3'), python3);
  const there = await check();
  rmSync(python3);
  symlinkSync(join(rootOnly, 'absent'), python3);
  const absent = await check();
  rmSync(python3);
  renameSync(kept, python3);
  assert.is(there, absent);
  assert.not.match(there, /in venv /, there);

  // The app's venv.py, which `-m venv` imported in place of the standard library's when it ran in
  // the app directory: the app's user builds the venv beside it, where the app has no files.
  const shadowed = backendApp('venvshadow', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  writeFileSync(join(shadowed.app, 'venv.py'), 'raise SystemExit("the app\'s venv.py ran")\n');
  spawnSync('chown', ['-R', `${USER}:`, shadowed.app]);
  const install = await runCli(['install', shadowed.app, '--state-dir', state, '--environment', envFile], { ms: 180_000 });
  const installOut = install.stdout + install.stderr;
  assert.is(install.status, 0, installOut);
  assert.not.match(installOut, /the app's venv\.py ran/);
});

test.run();
