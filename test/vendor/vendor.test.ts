// `apppkg-gateway vendor` (issue 19): the requirements installed offline, from wheels built
// here, into the app's vendor/ with a manifest and relocatable console scripts; the same tree
// wherever and however often it is made; versions kept until --update; what is no longer
// required removed; `check` reporting a stale or edited vendor dir with the command that
// refreshes it; `init` offering the vendor way. Real pip, real Python, no index.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { appendFileSync, cpSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { recordingAgentPrograms } from '../helpers/pip-agent.js';
import { runCli, tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { fileIndex } from '../lifecycle/lifecycle-apps.js';
import { BUILD_PYTHON, BUILD_REASON, buildWheels, canBuildWheels, filesContaining, treeDigest } from './vendor-fixtures.js';

const test = suite('vendor');
const ifWheels = runIf(test, canBuildWheels, BUILD_REASON);
const work = tempDir('apppkg-vendor-test-');
const state = join(work.path, 'state');
const wheels = join(work.path, 'wheels');
// The app's interpreter is the one the environment file names: Debian's, which has pip.
const envFile = join(work.path, 'environment.yaml');
const OFFLINE = ['--find-links', wheels, '--no-index', '-e', envFile];
const CHECK = ['-e', envFile, '--state-dir', state];

test.before(() => {
  writeFileSync(envFile, `python: ${BUILD_PYTHON}\n`);
  // demo-tools too, in the same pip run: a pip run of its own is seconds of CPU for one wheel.
  if (canBuildWheels) buildWheels(wheels, ['demo-greeting', 'demo-words', 'demo-tools']);
});
test.after(() => work.remove());

const WSGI = 'from demo_greeting import greeting\n\ndef application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [greeting("app").encode()]\n';

function makeApp(name: string, requirements = 'apppkg-demo-greeting==1.0\n'): string {
  const dir = join(work.path, 'apps', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npaths: [vendor/]\n');
  writeFileSync(join(dir, 'wsgi.py'), WSGI);
  writeFileSync(join(dir, 'requirements.txt'), requirements);
  return dir;
}

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

function manifestOf(app: string): any {
  return JSON.parse(readFileSync(join(app, 'vendor', '.apppkg-vendor.json'), 'utf8'));
}

function runScript(file: string, args: string[]): { status: number | null; out: string } {
  // PATH without the caller's: the script must need nothing but a python3 and its own location.
  const r = spawnSync(file, args, { encoding: 'utf8', cwd: '/', env: { PATH: '/usr/bin:/bin' }, timeout: 30_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}${r.error ? String(r.error) : ''}` };
}

let shop: string;

ifWheels('vendor installs the requirements offline into vendor/: manifest, relocatable console script, advice once; pip makes no user agent offline (no lsb_release, no rustc)', async () => {
  shop = makeApp('shop');
  const agent = recordingAgentPrograms(work.path);
  const r = await runCli(['vendor', shop, ...OFFLINE], { ms: 180_000, env: { PATH: `${agent.dir}:${process.env.PATH}` } });
  assert.is(r.status, 0, r.stdout + r.stderr);
  // They were a second of CPU of every pip run, for a header that an offline install never sends.
  assert.is(readFileSync(agent.ran, 'utf8'), '', 'pip ran them for its user agent');
  // The app's interpreter (the environment file's python:) ran pip.
  assert.match(r.stdout, new RegExp(`vendoring requirements\\.txt into vendor/ with ${BUILD_PYTHON} 3\\.\\d+`));
  assert.match(r.stdout, /note: commit vendor\/ with the app/);
  assert.match(r.stdout, /__pycache__\//);

  const vendor = join(shop, 'vendor');
  const text = readFileSync(join(vendor, '.apppkg-vendor.json'), 'utf8');
  const manifest = JSON.parse(text);
  // Written in one canonical form: parsing and writing it again gives the same bytes.
  assert.is(text, `${JSON.stringify(manifest, null, 2)}\n`);
  assert.equal(manifest.distributions.map((d: any) => [d.name, d.version, d.requested, d.binary]), [
    ['apppkg-demo-greeting', '1.0', true, false],
    ['apppkg-demo-words', '1.0', false, false],
  ]);
  assert.equal(manifest.distributions[0].tags, ['py3-none-any']);
  assert.equal(manifest.distributions[0].scripts, ['bin/demo-greeting']);
  assert.is(manifest.requirements.file, 'requirements.txt');
  assert.match(manifest.requirements.sha256, /^[0-9a-f]{64}$/);
  assert.match(manifest.interpreter.python, /^cp3\d+$/);
  assert.match(manifest.interpreter.tag, /^cp3\d+-cp3\d+-\w+$/);
  for (const d of manifest.distributions) {
    const files = Object.keys(d.files);
    assert.equal(files, [...files].sort(), `${d.name}: files sorted`);
  }
  // The directory holds exactly what the manifest lists, and nothing of pip's that cannot travel.
  const listed = manifest.distributions.flatMap((d: any) => Object.keys(d.files));
  assert.equal(Object.keys(treeDigest(vendor)).sort(), [...listed, '.apppkg-vendor.json'].sort());
  assert.ok(!listed.some((f: string) => f.includes('__pycache__') || f.endsWith('direct_url.json')));
  const record = readFileSync(join(vendor, 'apppkg_demo_greeting-1.0.dist-info', 'RECORD'), 'utf8');
  assert.match(record, /^bin\/demo-greeting,sha256=[\w-]+,\d+$/m);
  assert.not.match(record, /\.\.\//);
  // No absolute path inside: not the app's, not the wheels', not the interpreter's, not pip's staging dir.
  for (const needle of [shop, wheels, BUILD_PYTHON, 'apppkg-vendor-']) assert.equal(filesContaining(vendor, needle), [], needle);

  const script = join(vendor, 'bin', 'demo-greeting');
  assert.is(statSync(script).mode & 0o777, 0o755);
  assert.is(readFileSync(script, 'utf8').split('\n')[0], '#!/usr/bin/env python3');
  const ran = runScript(script, ['Ann']);
  assert.is(ran.status, 0, ran.out);
  assert.is(ran.out.trim(), 'Hello, Ann! (apppkg-demo-words 1.0)');

  const check = await runCli(['check', shop, ...CHECK]);
  assert.is(check.status, 0, check.stdout + check.stderr);
  assert.match(check.stdout, /ok\s+vendor\s+vendor\/ current with requirements\.txt, files as vendored: 2 distributions \(apppkg-demo-greeting 1\.0, apppkg-demo-words 1\.0\)/);
  assert.match(check.stdout, /ok\s+app\s+wsgi:application imports/);
});

ifWheels('vendor again changes nothing: same bytes, same mtimes, no advice', async () => {
  const vendor = join(shop, 'vendor');
  const before = treeDigest(vendor);
  // What Python leaves when the app runs is not the tree's: it goes, and nothing else moves.
  mkdirSync(join(vendor, 'demo_greeting', '__pycache__'), { recursive: true });
  writeFileSync(join(vendor, 'demo_greeting', '__pycache__', 'x.pyc'), 'cache');
  const mtime = statSync(join(vendor, 'demo_greeting', '__init__.py')).mtimeMs;
  const r = await runCli(['vendor', shop, ...OFFLINE], { ms: 180_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /files 0 added, 0 changed, 0 removed/);
  assert.ok(!existsSync(join(vendor, 'demo_greeting', '__pycache__')), 'Python\'s caches are removed');
  assert.not.match(r.stdout, /note: commit/);
  assert.equal(treeDigest(vendor), before);
  assert.is(statSync(join(vendor, 'demo_greeting', '__init__.py')).mtimeMs, mtime);
});

// One vendor run holds both claims: another location, and a umask that takes everyone's bits.
ifWheels('the same requirements and wheels give the same tree wherever the app lies, and under umask 077, directories 0755 too: an app run as another user can read it', async () => {
  const other = join(work.path, 'elsewhere', 'deeper', 'shop-copy');
  cpSync(shop, other, { recursive: true, filter: (p) => !p.endsWith('/vendor') });
  assert.ok(!existsSync(join(other, 'vendor')));
  const umask = process.umask(0o077);
  let r;
  try {
    r = await runCli(['vendor', other, ...OFFLINE], { ms: 180_000 });
  } finally {
    process.umask(umask);
  }
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.equal(treeDigest(join(other, 'vendor')), treeDigest(join(shop, 'vendor')));
  const vendor = join(other, 'vendor');
  const dirs = ['', ...(readdirSync(vendor, { recursive: true }) as string[])].filter((rel) => statSync(join(vendor, rel)).isDirectory());
  assert.ok(dirs.includes('bin') && dirs.includes('demo_greeting'), dirs.join(', '));
  for (const rel of dirs) assert.is((statSync(join(vendor, rel)).mode & 0o777).toString(8), '755', `vendor/${rel}`);
});

ifWheels('vendor/bin is on the PATH of the app\'s commands and processes, as a virtualenv\'s bin is, wherever the app is copied', async () => {
  const copy = join(work.path, 'copied', 'shop');
  cpSync(shop, copy, { recursive: true });
  writeFileSync(join(copy, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npaths: [vendor/]\ncommands:\n  test: demo-greeting Zed\n');
  const tested = await runCli(['test', copy, ...CHECK]);
  assert.is(tested.status, 0, tested.stdout + tested.stderr);
  assert.match(tested.stdout, /Hello, Zed! \(apppkg-demo-words 1\.0\)/);
  const ran = await runCli(['run', copy, ...CHECK, '--', 'sh', '-c', 'command -v demo-greeting']);
  assert.is(ran.stdout.trim(), join(copy, 'vendor', 'bin', 'demo-greeting'), ran.stdout + ran.stderr);
});

ifWheels('a distribution\'s own scripts (setup.py scripts=) are kept in vendor/bin, the Python ones running from wherever the app is copied', async () => {
  const app = makeApp('tools', 'apppkg-demo-tools==1.0\n');
  const r = await runCli(['vendor', app, ...OFFLINE], { ms: 180_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  const tools = manifestOf(app).distributions.find((d: any) => d.name === 'apppkg-demo-tools');
  assert.equal(tools.scripts, ['bin/demo-tools', 'bin/demo-tools-future', 'bin/demo-tools-py', 'bin/demo-tools-sh']);
  const record = readFileSync(join(app, 'vendor', 'apppkg_demo_tools-1.0.dist-info', 'RECORD'), 'utf8');
  for (const script of tools.scripts) assert.match(record, new RegExp(`^${script},sha256=[\\w-]+,\\d+$`, 'm'));
  for (const needle of [app, wheels, BUILD_PYTHON, 'apppkg-vendor-']) assert.equal(filesContaining(join(app, 'vendor'), needle), [], needle);

  const copy = join(work.path, 'copied', 'tools');
  cpSync(app, copy, { recursive: true });
  const bin = join(copy, 'vendor', 'bin');
  // The shell script is kept byte for byte; the Python ones find vendor/ as the entry point's script does.
  assert.is(readFileSync(join(bin, 'demo-tools-sh'), 'utf8'), '#!/bin/sh\necho "demo-tools-sh: $*"\n');
  for (const name of ['demo-tools-sh', 'demo-tools-py', 'demo-tools-future']) assert.is(statSync(join(bin, name)).mode & 0o777, 0o755, name);
  assert.equal(readFileSync(join(bin, 'demo-tools-py'), 'utf8').split('\n').slice(0, 2), ['#!/usr/bin/env python3', '# -*- coding: utf-8 -*-']);
  assert.is(runScript(join(bin, 'demo-tools-sh'), ['a', 'b']).out.trim(), 'demo-tools-sh: a b');
  const py = runScript(join(bin, 'demo-tools-py'), ['a', 'b']);
  assert.is(py.out.trim(), 'demo-tools-py: a b (apppkg-demo-words 1.0)', py.out);
  const future = runScript(join(bin, 'demo-tools-future'), []);
  assert.is(future.out.trim(), 'demo-tools-future: Says who runs it. (apppkg-demo-words 1.0)', future.out);
  assert.is(runScript(join(bin, 'demo-tools'), []).out.trim(), 'demo-tools entry point, apppkg-demo-words 1.0');

  const check = await runCli(['check', copy, ...CHECK]);
  assert.match(check.stdout, /ok\s+vendor\s+vendor\/ current with requirements\.txt, files as vendored: 2 distributions/, check.stdout);
});

ifWheels('check reports a stale or edited vendor dir with the command that refreshes it', async () => {
  appendFileSync(join(shop, 'requirements.txt'), 'apppkg-demo-words\n');
  const stale = await runCli(['check', shop, ...CHECK]);
  assert.is(stale.status, 1, stale.stdout + stale.stderr);
  assert.match(stale.stdout, /FAIL\s+vendor\s+\S+app\.yaml:3:9: vendor\/ is stale: requirements\.txt changed since it was vendored/);
  const fix = /fix: run `(apppkg-gateway vendor [^`]+)`/.exec(stale.stdout)?.[1];
  // Vendored with --no-index and a wheel directory outside the app: that one is not recorded.
  // The environment file that picks the app's interpreter is named, so that pip runs on it again.
  assert.is(fix, `apppkg-gateway vendor ${shop} --from requirements.txt --into vendor/ --no-index --find-links DIR --environment ${envFile}`);

  // The command it names, DIR said, makes the directory current.
  const refresh = await runCli(fix!.replace('DIR', wheels).split(' ').slice(1), { ms: 180_000 });
  assert.match(refresh.stdout, new RegExp(`vendoring requirements\\.txt into vendor/ with ${BUILD_PYTHON} 3\\.\\d+`));
  assert.is(refresh.status, 0, refresh.stdout + refresh.stderr);
  const ok = await runCli(['check', shop, ...CHECK]);
  assert.is(ok.status, 0, ok.stdout + ok.stderr);

  appendFileSync(join(shop, 'vendor', 'demo_greeting', '__init__.py'), '# a local patch\n');
  const edited = await runCli(['check', shop, ...CHECK]);
  assert.is(edited.status, 1, edited.stdout);
  assert.match(edited.stdout, /FAIL\s+vendor\s+\S+app\.yaml:3:9: vendor\/: not as vendor wrote it \(\.apppkg-vendor\.json\): 1 file: demo_greeting\/__init__\.py \(changed\)/);
  assert.match(edited.stdout, /fix: run `apppkg-gateway vendor .* --into vendor\/ --no-index --find-links DIR --environment \S+` to restore them/);
  const restore = await runCli(['vendor', shop, ...OFFLINE], { ms: 180_000 });
  assert.match(restore.stdout, /files 0 added, 1 changed, 0 removed/);
  assert.is((await runCli(['check', shop, ...CHECK])).status, 0);
});

ifWheels('pip\'s --index-url and --extra-index-url pass through, and check\'s command names them again', async () => {
  // A PEP 503 index in files (pip reads a file: URL's index.html), holding nothing but the wheels.
  const index = join(work.path, 'index');
  for (const project of ['apppkg-demo-greeting', 'apppkg-demo-words']) {
    mkdirSync(join(index, project), { recursive: true });
    const links = readdirSync(wheels).map((w) => `<a href="../../wheels/${w}">${w}</a>`);
    writeFileSync(join(index, project, 'index.html'), `<!DOCTYPE html><html><body>${links.join('\n')}</body></html>\n`);
  }
  const empty = join(work.path, 'empty-index');
  mkdirSync(empty, { recursive: true });
  const app = makeApp('indexed');
  const r = await runCli(['vendor', app, '-i', `file://${index}`, '--extra-index-url', `file://${empty}`, '-e', envFile], { ms: 180_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`pip install --target \\(a staging directory\\) --index-url file://${index} -r requirements\\.txt`));
  // A file: URL names a host's directory as a path does: not in the manifest (SPEC 5.9: no
  // absolute paths), DIR in check's command, for the user to name.
  assert.equal(manifestOf(app).sources, { noIndex: false, findLinks: [], findLinksElsewhere: 0, indexUrl: 'DIR', extraIndexUrls: ['DIR'] });
  assert.equal(filesContaining(join(app, 'vendor'), work.path), [], 'no host path in vendor/');
  assert.is(runScript(join(app, 'vendor', 'bin', 'demo-greeting'), ['Cy']).status, 0);

  appendFileSync(join(app, 'requirements.txt'), 'apppkg-demo-words\n');
  const stale = await runCli(['check', app, ...CHECK]);
  const fix = /fix: run `(apppkg-gateway vendor [^`]+)`/.exec(stale.stdout)?.[1];
  assert.is(fix, `apppkg-gateway vendor ${app} --from requirements.txt --into vendor/ --index-url DIR --extra-index-url DIR --environment ${envFile}`);
  const refresh = await runCli(fix!.replace('DIR', `file://${index}`).replace('DIR', `file://${empty}`).split(' ').slice(1), { ms: 180_000 });
  assert.is(refresh.status, 0, refresh.stdout + refresh.stderr);
  assert.is((await runCli(['check', app, ...CHECK])).status, 0);
});

ifWheels('an index over HTTP gets pip\'s own user agent, rustc\'s version in it, though pip makes it only when it sends a request', async () => {
  const agents: string[] = [];
  const server = createServer((req, res) => {
    agents.push(String(req.headers['user-agent']));
    const project = /^\/simple\/([\w.-]+)\/$/.exec(req.url ?? '')?.[1];
    const wheel = /^\/wheels\/([\w.-]+\.whl)$/.exec(req.url ?? '')?.[1];
    if (project !== undefined) {
      const links = readdirSync(wheels).filter((w) => w.startsWith(`${project.replace(/-/g, '_')}-`)).map((w) => `<a href="/wheels/${w}">${w}</a>`);
      res.setHeader('Content-Type', 'text/html');
      res.end(`<!DOCTYPE html><html><body>${links.join('\n')}</body></html>\n`);
    } else if (wheel !== undefined && existsSync(join(wheels, wheel))) {
      res.end(readFileSync(join(wheels, wheel)));
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const agent = recordingAgentPrograms(work.path);
    const app = makeApp('agent');
    const r = await runCli(['vendor', app, '-i', `http://127.0.0.1:${port}/simple/`, '-e', envFile], { ms: 180_000, env: { PATH: `${agent.dir}:${process.env.PATH}`, NO_PROXY: '127.0.0.1' } });
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.ok(agents.length > 0, 'pip asked the index');
    for (const ua of agents) assert.match(ua, /^pip\/\d+\S* \{.*"rustc_version":"9\.9\.9"/, ua);
    assert.match(readFileSync(agent.ran, 'utf8'), /^rustc$/m);
  } finally {
    server.close();
  }
});

ifWheels('PIP_USER=1, or `user = true` in pip.conf, does not break vendor (pip refuses --user with --target); the rest of pip\'s configuration is still read', async () => {
  // Its wheels found by PIP_* alone: the configuration is pip's, but for `user`.
  const app = makeApp('pip-user');
  const r = await runCli(['vendor', app, '-e', envFile], { ms: 180_000, env: { PIP_USER: '1', PIP_NO_INDEX: '1', PIP_FIND_LINKS: wheels } });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.ok(existsSync(join(app, 'vendor', 'bin', 'demo-greeting')));
  const conf = join(work.path, 'pip-user.conf');
  writeFileSync(conf, '[install]\nuser = true\n');
  const again = makeApp('pip-conf-user');
  const byConf = await runCli(['vendor', again, ...OFFLINE], { ms: 180_000, env: { PIP_CONFIG_FILE: conf } });
  assert.is(byConf.status, 0, byConf.stdout + byConf.stderr);
  assert.equal(manifestOf(again).distributions.map((d: any) => d.name), ['apppkg-demo-greeting', 'apppkg-demo-words']);
});

ifWheels('a package of the interpreter\'s own whose requirement the vendored versions break is not reported as a conflict: vendor changes no package of the interpreter', async () => {
  // The interpreter: a virtualenv without pip of its own (Debian's, through its system site),
  // holding a distribution that requires apppkg-demo-words<1.0; vendor installs 1.0 into vendor/.
  const venv = join(work.path, 'shadowed-venv');
  const made = spawnSync(BUILD_PYTHON, ['-m', 'venv', '--without-pip', '--system-site-packages', venv], { encoding: 'utf8', timeout: 60_000 });
  assert.is(made.status, 0, made.stdout + made.stderr);
  const site = spawnSync(join(venv, 'bin', 'python'), ['-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'], { encoding: 'utf8' }).stdout.trim();
  mkdirSync(join(site, 'apppkg_shadowed-1.0.dist-info'), { recursive: true });
  writeFileSync(join(site, 'apppkg_shadowed-1.0.dist-info', 'METADATA'), 'Metadata-Version: 2.1\nName: apppkg-shadowed\nVersion: 1.0\nRequires-Dist: apppkg-demo-words<1.0\n');
  const venvEnv = join(work.path, 'shadowed.yaml');
  writeFileSync(venvEnv, `python: ${join(venv, 'bin', 'python')}\n`);
  const app = makeApp('shadowed');
  const r = await runCli(['vendor', app, '--find-links', wheels, '--no-index', '-e', venvEnv], { ms: 180_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`vendoring requirements\\.txt into vendor/ with ${join(venv, 'bin', 'python')} `));
  // pip said "ERROR: ... apppkg-shadowed 1.0 requires apppkg-demo-words<1.0, but you have
  // apppkg-demo-words 1.0 which is incompatible", of the interpreter, which has no such version.
  assert.not.match(r.stdout + r.stderr, /apppkg-shadowed|dependency conflicts|ERROR/);
  assert.equal(manifestOf(app).distributions.map((d: any) => `${d.name} ${d.version}`), ['apppkg-demo-greeting 1.0', 'apppkg-demo-words 1.0']);
});

ifWheels("`prefix` or `root` in pip's configuration (a PIP_* variable, pip.conf) is refused before pip runs, naming where it is set; `dry-run` is undone; vendor/ is not changed", async () => {
  // A vendored app: a copy of shop, vendored by the tests above (a vendor run of its own is seconds of CPU).
  const app = join(work.path, 'apps', 'pip-destination');
  cpSync(shop, app, { recursive: true });
  const before = treeDigest(join(app, 'vendor'));
  // pip refuses it beside --target ("Cannot set --home and --prefix together").
  const byVariable = await runCli(['vendor', app, ...OFFLINE], { ms: 180_000, env: { PIP_PREFIX: join(work.path, 'prefix') } });
  assert.is(byVariable.status, 1, byVariable.stdout + byVariable.stderr);
  assert.ok(byVariable.stderr.includes(`vendor: pip's configuration sets prefix = ${join(work.path, 'prefix')} (PIP_PREFIX), a destination that \`pip install --target\` cannot run under; vendor/ was not changed`), byVariable.stderr);
  assert.ok(byVariable.stderr.includes('fix: run vendor without PIP_PREFIX (`env -u PIP_PREFIX apppkg-gateway vendor ...`)'), byVariable.stderr);
  assert.not.match(byVariable.stdout, /pip install --target/);
  // pip installs under `root`, the stage stays empty, and vendor/ was emptied to match it.
  const conf = join(work.path, 'pip-destination.conf');
  writeFileSync(conf, `[global]\nroot = ${join(work.path, 'root')}\n[install]\nprefix =\n`);
  const byFile = await runCli(['vendor', app, ...OFFLINE], { ms: 180_000, env: { PIP_CONFIG_FILE: conf } });
  assert.is(byFile.status, 1, byFile.stdout + byFile.stderr);
  assert.ok(byFile.stderr.includes(`sets root = ${join(work.path, 'root')} ([global] of ${conf}), a destination`), byFile.stderr);
  assert.ok(byFile.stderr.includes(`fix: remove \`root\` from [global] of ${conf} (every \`pip install\` goes there while it is set)`), byFile.stderr);
  assert.not.ok(existsSync(join(work.path, 'root')));
  assert.equal(treeDigest(join(app, 'vendor')), before);
  // A dry run installs nothing, and vendor/ was emptied to match that too.
  writeFileSync(conf, '[install]\ndry-run = true\n');
  const dry = await runCli(['vendor', app, ...OFFLINE], { ms: 180_000, env: { PIP_CONFIG_FILE: conf } });
  assert.is(dry.status, 0, dry.stdout + dry.stderr);
  assert.equal(manifestOf(app).distributions.map((d: any) => d.name), ['apppkg-demo-greeting', 'apppkg-demo-words']);
  assert.equal(treeDigest(join(app, 'vendor')), before);
});

ifWheels('versions stay as vendored until --update NAME; what is no longer required is removed', async () => {
  buildWheels(wheels, ['demo-words'], { DEMO_WORDS_VERSION: '1.1' });
  const kept = await runCli(['vendor', shop, ...OFFLINE], { ms: 180_000 });
  assert.is(kept.status, 0, kept.stdout + kept.stderr);
  assert.match(kept.stdout, /keeping the vendored versions of 2 distributions/);
  assert.is(manifestOf(shop).distributions[1].version, '1.0');

  const unknown = await runCli(['vendor', shop, '--update', 'apppkg-demo-wrods', ...OFFLINE]);
  assert.is(unknown.status, 2, unknown.stdout + unknown.stderr);
  assert.match(unknown.stderr, /--update apppkg-demo-wrods: expected one of the vendored distributions, found apppkg-demo-greeting, apppkg-demo-words/);

  const updated = await runCli(['vendor', shop, '--update', 'apppkg-demo-words', ...OFFLINE], { ms: 180_000 });
  assert.is(updated.status, 0, updated.stdout + updated.stderr);
  assert.match(updated.stdout, /keeping the vendored versions of apppkg-demo-greeting==1\.0 \(updating apppkg-demo-words\)/);
  assert.equal(manifestOf(shop).distributions.map((d: any) => `${d.name} ${d.version}`), ['apppkg-demo-greeting 1.0', 'apppkg-demo-words 1.1']);
  assert.ok(!existsSync(join(shop, 'vendor', 'apppkg_demo_words-1.0.dist-info')), 'the old version is gone');
  assert.is(runScript(join(shop, 'vendor', 'bin', 'demo-greeting'), ['Bo']).out.trim(), 'Hello, Bo! (apppkg-demo-words 1.1)');

  // greeting dropped: its package, dist-info and script go; a file of the user's stays.
  writeFileSync(join(shop, 'vendor', 'NOTES.txt'), 'mine\n');
  writeFileSync(join(shop, 'requirements.txt'), 'apppkg-demo-words\n');
  const dropped = await runCli(['vendor', shop, ...OFFLINE], { ms: 180_000 });
  assert.is(dropped.status, 0, dropped.stdout + dropped.stderr);
  assert.match(dropped.stdout, /vendor\/NOTES\.txt: not written by vendor, left as it is/);
  assert.match(dropped.stdout, /files 0 added, \d+ changed, [1-9]\d* removed/);
  for (const gone of ['bin', 'demo_greeting', 'apppkg_demo_greeting-1.0.dist-info']) assert.ok(!existsSync(join(shop, 'vendor', gone)), gone);
  assert.ok(existsSync(join(shop, 'vendor', 'NOTES.txt')));
  assert.equal(manifestOf(shop).distributions.map((d: any) => `${d.name} ${d.version}`), ['apppkg-demo-words 1.1']);
});

ifWheels('vendor leaves a directory it did not fill as it was, and says what to do', async () => {
  const app = makeApp('handmade');
  mkdirSync(join(app, 'vendor'));
  writeFileSync(join(app, 'vendor', 'oldlib.py'), 'X = 1\n');
  const r = await runCli(['vendor', app, ...OFFLINE], { ms: 180_000 });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /\/vendor holds 1 file but no manifest \(\.apppkg-vendor\.json\); nothing was changed/);
  assert.match(r.stderr, /fix: move it away \(`mv /);
  assert.ok(!existsSync(join(app, 'vendor', '.apppkg-vendor.json')));
  assert.is(readFileSync(join(app, 'vendor', 'oldlib.py'), 'utf8'), 'X = 1\n');
});

ifWheels('wheels inside the app: check\'s command names them, and refreshes offline as it is', async () => {
  const app = makeApp('carried');
  cpSync(wheels, join(app, 'wheels'), { recursive: true });
  const first = await runCli(['vendor', app, '--find-links', join(app, 'wheels'), '--no-index', '-e', envFile], { ms: 180_000 });
  assert.is(first.status, 0, first.stdout + first.stderr);
  const manifest = JSON.parse(readFileSync(join(app, 'vendor', '.apppkg-vendor.json'), 'utf8'));
  assert.equal(manifest.sources, { noIndex: true, findLinks: ['wheels'], findLinksElsewhere: 0 });
  // The same directory as a file: URL is recorded the same: relative, whereever the app is.
  const asUrl = await runCli(['vendor', app, '--find-links', `file://${join(app, 'wheels')}`, '--no-index', '-e', envFile], { ms: 180_000 });
  assert.is(asUrl.status, 0, asUrl.stdout + asUrl.stderr);
  assert.equal(JSON.parse(readFileSync(join(app, 'vendor', '.apppkg-vendor.json'), 'utf8')).sources, manifest.sources);
  appendFileSync(join(app, 'requirements.txt'), 'apppkg-demo-words\n');
  const stale = await runCli(['check', app, ...CHECK]);
  const fix = /fix: run `(apppkg-gateway vendor [^`]+)`/.exec(stale.stdout)?.[1];
  assert.is(fix, `apppkg-gateway vendor ${app} --from requirements.txt --into vendor/ --no-index --find-links ${join(app, 'wheels')} --environment ${envFile}`);
  const refresh = await runCli(fix!.split(' ').slice(1), { ms: 180_000 });
  assert.is(refresh.status, 0, refresh.stdout + refresh.stderr);
  const ok = await runCli(['check', app, ...CHECK]);
  assert.is(ok.status, 0, ok.stdout + ok.stderr);
});

test('vendor without a requirements file, or into a directory outside the app, says so', async () => {
  const app = makeApp('norequirements');
  const missing = await runCli(['vendor', app, '--from', 'reqs/none.txt', '--no-index']);
  assert.is(missing.status, 1, missing.stdout + missing.stderr);
  // The file named once, as the message's place.
  assert.match(missing.stderr, /: [^ ]*\/reqs\/none\.txt: cannot read the requirements to vendor: no such file\n/);
  assert.is(missing.stderr.split('reqs/none.txt').length, 2, missing.stderr);
  const outside = await runCli(['vendor', app, '--into', '../elsewhere', '--no-index']);
  assert.is(outside.status, 2, outside.stdout + outside.stderr);
  assert.match(outside.stderr, /vendor --into \.\.\/elsewhere: expected a directory inside/);
  // A requirements file outside the app (relative or absolute), which the manifest would record
  // as ../x.txt, is refused the same way, before anything is installed.
  writeFileSync(join(work.path, 'apps', 'outside-req.txt'), 'apppkg-demo-greeting==1.0\n');
  for (const from of ['../outside-req.txt', join(work.path, 'apps', 'outside-req.txt')]) {
    const r = await runCli(['vendor', app, '--from', from, '--no-index']);
    assert.is(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, `vendor --from ${from}: expected a file inside ${app}, found ${join(work.path, 'apps', 'outside-req.txt')}`);
    assert.match(r.stderr, /fix: copy the requirements file into the app directory/);
    assert.not.ok(existsSync(join(app, 'vendor')), from);
  }
  // --into a file, such as a .zip that paths: puts on sys.path as it is, is refused with the way
  // to vendor beside it (it was an internal error, ENOTDIR, with a stack).
  writeFileSync(join(app, 'lib.zip'), 'PK\x05\x06' + '\0'.repeat(18));
  const archive = await runCli(['vendor', app, '--into', 'lib.zip', '--no-index']);
  assert.is(archive.status, 2, archive.stdout + archive.stderr);
  assert.is(archive.stderr, `apppkg-gateway: vendor --into lib.zip: expected a directory to install into, found a file, a zip archive that Python imports from as it is: ${join(app, 'lib.zip')}\n  fix: leave lib.zip as it is and vendor into a directory beside it: --into vendor/, then name both in paths: (paths: [lib.zip, vendor/])\n`);
  const intoFile = await runCli(['vendor', app, '--into', 'wsgi.py', '--no-index']);
  assert.is(intoFile.status, 2, intoFile.stdout + intoFile.stderr);
  assert.match(intoFile.stderr, `vendor --into wsgi.py: expected a directory to install into, found a file: ${join(app, 'wsgi.py')}\n  fix: give a directory, e.g. --into vendor/ (the default), or move wsgi.py out of the way`);
  // --into a symlink, or under one, is refused before pip runs (it was refused once pip had
  // installed everything, minutes later): pip's own lines never come.
  const elsewhere = join(work.path, 'vendor-elsewhere');
  mkdirSync(elsewhere);
  symlinkSync(elsewhere, join(app, 'linked'));
  for (const into of ['linked', 'linked/vendor']) {
    const linked = await runCli(['vendor', app, '--into', into, '--no-index']);
    assert.is(linked.status, 1, linked.stdout + linked.stderr);
    assert.match(linked.stderr, `vendor --into ${into}/: expected a directory of the app, found a symlink (to ${elsewhere}) at ${join(app, 'linked')}; nothing was changed`);
    assert.not.match(linked.stdout, /pip install|vendoring/, linked.stdout);
    assert.equal(readdirSync(elsewhere), []);
  }
  // A directory that is not there is said as such, not as a requirements file to write in it.
  const nowhere = await runCli(['vendor', `${app}-nowhere`, '--no-index']);
  assert.is(nowhere.status, 1, nowhere.stdout + nowhere.stderr);
  assert.match(nowhere.stderr, /norequirements-nowhere does not exist \(no such directory\)/);
  assert.not.match(nowhere.stderr, /requirements\.txt/);
  // A file named as APP_DIR is said to be a file, as check and describe say it, not "does not exist".
  const file = await runCli(['vendor', join(app, 'app.yaml'), '--no-index']);
  assert.is(file.status, 1, file.stdout + file.stderr);
  assert.is(file.stderr, `apppkg-gateway: ${join(app, 'app.yaml')} is a file, not a directory\n  fix: give the directory that holds app.yaml: ${app}\n`);
});

test('an interpreter without pip: vendor says so with the fix, before anything is installed', async () => {
  // pip's version and its configuration are asked in one run: a pip that is not there is said
  // as such, not taken for an old pip without `config debug`.
  const venv = join(work.path, 'nopip-venv');
  const made = spawnSync(BUILD_PYTHON, ['-m', 'venv', '--without-pip', venv], { encoding: 'utf8', timeout: 60_000 });
  assert.is(made.status, 0, made.stdout + made.stderr);
  const noPip = join(work.path, 'nopip.yaml');
  writeFileSync(noPip, `python: ${join(venv, 'bin', 'python')}\n`);
  const app = makeApp('nopip');
  const r = await runCli(['vendor', app, '--no-index', '-e', noPip]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /vendor: \S+ has no pip \(`import pip`: No module named 'pip'\)\n  fix: on Debian's python3 run `apt-get install -y python3-pip`/);
  assert.not.ok(existsSync(join(app, 'vendor')));
});

test('vendor refuses a requirements file that includes one outside the app (-r, --requirement=, -c, nested), at its line, before anything is installed', async () => {
  const app = makeApp('includes-outside');
  const outside = join(work.path, 'apps', 'outside.txt');
  writeFileSync(outside, 'apppkg-demo-greeting==1.0\n');
  const expectRefused = async (files: Record<string, string>, refused: Array<[string, number, string]>) => {
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(join(app, file, '..'), { recursive: true });
      writeFileSync(join(app, file), text);
    }
    const r = await runCli(['vendor', app, '--no-index']);
    const out = r.stdout + r.stderr;
    assert.is(r.status, 1, out);
    for (const [file, line, include] of refused) {
      assert.ok(r.stderr.includes(`${join(app, file)}:${line}:1: ${include}: expected a file inside ${app}, found ${outside}\n  fix: copy outside.txt into the app directory and include it from there (e.g. ${include.startsWith('-c') || include.startsWith('--constraint') ? '-c' : '-r'} outside.txt), or put its lines in this file`), `${file}:${line} ${include}:\n${out}`);
    }
    assert.is(r.stderr.match(/expected a file inside/g)?.length, refused.length, out);
    assert.not.ok(existsSync(join(app, 'vendor')), 'nothing installed');
  };
  await expectRefused({ 'requirements.txt': 'apppkg-demo-greeting==1.0\n-r ../outside.txt\n' }, [['requirements.txt', 2, '-r ../outside.txt']]);
  await expectRefused({ 'requirements.txt': '# shared pins\n--requirement=../outside.txt\n' }, [['requirements.txt', 2, '--requirement=../outside.txt']]);
  await expectRefused({ 'requirements.txt': `-c ${outside}\n` }, [['requirements.txt', 1, `-c ${outside}`]]);
  // Nested: an include inside the app is followed, and each include that leaves is said, all at once.
  await expectRefused({
    'requirements.txt': '-r reqs/base.txt\n--constraint ../outside.txt\n',
    'reqs/base.txt': 'apppkg-demo-greeting\n\n--constraint=../../outside.txt\n-r ../../outside.txt\n',
  }, [['requirements.txt', 2, '--constraint ../outside.txt'], ['reqs/base.txt', 3, '--constraint=../../outside.txt'], ['reqs/base.txt', 4, '-r ../../outside.txt']]);
});

test('vendor refuses a requirements file that includes a URL (-r, -c, any scheme, nested), at its line, with the download as the fix', async () => {
  const app = makeApp('includes-url', '-r reqs/base.txt\n-r https://example.invalid/pins/base.txt\n');
  mkdirSync(join(app, 'reqs'));
  writeFileSync(join(app, 'reqs', 'base.txt'), 'apppkg-demo-greeting\n--constraint=http://example.invalid/c.txt?v=2\n-r file:///etc/hostname\n');
  const r = await runCli(['vendor', app, '--no-index']);
  const out = r.stdout + r.stderr;
  assert.is(r.status, 1, out);
  const refused: Array<[string, number, string, string, string]> = [
    ['requirements.txt', 2, '-r https://example.invalid/pins/base.txt', 'base.txt', '-r'],
    ['reqs/base.txt', 2, '--constraint=http://example.invalid/c.txt?v=2', 'c.txt', '-c'],
    ['reqs/base.txt', 3, '-r file:///etc/hostname', 'requirements-included.txt', '-r'],
  ];
  for (const [file, line, include, name, option] of refused) {
    const url = include.replace(/^\S+?[ =]/, '');
    const said = `${join(app, file)}:${line}:1: ${include}: expected a file inside the app directory, found a URL\n  fix: download it into the app directory (e.g. \`curl -fsSL -o ${name} ${url}\`) and include it by a relative path (${option} ${name})`;
    assert.ok(r.stderr.includes(said), `${file}:${line} ${include}:\n${out}`);
  }
  assert.is(r.stderr.match(/found a URL/g)?.length, refused.length, out);
  assert.not.ok(existsSync(join(app, 'vendor')), 'nothing installed');
});

ifWheels('includes inside the app (-r, -c, nested) are vendored, and an edit to an included file makes vendor/ stale, naming that file', async () => {
  const app = makeApp('includes-inside', '-r reqs/base.txt\n');
  mkdirSync(join(app, 'reqs'));
  writeFileSync(join(app, 'reqs', 'base.txt'), 'apppkg-demo-greeting\n-c pins.txt\n');
  writeFileSync(join(app, 'reqs', 'pins.txt'), 'apppkg-demo-greeting==1.0\n');
  const r = await runCli(['vendor', app, ...OFFLINE], { ms: 180_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  // Asked for through the nested -r, pinned through its -c (demo-words comes as its dependency).
  assert.ok(manifestOf(app).distributions.some((d: any) => d.name === 'apppkg-demo-greeting' && d.version === '1.0'), JSON.stringify(manifestOf(app).distributions));
  assert.is((await runCli(['check', app, ...CHECK])).status, 0);
  assert.equal(manifestOf(app).requirements.files, Object.fromEntries(['requirements.txt', 'reqs/base.txt', 'reqs/pins.txt'].map((f) => [f, sha256(readFileSync(join(app, f)))])));
  appendFileSync(join(app, 'reqs', 'pins.txt'), '# pinned\n');
  const stale = await runCli(['check', app, ...CHECK]);
  assert.is(stale.status, 1, stale.stdout + stale.stderr);
  // The file that changed, not requirements.txt, which is as it was.
  assert.match(stale.stdout, /vendor\/ is stale: reqs\/pins\.txt \(included by reqs\/base\.txt\) changed since it was vendored/);
  // A new include is named as such, beside the file whose line brought it in.
  writeFileSync(join(app, 'reqs', 'extra.txt'), 'apppkg-demo-words\n');
  appendFileSync(join(app, 'reqs', 'base.txt'), '-r extra.txt\n');
  const grown = await runCli(['check', app, ...CHECK]);
  assert.match(grown.stdout, /vendor\/ is stale: reqs\/base\.txt \(included by requirements\.txt\) changed, reqs\/pins\.txt \(included by reqs\/base\.txt\) changed, reqs\/extra\.txt \(included by reqs\/base\.txt\) is new since it was vendored/);
  // A manifest from before each file was recorded names the candidates.
  const manifest = manifestOf(app);
  delete manifest.requirements.files;
  writeFileSync(join(app, 'vendor', '.apppkg-vendor.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const older = await runCli(['check', app, ...CHECK]);
  assert.match(older.stdout, /vendor\/ is stale: requirements\.txt or a file it includes \(reqs\/base\.txt, reqs\/pins\.txt, reqs\/extra\.txt\) changed since it was vendored/);
});

test('a requirement found nowhere pip looked: the fix names it, not only pip\'s output above', async () => {
  const app = makeApp('nowhere', 'apppkg-nowhere-to-be-found==9\n');
  const r = await runCli(['vendor', app, '--no-index'], { ms: 120_000 });
  assert.is(r.status, 1, r.stdout + r.stderr);
  // It said "a requirement that no index or --find-links DIR has, or a version conflict".
  assert.match(r.stderr, /fix: read pip's output above: pip found no distribution of apppkg-nowhere-to-be-found==9 where it looked: give a --find-links DIR or an index that has it/);
  assert.not.ok(existsSync(join(app, 'vendor')));
});

test('vendor --no-index of a source directory: pip\'s hidden reason is shown, and the fix says to build its wheel or give its backend', async () => {
  const app = makeApp('fromsource', './mypkg\n');
  mkdirSync(join(app, 'mypkg', 'mypkg'), { recursive: true });
  writeFileSync(join(app, 'mypkg', 'mypkg', '__init__.py'), '');
  // A backend no index has: the failure does not depend on what wheels this host keeps.
  writeFileSync(join(app, 'mypkg', 'pyproject.toml'), '[build-system]\nrequires = ["apppkg-no-such-backend>=1"]\nbuild-backend = "apppkg_no_such_backend"\n[project]\nname = "mypkg"\nversion = "1.0"\n');
  const r = await runCli(['vendor', app, '--no-index'], { ms: 120_000 });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /what pip's console left out \("See above for output"\), from its log:\n[\s\S]*No matching distribution found for apppkg-no-such-backend>=1/);
  assert.match(r.stderr, new RegExp(`fix: read pip's output above: \\./mypkg is built from source, which needs its build backend \\(apppkg-no-such-backend>=1\\) that offline pip cannot fetch: ship a built wheel instead, \`\\S+ -m pip wheel \\./mypkg -w wheels/\`, and name the wheel \\(wheels/NAME-VERSION-\\.\\.\\.whl\\) in requirements\\.txt in its place, or give vendor the backend's wheels as well, with --find-links DIR \\(\`pip download 'apppkg-no-such-backend>=1' wheel -d DIR\` where there is a network\\)`));
  assert.not.match(r.stderr, /a requirement that no index or --find-links DIR has/);
  assert.not.ok(existsSync(join(app, 'vendor')));
});

test("vendor from an index that lacks a source directory's build backend: the fix names it and says to ship a built wheel, as install's does", async () => {
  const app = makeApp('nobackend', './mypkg\n');
  mkdirSync(join(app, 'mypkg', 'mypkg'), { recursive: true });
  writeFileSync(join(app, 'mypkg', 'mypkg', '__init__.py'), '');
  writeFileSync(join(app, 'mypkg', 'pyproject.toml'), '[build-system]\nrequires = ["setuptools>=40.8.0"]\nbuild-backend = "setuptools.build_meta"\n[project]\nname = "mypkg"\nversion = "1.0"\n');
  // A mirror of another package only: pip looks for setuptools there and finds none.
  const index = fileIndex(join(work.path, 'nobackend-mirror'), [['mirrorpkg', '1.0']]);
  const r = await runCli(['vendor', app, '--index-url', index], { ms: 120_000 });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /what pip's console left out \("See above for output"\), from its log:\n[\s\S]*No matching distribution found for setuptools>=40\.8\.0/);
  assert.match(r.stderr, /fix: read pip's output above: \.\/mypkg is built from source, which needs its build backend, and pip found no setuptools>=40\.8\.0 where it looked: ship a built wheel instead, `\S+ -m pip wheel \.\/mypkg -w wheels\/`, and name the wheel \(wheels\/NAME-VERSION-\.\.\.whl\) in requirements\.txt in its place, or add setuptools where pip looks/);
  assert.not.match(r.stderr, /offline|a requirement that no index or --find-links DIR has/);
  assert.not.ok(existsSync(join(app, 'vendor')));
});

test('check names a paths: directory that was never vendored, with the command', async () => {
  const app = makeApp('nevervendored');
  const r = await runCli(['check', app, ...CHECK]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, /FAIL\s+vendor\s+\S+app\.yaml:3:9: paths: vendor\/ does not exist/);
  assert.match(r.stdout, new RegExp(`fix: run \`apppkg-gateway vendor ${app} --from requirements\\.txt --into vendor/ --environment ${envFile}\``));
});

test('check\'s vendor line is placed, as every failure is, at the paths: entry of the directory it is about', async () => {
  const app = makeApp('vendorplace');
  writeFileSync(join(app, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npaths:\n  - lib\n  - vendor/\n');
  mkdirSync(join(app, 'lib'));
  const never = await runCli(['check', app, ...CHECK]);
  assert.match(never.stdout, new RegExp(`FAIL\\s+vendor\\s+${join(app, 'app.yaml')}:5:5: paths: vendor/ does not exist`), never.stdout);
  mkdirSync(join(app, 'vendor'));
  writeFileSync(join(app, 'vendor', '.apppkg-vendor.json'), '{');
  const stale = await runCli(['check', app, ...CHECK]);
  assert.match(stale.stdout, new RegExp(`FAIL\\s+vendor\\s+${join(app, 'app.yaml')}:5:5: vendor/ is stale: \\.apppkg-vendor\\.json is not JSON`), stale.stdout);
});

test('init offers the vendor way when it finds requirements.txt', async () => {
  const dir = join(work.path, 'project');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'wsgi.py'), WSGI);
  writeFileSync(join(dir, 'requirements.txt'), 'apppkg-demo-greeting\n');
  const r = await runCli(['init', dir]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`or bundle requirements\\.txt with the app .*: apppkg-gateway vendor ${dir}`));
  const yaml = readFileSync(join(dir, 'app.yaml'), 'utf8');
  assert.match(yaml, /^pip: requirements\.txt$/m);
  assert.match(yaml, /^# `apppkg-gateway vendor` installs requirements\.txt into vendor\//m);
  assert.match(yaml, /^# paths: \[vendor\/\]$/m);
  // Once vendored, init writes the vendor way itself.
  mkdirSync(join(dir, 'vendor'));
  writeFileSync(join(dir, 'vendor', '.apppkg-vendor.json'), '{}');
  assert.is((await runCli(['init', dir, '--force'])).status, 0);
  const again = readFileSync(join(dir, 'app.yaml'), 'utf8');
  assert.match(again, /^paths: \[vendor\/\]$/m);
  assert.match(again, /^# pip: requirements\.txt$/m);
});

test.run();
