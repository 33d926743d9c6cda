// `apppkg-gateway export containerfile APP_DIR` and `export venv` (SPEC 5.5, issue 18): the
// image recipe for each deb:/pip: case, checked line by line (no image is built here: these
// machines have no registry), and the venv step run for real into a temp state root, where
// the gateway's own install then finds it current.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { delimiter, dirname, join, posix } from 'node:path';
import { BIN, EXAMPLES, FIXTURES, runCli, tempDir } from '../helpers/process.js';
import { hasProgram, isRoot, runIf } from '../helpers/skip.js';
import { fileIndex, hostPython, makeApp, makeWheel } from '../lifecycle/lifecycle-apps.js';
import { objectsOf, schemaProblems } from './manifests.js';

const test = suite('export containerfile');
const work = tempDir('apppkg-export-cf-');
const state = tempDir('apppkg-export-cf-state-');
test.after(() => {
  work.remove();
  state.remove();
});

async function recipe(dir: string): Promise<string> {
  const r = await runCli(['export', 'containerfile', dir]);
  assert.is(r.status, 0, r.stderr);
  return r.stdout;
}

const exampleRecipes = new Map<string, Promise<string>>();
/** The recipe of examples/NAME, exported once for the tests that read it (each export is a CLI start). */
function exampleRecipe(name: string): Promise<string> {
  if (!exampleRecipes.has(name)) exampleRecipes.set(name, recipe(join(EXAMPLES, name)));
  return exampleRecipes.get(name)!;
}

/** The packages apt-get installs, in order. */
function aptPackages(text: string): string[] {
  const line = /apt-get install -y --no-install-recommends \\\n\s+([^\\\n]+)/.exec(text);
  assert.ok(line, text);
  return line![1].trim().split(/\s+/);
}

const BASE = ['ca-certificates', 'nodejs', 'npm', 'python3'];

test('neither deb: nor pip: (hello): Debian, the gateway, the app as NAME, its user, the gateway as the command', async () => {
  const text = await exampleRecipe('hello');
  assert.match(text, /^FROM docker\.io\/library\/debian:trixie-slim$/m);
  assert.equal(aptPackages(text), BASE);
  assert.match(text, /^RUN npm install --global apppkg-gateway@\d+\.\d+\.\d+/m);
  assert.match(text, /useradd --system --uid 10001 --user-group --home-dir \/var\/lib\/apppkg-gateway apppkg/);
  assert.match(text, /^COPY --chown=apppkg:apppkg \["\.","\/srv\/apps\/hello"\]$/m);
  assert.match(text, /^USER 10001:10001$/m);
  assert.not.match(text, /export venv/);
  assert.match(text, /> \/var\/lib\/apppkg-gateway\/apps\/hello\/installed\.json$/m);
  assert.match(text, /^CMD \["apppkg-gateway","--apps","\/srv\/apps","--listen","0\.0\.0\.0:8000","--state-dir","\/var\/lib\/apppkg-gateway"\]$/m);
  // The user, then the app, then the steps that run as the user: never root at run time.
  assert.ok(text.indexOf('USER 10001') < text.indexOf('installed.json'));
});

/**
 * Where each file of the build context ends up in the image a recipe builds, read from its
 * lines as a builder reads them: per stage, a COPY from the context (`.` or one file) or
 * `--from` an earlier stage, then `RUN rm -f`; the last stage is the image. A `RUN
 * --mount=type=bind,source=F` reads F for that step without a layer. `inImage[f]`: how many
 * places of the image's layers hold f; `mounted[f]`: how many steps read it by a mount.
 */
function contextInImage(text: string, context: string[]): { inImage: Record<string, number>; mounted: Record<string, number> } {
  const stages = new Map<string, Array<[string, string]>>(); // stage -> [path in the stage, context file]
  let current: Array<[string, string]> = [];
  const mounted: Record<string, number> = {};
  const norm = (p: string) => posix.normalize(p).replace(/\/$/, '');
  for (const line of text.split('\n')) {
    const from = /^FROM (?:--platform=\S+ )?\S+(?: AS (\S+))?$/.exec(line);
    if (from) {
      current = [];
      if (from[1]) stages.set(from[1], current);
      continue;
    }
    const copy = /^COPY((?: --\S+)*) (.*)$/.exec(line);
    if (copy) {
      const stage = /--from=(\S+)/.exec(copy[1])?.[1];
      const args: string[] = copy[2].startsWith('[') ? JSON.parse(copy[2]) : copy[2].split(' ');
      const dest = args.pop()!;
      for (const src of args) {
        const held: Array<[string, string]> = stage === undefined ? context.map((f) => [f, f]) : stages.get(stage)!;
        const base = stage === undefined ? '.' : src;
        for (const [at, file] of held) {
          const rel = posix.relative(norm(base), at);
          if (rel.startsWith('..')) continue;
          if (stage === undefined && norm(src) !== '.' && norm(src) !== at) continue;
          const single = stage === undefined && norm(src) !== '.';
          current.push([single ? (dest.endsWith('/') ? posix.join(dest, posix.basename(at)) : dest) : posix.join(dest, rel), file]);
        }
      }
      continue;
    }
    const rm = /^RUN rm -f (\S+)$/.exec(line);
    if (rm) current.splice(0, current.length, ...current.filter(([at]) => at !== rm[1]));
    for (const m of line.matchAll(/--mount=type=bind,source=([^,\s]+)/g)) mounted[norm(m[1])] = (mounted[norm(m[1])] ?? 0) + 1;
  }
  const inImage: Record<string, number> = Object.fromEntries(context.map((f) => [f, 0]));
  for (const [, file] of current) inImage[file] += 1;
  return { inImage, mounted };
}

test('--gateway: a tarball in the build context (npm pack) is installed from it, and the image holds it nowhere (not in the app directory too); any other spec goes to npm as it is', async () => {
  const packed = await runCli(['export', 'containerfile', join(EXAMPLES, 'hello'), '--gateway', './apppkg-gateway-0.1.0.tgz']);
  assert.is(packed.status, 0, packed.stderr);
  assert.match(packed.stdout, /^RUN --mount=type=bind,source=apppkg-gateway-0\.1\.0\.tgz,target=\/tmp\/apppkg-gateway-0\.1\.0\.tgz npm install --global \/tmp\/apppkg-gateway-0\.1\.0\.tgz && npm cache clean --force$/m);
  // Installed as root, before the user and the app.
  assert.ok(packed.stdout.indexOf('RUN --mount=type=bind') < packed.stdout.indexOf('USER 10001'));
  assert.not.match(packed.stdout, /apppkg-gateway@/);
  // The tarball is not in hello's directory: written, and said (as for missing wheels).
  assert.match(packed.stderr, /warning: the image build of hello will fail at its gateway step unless \.\/apppkg-gateway-0\.1\.0\.tgz is in the build context/);
  assert.match(packed.stdout, /^# WARNING: when this was written, the app directory had no \.\/apppkg-gateway-0\.1\.0\.tgz/m);
  const present = makeApp(work.path, 'packed', 'platform: python, wsgi\napp: wsgi:application\n');
  mkdirSync(join(present, 'dist'));
  for (const tarball of ['apppkg-gateway-0.1.0.tgz', 'dist/apppkg-gateway-0.1.0.tgz']) {
    writeFileSync(join(present, tarball), '');
    const there = await runCli(['export', 'containerfile', present, '--gateway', `./${tarball}`]);
    assert.is(there.status, 0, there.stderr);
    assert.not.match(there.stderr + there.stdout, /warning/i);
    // What the build copies: every other file of the app once, the tarball in no layer, read once by the gateway step.
    const context = contextFiles(present);
    const { inImage, mounted } = contextInImage(there.stdout, context);
    assert.equal(inImage, Object.fromEntries(context.map((f) => [f, f === tarball ? 0 : 1])), there.stdout);
    assert.equal(mounted, { [tarball]: 1 }, there.stdout);
    assert.match(there.stdout, /^COPY --from=app-dir --chown=apppkg:apppkg \["\/app\/","\/srv\/apps\/packed"\]$/m);
  }
  // The recipe this replaced: the tarball copied in by its own COPY, and again by the app's COPY of the context.
  const before = 'FROM debian\nCOPY ["./apppkg-gateway-0.1.0.tgz","/tmp/apppkg-gateway-0.1.0.tgz"]\nRUN npm install --global /tmp/apppkg-gateway-0.1.0.tgz && rm /tmp/apppkg-gateway-0.1.0.tgz\nCOPY --chown=apppkg:apppkg [".","/srv/apps/packed"]\n';
  assert.is(contextInImage(before, ['app.yaml', 'apppkg-gateway-0.1.0.tgz']).inImage['apppkg-gateway-0.1.0.tgz'], 2, 'the model counts both copies');
  // A registry spec: the app directory is the build context as it is, in one COPY.
  assert.equal(contextInImage(await recipe(present), contextFiles(present)).inImage, { 'app.yaml': 1, 'apppkg-gateway-0.1.0.tgz': 1, 'dist/apppkg-gateway-0.1.0.tgz': 1, 'wsgi.py': 1 });
  // COPY reads the build context: a path outside it is refused with the fix.
  for (const outside of ['/abs/apppkg-gateway-0.1.0.tgz', '../apppkg-gateway-0.1.0.tgz']) {
    const refused = await runCli(['export', 'containerfile', present, '--gateway', outside]);
    assert.is(refused.status, 2, refused.stderr);
    assert.is(refused.stdout, '');
    assert.match(refused.stderr, /--gateway: expected a tarball path inside the app directory \(the build context, which COPY reads from\).*--gateway \.\/apppkg-gateway-0\.1\.0\.tgz/);
  }
  // The mount's options are comma-separated: a comma in the path would cut them.
  const comma = await runCli(['export', 'containerfile', present, '--gateway', './a,b.tgz']);
  assert.is(comma.status, 2, comma.stderr);
  assert.match(comma.stderr, /--gateway: expected a tarball path without a comma or a quote .*--gateway \.\/a-b\.tgz/);
  const git = await runCli(['export', 'containerfile', join(EXAMPLES, 'hello'), '--gateway', 'git+https://git.example.com/apppkg-gateway.git#v0.1.0']);
  assert.match(git.stdout, /^RUN npm install --global git\+https:\/\/git\.example\.com\/apppkg-gateway\.git#v0\.1\.0 && npm cache clean --force$/m);
  const bad = await runCli(['export', 'containerfile', join(EXAMPLES, 'hello'), '--gateway', 'a b']);
  assert.is(bad.status, 2, bad.stderr);
  assert.match(bad.stderr, /--gateway: expected an npm package spec/);
});

/** The files of an app directory, relative to it (the build context). */
function contextFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[]).filter((f) => statSync(join(dir, f)).isFile()).sort();
}

test('deb: only (flask-hello, flask-live): its packages after the base, no venv', async () => {
  assert.equal(aptPackages(await recipe(join(EXAMPLES, 'flask-hello'))), [...BASE, 'python3-flask']);
  const live = await recipe(join(EXAMPLES, 'flask-live'));
  assert.equal(aptPackages(live), [...BASE, 'python3-flask', 'python3-websockets']);
  assert.not.match(live, /python3-venv|export venv/);
});

test("pip: only: python3-venv, and the venv built by the gateway in the image, from where the image's pip configuration says", async () => {
  const dir = makeApp(work.path, 'withpip.2.0', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  const text = await recipe(dir);
  assert.equal(aptPackages(text), [...BASE, 'python3-venv']);
  // Offline only when neither the image nor the requirements name an index (install-venv.ts).
  assert.match(text, /^# the cluster runs that in a Job before the rollout\. pip reads the image's own pip configuration: it\n# runs offline, from the wheels in the app directory, unless that or the requirements name an index\.$/m);
  assert.match(text, /^COPY --chown=apppkg:apppkg \["\.","\/srv\/apps\/withpip\.2\.0"\]$/m);
  assert.match(text, /^RUN apppkg-gateway export venv \/srv\/apps\/withpip\.2\.0 --state-dir \/var\/lib\/apppkg-gateway$/m);
  assert.ok(text.indexOf('USER 10001') < text.indexOf('export venv'), 'the venv is built as the user that runs it');
});

test('deb: and pip:: both, each package once (python3-venv, which pip: needs, listed in deb: too)', async () => {
  const dir = makeApp(work.path, 'both', 'platform: python, wsgi\napp: wsgi:application\ndeb: [python3-flask, python3-venv]\npip: requirements.txt\n');
  const text = await recipe(dir);
  assert.equal(aptPackages(text), [...BASE, 'python3-venv', 'python3-flask']);
  assert.match(text, /export venv \/srv\/apps\/both /);
});

test('the recipe and the manifests agree: the app directory, the data directory, the user, the port', async () => {
  const tree = join(FIXTURES, 'export', 'tree');
  const text = await recipe(join(tree, 'apps', 'blog.1.2'));
  const manifests = readFileSync(join(tree, 'expected', 'blog.yaml'), 'utf8');
  const appDir = JSON.parse(/^COPY --chown=\S+ (\[.*\])$/m.exec(text)![1])[1];
  assert.ok(manifests.includes(`apppkg-gateway install ${appDir} `), appDir);
  const dataDir = /mkdir -p (\S+)/.exec(text)![1];
  assert.ok(manifests.includes(`mountPath: ${dataDir}\n`), dataDir);
  assert.ok(manifests.includes(`runAsUser: ${/^USER (\d+):/m.exec(text)![1]}\n`));
  assert.ok(manifests.includes(`containerPort: ${/^EXPOSE (\d+)$/m.exec(text)![1]}\n`));
});

test('a version with a space or a quote: the COPY in JSON form, every path in a RUN line one shell word', async () => {
  for (const version of ['1 0', "1'0"]) {
    const dir = makeApp(work.path, `q.${version}`, 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
    const text = await recipe(dir);
    const appDir = `/srv/apps/q.${version}`;
    assert.equal(JSON.parse(/^COPY --chown=\S+ (\[.*\])$/m.exec(text)![1]), ['.', appDir]);
    // The shell's own reading of the RUN lines: the words each command gets.
    const words = (line: string) => spawnSync('/bin/sh', ['-c', `set -- ${line}; printf '%s\\n' "$@"`], { encoding: 'utf8' }).stdout.split('\n').slice(0, -1);
    assert.equal(words(/^RUN (apppkg-gateway export venv .*)$/m.exec(text)![1]), ['apppkg-gateway', 'export', 'venv', appDir, '--state-dir', '/var/lib/apppkg-gateway']);
    const [, marker, file] = /^RUN echo (.*) > (.*installed\.json)$/m.exec(text)!;
    assert.equal(JSON.parse(words(marker)[0]), { version, dir: appDir, by: 'apppkg-gateway export containerfile' });
    assert.equal(words(file), ['/var/lib/apppkg-gateway/apps/q/installed.json']);
  }
});

test('--out writes the file', async () => {
  const file = join(work.path, 'Containerfile');
  const r = await runCli(['export', 'containerfile', join(EXAMPLES, 'django-blog'), '--out', file]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /wrote .*Containerfile: the image recipe of django-blog/);
  assert.match(readFileSync(file, 'utf8'), /python3-django/);
});

test('--out in a directory not there yet makes it, as kubernetes --out DIR does (it said "not a directory" of a missing one)', async () => {
  const file = join(work.path, 'build', 'image', 'Containerfile');
  const r = await runCli(['export', 'containerfile', join(EXAMPLES, 'django-blog'), '--out', file]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /wrote .*build\/image\/Containerfile: the image recipe of django-blog/);
  assert.match(readFileSync(file, 'utf8'), /python3-django/);
});

test('--out naming a directory: the fix asks for a file, as containerfile --out takes one', async () => {
  const r = await runCli(['export', 'containerfile', join(EXAMPLES, 'django-blog'), '--out', work.path]);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /cannot write .*: EISDIR/);
  assert.match(r.stderr, /fix: give --out the file to write the recipe to \(Containerfile in the app directory, say\), not a directory, or leave it out to print to stdout/);
});

test('what the image cannot hold: each key with its fix, nothing written, status 1', async () => {
  const dir = makeApp(
    work.path,
    'hosty',
    'platform: python, wsgi\napp: wsgi:application\npython: "<3.12"\nrpm: python3-m2crypto\n' +
      'commands:\n  install: /usr/local/bin/migrate --all\n',
  );
  const r = await runCli(['export', 'containerfile', dir]);
  assert.is(r.status, 1);
  assert.is(r.stdout, '');
  assert.match(r.stderr, /app\.yaml:3:\d+: python: expected a specifier that Debian 13 \(trixie\)'s python3 3\.13\.5 satisfies, found "<3\.12"/);
  assert.match(r.stderr, /app\.yaml:4:\d+: rpm: expected deb: packages for the Debian image, found only rpm: python3-m2crypto/);
  assert.match(r.stderr, /commands\.install: expected a command that runs inside the image, found the host path "\/usr\/local\/bin\/migrate"/);
  assert.match(r.stderr, /fix: add the Debian names of the same packages under deb:/);
});

test('paths: a .zip is exported as serve takes it; a .py file there, which serve refuses, is refused at its entry for containerfile and kubernetes', async () => {
  const apps = join(work.path, 'paths-entries');
  const zipped = makeApp(apps, 'zipped', 'platform: python, wsgi\napp: wsgi:application\npaths: [lib.zip]\n');
  spawnSync(hostPython(), ['-c', 'import sys, zipfile; zipfile.ZipFile(sys.argv[1], "w").writestr("zmod.py", "X = 1\\n")', join(zipped, 'lib.zip')]);
  const filed = makeApp(apps, 'filed', 'platform: python, wsgi\napp: wsgi:application\npaths:\n  - lib.zip\n  - wsgi.py\n');
  cpSync(join(zipped, 'lib.zip'), join(filed, 'lib.zip'));
  const refusal = `${join(filed, 'app.yaml')}:5:5: paths: wsgi.py is a file, not a directory: paths: names directories to put on sys.path`;
  const cf = await runCli(['export', 'containerfile', filed]);
  assert.is(cf.status, 1, cf.stdout + cf.stderr);
  assert.is(cf.stdout, '');
  assert.match(cf.stderr, `apppkg-gateway: ${refusal}\n  fix: name the directory that holds its modules`);
  assert.is((await runCli(['export', 'containerfile', zipped])).status, 0);
  const out = join(work.path, 'paths-entries-k8s');
  const k8s = await runCli(['export', 'kubernetes', '--apps', apps, '--image', 'registry.example.com/apps/{name}:1', '--out', out]);
  assert.is(k8s.status, 1, k8s.stderr);
  assert.match(k8s.stderr, refusal);
  assert.match(k8s.stderr, /not written: filed/);
  assert.equal(readdirSync(out), ['zipped.yaml']);
});

/** An app with a vendor/ that `vendor --allow-binary` filled with one compiled distribution tagged `tag`. */
function vendoredApp(name: string, tag: string): string {
  const dir = makeApp(work.path, name, 'platform: python, wsgi\napp: wsgi:application\npaths: [vendor/]\n');
  mkdirSync(join(dir, 'vendor'), { recursive: true });
  writeFileSync(join(dir, 'requirements.txt'), 'fastthing\n');
  writeFileSync(join(dir, 'vendor', '.apppkg-vendor.json'), JSON.stringify({
    format: 1,
    requirements: { file: 'requirements.txt', sha256: '0'.repeat(64) },
    interpreter: { python: 'cp311', tag: 'cp311-cp311-linux_x86_64' },
    distributions: [
      { name: 'purething', version: '1.0', tags: ['py3-none-any'], binary: false, requested: false, scripts: [], files: {} },
      { name: 'fastthing', version: '2.0', tags: [tag], binary: true, requested: true, scripts: [], files: {} },
    ],
    otherFiles: {},
  }));
  return dir;
}

/**
 * The exports that judge a vendor/ ask the tag rules of python3 on PATH: here the host's python3
 * itself comes first, the same interpreter a pyenv shim would start through some thirty shell
 * processes (~0.8 s of CPU an export on a host with pyenv).
 */
const DIRECT_PYTHON = { PATH: `${dirname(hostPython())}${delimiter}${process.env.PATH ?? ''}` };
const MACHINE = process.arch === 'arm64' ? 'aarch64' : 'x86_64';
const OTHER_MACHINE = MACHINE === 'x86_64' ? 'aarch64' : 'x86_64';
const PLATFORM = MACHINE === 'x86_64' ? 'linux/amd64' : 'linux/arm64';
const ifCanHidePython = runIf(test, isRoot && hasProgram('unshare'), 'needs root and unshare(1) to hide the host\'s python3s from the CLI');

test("an --allow-binary vendor/ built for another Python than the image's: refused with check's reason and the fix, for containerfile and kubernetes", async () => {
  const dir = vendoredApp('cext.1.0', `cp311-cp311-linux_${MACHINE}`);
  const r = await runCli(['export', 'containerfile', dir], { env: DIRECT_PYTHON });
  assert.is(r.status, 1, r.stderr);
  assert.is(r.stdout, '');
  assert.match(r.stderr, new RegExp(`app\\.yaml:3:\\d+: paths: expected a vendor directory the image's python3 loads, found vendor/: built for cp311-cp311-linux_${MACHINE}, which Debian 13 \\(trixie\\)'s python3 3\\.13\\.5 \\(cp313-cp313-linux_${MACHINE}\\) cannot load: fastthing 2\\.0`));
  assert.match(r.stderr, /fix: vendor it on Debian 13 \(trixie\) \(python3 3\.13\), e\.g\. in a debian:trixie container: `apppkg-gateway vendor .* --allow-binary`; or install fastthing from Debian with deb: \(python3-fastthing\)/);
  const apps = join(work.path, 'cext-apps');
  mkdirSync(apps);
  cpSync(dir, join(apps, 'cext.1.0'), { recursive: true });
  const k8s = await runCli(['export', 'kubernetes', '--apps', apps, '--image', 'r/{name}:{version}'], { env: DIRECT_PYTHON });
  assert.is(k8s.status, 1, k8s.stderr);
  assert.is(k8s.stdout, '');
  assert.match(k8s.stderr, /paths: expected a vendor directory the image's python3 loads, found vendor\/: built for cp311/);
});

test("an --allow-binary vendor/ the image's python3 loads (abi3, manylinux older than trixie's glibc): exported, the image pinned to this host's architecture, which is named", async () => {
  const dir = vendoredApp('abi3', `cp39-abi3-manylinux_2_17_${MACHINE}.manylinux2014_${MACHINE}`);
  const r = await runCli(['export', 'containerfile', dir], { env: DIRECT_PYTHON });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^FROM --platform=${PLATFORM} docker\\.io/library/debian:trixie-slim$`, 'm'));
  const said = new RegExp(`paths: vendor/ holds compiled distributions \\(platform tags manylinux_2_17_${MACHINE}\\.manylinux2014_${MACHINE}\\), judged for ${MACHINE}, this host's \`uname -m\`: the image is pinned to ${PLATFORM}`);
  assert.match(r.stdout, new RegExp(`^# ${said.source}.*\\nFROM --platform`, 'm'));
  assert.match(r.stderr, new RegExp(`^apppkg-gateway: abi3: note: ${said.source}`, 'm'));
  assert.not.match(r.stderr, /warning/i, 'judged: nothing left unchecked');
  // Nothing vendored compiled: the base image as it is, for whatever builds it.
  assert.match(await exampleRecipe('hello'), /^FROM docker\.io\/library\/debian:trixie-slim$/m);
  // Newer than trixie's glibc 2.41: refused.
  const newer = vendoredApp('newglibc', `cp313-cp313-manylinux_2_99_${MACHINE}`);
  const refused = await runCli(['export', 'containerfile', newer], { env: DIRECT_PYTHON });
  assert.is(refused.status, 1, refused.stderr);
  assert.match(refused.stderr, /cannot load: fastthing 2\.0/);
});

test("kubernetes: an app with an --allow-binary vendor/ runs on nodes of its architecture alone (nodeSelector kubernetes.io/arch), one without has no nodeSelector; every object validates", async () => {
  const apps = join(work.path, 'arch-apps');
  mkdirSync(apps);
  const binary = vendoredApp('archpinned', `cp39-abi3-manylinux_2_17_${MACHINE}.manylinux2014_${MACHINE}`);
  cpSync(binary, join(apps, 'archpinned'), { recursive: true });
  // A background process: its own Deployment, which must be pinned too.
  writeFileSync(join(apps, 'archpinned', 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npaths: [vendor/]\nprocesses:\n  worker:\n    command: python -c "import time; time.sleep(1e9)"\n');
  cpSync(join(EXAMPLES, 'hello'), join(apps, 'hello'), { recursive: true });
  const r = await runCli(['export', 'kubernetes', '--apps', apps, '--image', 'r/{name}:{version}'], { env: DIRECT_PYTHON });
  assert.is(r.status, 0, r.stderr);
  const objects = objectsOf(r.stdout);
  assert.equal(schemaProblems(objects), []);
  const pods = (app: string) => objects
    .filter((o) => (o.kind === 'Deployment' || o.kind === 'Job') && o.metadata?.labels?.['app.kubernetes.io/name'] === app)
    .map((o) => ({ name: `${o.kind} ${o.metadata?.name}`, nodeSelector: (o as { spec: { template: { spec: { nodeSelector?: Record<string, string> } } } }).spec.template.spec.nodeSelector }));
  const pinned = pods('archpinned');
  assert.ok(pinned.filter((p) => p.name.startsWith('Deployment')).length >= 2, JSON.stringify(pinned));
  for (const p of pinned) assert.equal(p.nodeSelector, { 'kubernetes.io/arch': MACHINE === 'x86_64' ? 'amd64' : 'arm64' }, p.name);
  const free = pods('hello');
  assert.ok(free.length >= 1, JSON.stringify(free));
  for (const p of free) assert.is(p.nodeSelector, undefined, p.name);
});

test("an --allow-binary vendor/ built for another architecture than the image's (this host's uname -m): refused, both architectures named, for containerfile and kubernetes", async () => {
  const dir = vendoredApp('otherarch', `cp313-cp313-manylinux_2_17_${OTHER_MACHINE}.manylinux2014_${OTHER_MACHINE}`);
  const r = await runCli(['export', 'containerfile', dir], { env: DIRECT_PYTHON });
  assert.is(r.status, 1, r.stderr);
  assert.is(r.stdout, '');
  assert.match(r.stderr, new RegExp(`app\\.yaml:3:\\d+: paths: expected compiled distributions for the image's architecture, ${MACHINE} \\(this host's \`uname -m\`, which the image is pinned to\\), found vendor/: fastthing 2\\.0 built for ${OTHER_MACHINE} \\(cp313-cp313-manylinux_2_17_${OTHER_MACHINE}\\.`));
  assert.match(r.stderr, new RegExp(`fix: export on a machine whose \`uname -m\` is ${OTHER_MACHINE} .*or vendor it again on one whose is ${MACHINE}: \`apppkg-gateway vendor .* --allow-binary\``));
  // One reason per directory: the architecture, not the tag rules' "cannot load" besides.
  assert.not.match(r.stderr, /cannot load/);
  const apps = join(work.path, 'otherarch-apps');
  mkdirSync(apps);
  cpSync(dir, join(apps, 'otherarch'), { recursive: true });
  const k8s = await runCli(['export', 'kubernetes', '--apps', apps, '--image', 'r/{name}:{version}'], { env: DIRECT_PYTHON });
  assert.is(k8s.status, 1, k8s.stderr);
  assert.match(k8s.stderr, new RegExp(`paths: expected compiled distributions for the image's architecture, ${MACHINE}`));
});

test('a compiled vendor directory the image cannot load is pointed at by its own entry of paths:, for containerfile and kubernetes', async () => {
  const dir = vendoredApp('second-entry', `cp313-cp313-manylinux_2_17_${OTHER_MACHINE}`);
  mkdirSync(join(dir, 'lib'));
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npaths:\n  - lib/\n  - vendor/\n');
  const r = await runCli(['export', 'containerfile', dir], { env: DIRECT_PYTHON });
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /app\.yaml:5:5: paths: expected compiled distributions for the image's architecture, .* found vendor\//);
  const apps = join(work.path, 'second-entry-apps');
  mkdirSync(apps);
  cpSync(dir, join(apps, 'second-entry'), { recursive: true });
  const k8s = await runCli(['export', 'kubernetes', '--apps', apps, '--image', 'r/{name}:{version}'], { env: DIRECT_PYTHON });
  assert.is(k8s.status, 1, k8s.stderr);
  assert.match(k8s.stderr, /app\.yaml:5:5: paths: expected compiled distributions/);
});

/**
 * The CLI on a host with no python3 to ask: in a mount namespace of its own, each interpreter
 * the gateway would find (python3 on PATH, /usr/bin's, /usr/local/bin's) hidden under /dev/null.
 */
function cliWithoutPython(): string {
  const wrapper = join(work.path, 'apppkg-gateway-without-python');
  writeFileSync(wrapper, `#!/bin/sh
exec unshare --mount --propagation private sh -c 'for f in /usr/bin/python3 /usr/bin/python3.[0-9]* /usr/local/bin/python3.[0-9]*; do [ -e "$f" ] && mount --bind /dev/null "$f"; done; exec "$0" "$@"' ${JSON.stringify(BIN)} "$@"
`, { mode: 0o755 });
  return wrapper;
}
const NO_PYTHON_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

ifCanHidePython("a host with no python3 to ask: the vendor/ the tag rules were not asked about is exported with a warning (stderr and recipe) saying what and how to check it; another architecture is still refused", async () => {
  const bin = cliWithoutPython();
  const env = { PATH: NO_PYTHON_PATH };
  // Tagged for a Python the image has not: refused where a python3 can judge it, exported here.
  const dir = vendoredApp('unjudged', `cp311-cp311-linux_${MACHINE}`);
  const r = await runCli(['export', 'containerfile', dir], { bin, env });
  assert.is(r.status, 0, r.stderr);
  const warning = /paths: vendor\/: not checked whether Debian 13 \(trixie\)'s python3 3\.13 loads fastthing 2\.0 \(cp311-cp311-linux_\w+\): this host has no python3 to ask the wheel tag rules of; export where one is \(any python3 >= 3\.9\), or check the built image: `podman run --rm IMAGE apppkg-gateway check \/srv\/apps\/unjudged --state-dir \/var\/lib\/apppkg-gateway`/;
  assert.match(r.stderr, new RegExp(`^apppkg-gateway: warning: unjudged: ${warning.source}`, 'm'));
  assert.match(r.stdout, new RegExp(`^# WARNING: ${warning.source}\n(#.*\n)*FROM --platform=${PLATFORM} `, 'm'));
  assert.match(r.stderr, new RegExp(`note: paths: vendor/ holds compiled distributions .*judged for ${MACHINE}, this host's \`uname -m\``));
  // The architecture needs no Python: still refused.
  const other = vendoredApp('unjudged-other', `cp313-cp313-manylinux_2_17_${OTHER_MACHINE}`);
  const refused = await runCli(['export', 'containerfile', other], { bin, env });
  assert.is(refused.status, 1, refused.stderr);
  assert.match(refused.stderr, new RegExp(`found vendor/: fastthing 2\\.0 built for ${OTHER_MACHINE}`));
  // kubernetes: the same warning in the app's notes, on stderr and in the file's header.
  const apps = join(work.path, 'unjudged-apps');
  mkdirSync(apps);
  cpSync(dir, join(apps, 'unjudged'), { recursive: true });
  const k8s = await runCli(['export', 'kubernetes', '--apps', apps, '--image', 'r/{name}:{version}'], { bin, env });
  assert.is(k8s.status, 0, k8s.stderr);
  assert.match(k8s.stderr, new RegExp(`^apppkg-gateway: unjudged: note: WARNING: ${warning.source}`, 'm'));
  assert.match(k8s.stdout, /^# {3}- WARNING: paths: vendor\/: not checked whether/m);
});

test('a command naming the app directory by its host path: the fix names the relative path', async () => {
  const dir = makeApp(work.path, 'abs', 'platform: python, wsgi\napp: wsgi:application\nprocesses:\n  worker:\n    command: python PLACEHOLDER/worker.py\n');
  const yaml = readFileSync(join(dir, 'app.yaml'), 'utf8').replace('PLACEHOLDER', dir);
  (await import('node:fs')).writeFileSync(join(dir, 'app.yaml'), yaml);
  const r = await runCli(['export', 'containerfile', dir]);
  assert.is(r.status, 1);
  assert.match(r.stderr, /processes\.worker\.command: expected a command that runs inside the image, found the app directory's host path/);
  assert.match(r.stderr, /fix: name it relative to the app directory \("worker\.py"\)/);
});

test('a string in the code of python -c (a URL path, DATA_DIR + "/cache") or a URL path as an argument (--root-path /api/v2) is no host path: exported; a host path beside it, or after it in sh -c, still refuses the app', async () => {
  const coded = makeApp(
    work.path,
    'coded',
    'platform: python, wsgi\napp: wsgi:application\nprocesses:\n' +
      `  worker:\n    command: python -c "import re, time; r = re.compile('/api/v1'); time.sleep(1e9)"\n` +
      '  docs:\n    command: python -m http.server --directory static $PORT --root-path /api/v2 --prefix=/live\n' +
      'commands:\n  install: python3 -uc \'import os; os.makedirs(os.environ["APPPKG_DATA_DIR"] + "/cache", exist_ok=True)\'\n',
  );
  const ok = await runCli(['export', 'containerfile', coded]);
  assert.is(ok.status, 0, ok.stderr);
  assert.not.match(ok.stderr, /host path/);
  const cases: Array<[command: string, found: string]> = [
    [`sh -c 'python -c "import sys" && /usr/local/bin/migrate'`, '/usr/local/bin/migrate'],
    [`PYTHONPATH=/opt/lib python -c "import blog.tasks"`, '/opt/lib'],
    [`python -c "import sys; print(sys.argv)" /srv/spool/in.txt`, '/srv/spool/in.txt'],
  ];
  for (const [i, [command, found]] of cases.entries()) {
    const dir = makeApp(work.path, `coded-host-${i}`, `platform: python, wsgi\napp: wsgi:application\ncommands:\n  install: ${JSON.stringify(command)}\n`);
    const r = await runCli(['export', 'containerfile', dir]);
    assert.is(r.status, 1, `${command}: ${r.stderr}`);
    assert.ok(r.stderr.includes(`commands.install: expected a command that runs inside the image, found the host path ${JSON.stringify(found)}`), r.stderr);
  }
});

test('a pip: requirement with no local wheel: the recipe is written, and it and stderr say the venv step will fail there', async () => {
  const dir = makeApp(work.path, 'nowheel', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  (await import('node:fs')).writeFileSync(join(dir, 'requirements.txt'), '# pinned\nthepkg==1.0\nOther_Pkg>=2 ; python_version >= "3.8"\n');
  makeWheel(dir, 'thepkg', '1.0');
  const r = await runCli(['export', 'containerfile', dir]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /warning: the image build of nowheel will fail at its venv step unless these are in the build context first \(its pip reads the image's own pip configuration: offline, from the app directory, unless that or the requirements name an index that has them\):/);
  assert.match(r.stderr, /^apppkg-gateway: {3}Other_Pkg>=2 ; python_version >= "3\.8": no wheel or sdist of Other_Pkg in /m);
  assert.not.match(r.stderr, /thepkg/, 'its wheel is there');
  assert.match(r.stderr, /fix: put the wheels in .*pip download -d .* -r requirements\.txt/);
  assert.match(r.stdout, /^# WARNING: when this was written, the app directory lacked what pip needs here/m);
  assert.match(r.stdout, /^# unless it is added to the build context first .* or the\n# image's pip configuration names an index that has it:$/m);
  assert.match(r.stdout, /^# {3}Other_Pkg>=2 .*: no wheel or sdist of Other_Pkg/m);
  assert.ok(r.stdout.indexOf('# WARNING') < r.stdout.indexOf('RUN apppkg-gateway export venv'));
  // Every requirement there: no warning.
  makeWheel(dir, 'other_pkg', '2.1');
  const fine = await runCli(['export', 'containerfile', dir]);
  assert.is(fine.status, 0, fine.stderr);
  assert.not.match(fine.stderr + fine.stdout, /warning/i);
});

/** `export containerfile`'s warning lines of `dir` (empty: none), with its status asserted 0. */
async function venvWarnings(dir: string): Promise<string[]> {
  const r = await runCli(['export', 'containerfile', dir]);
  assert.is(r.status, 0, r.stderr);
  const lines = r.stderr.split('\n');
  const start = lines.findIndex((l) => /warning: the image build of \S+ will fail at its venv step/.test(l));
  if (start < 0) return [];
  const end = lines.findIndex((l, i) => i > start && !/^apppkg-gateway: {3}/.test(l));
  return lines.slice(start + 1, end).map((l) => l.replace(/^apppkg-gateway: {3}/, ''));
}

test("the requirements' own index and find-links: where the image's pip looks, a requirement there is not said missing; a path only this host has is said so; a remote index's is not judged", async () => {
  const dir = makeApp(work.path, 'ownindex', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  const reqs = join(dir, 'requirements.txt');
  // A PEP 503 index in the app directory, which the image has: pip reads a relative one from the requirements' directory.
  const index = fileIndex(join(dir, 'mirror'), [['flask', '3.0.3']]);
  writeFileSync(reqs, '--index-url mirror/simple\nflask==3.0.3\n');
  assert.equal(await venvWarnings(dir), []);
  // The same index by this host's path: pip in the image reads that path, where the app is not.
  writeFileSync(reqs, `--index-url ${index}\nflask==3.0.3\n`);
  const byHostPath = await venvWarnings(dir);
  assert.ok(byHostPath.includes(`--index-url ${index}: ${join(dir, 'mirror', 'simple')} is this host's path of the app directory, which the image holds at /srv/apps/ownindex: name it relative to requirements.txt (./mirror/simple)`), byHostPath.join('\n'));
  assert.ok(byHostPath.some((l) => l.startsWith('flask==3.0.3: no wheel or sdist of flask in ')), byHostPath.join('\n'));
  // An index outside the app directory: not in the build context.
  const outside = fileIndex(join(work.path, 'ownindex-host'), [['flask', '3.0.3']]);
  writeFileSync(reqs, `--extra-index-url ${outside}\nflask==3.0.3\n`);
  assert.ok((await venvWarnings(dir)).includes(`--extra-index-url ${outside}: ${join(work.path, 'ownindex-host', 'simple')} is a path of this host outside the app directory (the build context), which the image does not have`));
  // The index there, lacking the requirement: it is said where pip looked.
  writeFileSync(reqs, '-i mirror/simple\nthepkg==1.0\n');
  assert.ok((await venvWarnings(dir)).some((l) => l.startsWith('thepkg==1.0: no wheel or sdist of thepkg in ') && l.endsWith(`or the index ${join(dir, 'mirror', 'simple')}`)));
  // --find-links to a directory of the app: the image has it.
  mkdirSync(join(dir, 'wheels'));
  makeWheel(join(dir, 'wheels'), 'thepkg', '1.0');
  writeFileSync(reqs, '--find-links wheels\nthepkg==1.0\n');
  assert.equal(await venvWarnings(dir), []);
  // A remote index may have it: what it holds is the build's to learn, not said here.
  writeFileSync(reqs, '--index-url https://pypi.example.org/simple\nflask==3.0.3\n');
  assert.equal(await venvWarnings(dir), []);
  // --no-index: the index is not read, so neither is it looked in here.
  writeFileSync(reqs, '--no-index\n--index-url https://pypi.example.org/simple\nflask==3.0.3\n');
  assert.ok((await venvWarnings(dir)).some((l) => l.startsWith('flask==3.0.3: no wheel or sdist of flask in ')));
  // A file the requirements include (-r) is read as pip reads it: its --find-links from its own
  // directory, its requirements judged too; an include outside the app, or missing, is said.
  mkdirSync(join(dir, 'sources'));
  writeFileSync(join(dir, 'sources', 'base.txt'), '--find-links ../wheels\nnowhere-pkg==1.0\n');
  writeFileSync(join(work.path, 'ownindex-shared.txt'), 'thepkg==1.0\n');
  writeFileSync(reqs, '-r sources/base.txt\n-r ../ownindex-shared.txt\n-r sources/gone.txt\nthepkg==1.0\n');
  const included = await venvWarnings(dir);
  assert.ok(!included.some((l) => l.startsWith('thepkg')), included.join('\n'));
  assert.ok(included.some((l) => l.startsWith('nowhere-pkg==1.0: no wheel or sdist of nowhere-pkg in ') && l.includes(join(dir, 'wheels'))), included.join('\n'));
  assert.ok(included.includes(`-r ../ownindex-shared.txt: ${join(work.path, 'ownindex-shared.txt')} is a path of this host outside the app directory (the build context), which the image does not have`), included.join('\n'));
  assert.ok(included.includes('-r sources/gone.txt (in requirements.txt): no such file'), included.join('\n'));
  // What the recipe said is what pip does: export venv, offline, finds each where it was told.
  writeFileSync(join(dir, 'sources', 'base.txt'), '--find-links ../wheels\n');
  writeFileSync(reqs, '-r sources/base.txt\n--index-url mirror/simple\nflask==3.0.3\nthepkg==1.0\n');
  assert.equal(await venvWarnings(dir), []);
  const built = await runCli(['export', 'venv', dir, '--state-dir', state.path], { ms: 120_000 });
  assert.is(built.status, 0, built.stderr);
  assert.match(built.stderr, /requirements installed/);
});

test('a direct URL requirement: pip fetches it offline too, so an https one is not said; a file: one is read where the image has it', async () => {
  const dir = makeApp(work.path, 'directurl', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  const reqs = join(dir, 'requirements.txt');
  mkdirSync(join(dir, 'wheels'));
  const wheel = makeWheel(join(dir, 'wheels'), 'thepkg', '1.0');
  writeFileSync(reqs, 'thepkg @ https://files.example.org/thepkg-1.0-py3-none-any.whl\nhttps://files.example.org/other-2.0.tar.gz\n');
  assert.equal(await venvWarnings(dir), []);
  // A file: URL of this host's app directory: pip --no-index installs it here (export venv)...
  writeFileSync(reqs, `thepkg @ file://${wheel}\n`);
  const built = await runCli(['export', 'venv', dir, '--state-dir', state.path], { ms: 120_000 });
  assert.is(built.status, 0, built.stderr);
  assert.match(built.stderr, /pip install --no-index -r /);
  assert.match(built.stderr, /requirements installed/);
  // ...but the image has the app elsewhere: the fix names the relative path.
  assert.equal(await venvWarnings(dir), [`thepkg @ file://${wheel}: ${wheel} is this host's path of the app directory, which the image holds at /srv/apps/directurl: name it relative to requirements.txt (./wheels/thepkg-1.0-py3-none-any.whl)`]);
  const outside = makeWheel(work.path, 'other', '2.0');
  writeFileSync(reqs, `file://${outside}\n`);
  assert.equal(await venvWarnings(dir), [`file://${outside}: ${outside} is a path of this host outside the app directory (the build context), which the image does not have`]);
  // A relative path is read from the requirements' directory: in the build context, or not.
  writeFileSync(reqs, './wheels/thepkg-1.0-py3-none-any.whl\n../other-2.0-py3-none-any.whl\n');
  assert.equal(await venvWarnings(dir), [`../other-2.0-py3-none-any.whl: ${outside} is a path of this host outside the app directory (the build context), which the image does not have`]);
  // A VCS URL: pip runs git for it, which Debian's image has only from deb:.
  writeFileSync(reqs, 'git+https://git.example.org/thepkg.git#egg=thepkg\n');
  assert.equal(await venvWarnings(dir), ['git+https://git.example.org/thepkg.git#egg=thepkg: pip runs git for it, which the image has only when deb: names git']);
  // A deploy token in the URL is the host's secret: the recipe (a committed file) and stderr leave it out.
  writeFileSync(reqs, 'git+https://deploy:s3cret@git.example.org/thepkg.git#egg=thepkg\n');
  assert.equal(await venvWarnings(dir), ['git+https://git.example.org/thepkg.git#egg=thepkg: pip runs git for it, which the image has only when deb: names git']);
  const recipe = await runCli(['export', 'containerfile', dir]);
  assert.not.match(recipe.stdout + recipe.stderr, /s3cret/);
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\ndeb: [git]\n');
  assert.equal(await venvWarnings(dir), []);
});

test("the requirements as pip reads them: a line continued by a backslash is one requirement, a -c file's --find-links is where pip looks, an absolute path under the image's app directory is the app's file", async () => {
  const dir = makeApp(work.path, 'shop.2.1', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  const reqs = join(dir, 'requirements.txt');
  mkdirSync(join(dir, 'wheels'));
  mkdirSync(join(dir, 'reqs'));
  makeWheel(join(dir, 'wheels'), 'thepkg', '1.0');
  makeWheel(join(dir, 'wheels'), 'other_pkg', '2.1');
  // pip joins `thepkg \` and `    ==1.0`, and reads the constraints file's --find-links (export venv below does).
  writeFileSync(join(dir, 'reqs', 'pins.txt'), '--find-links ../wheels\nother-pkg==2.1\n');
  writeFileSync(reqs, '-c reqs/pins.txt\nthepkg \\\n    ==1.0\nother-pkg\n');
  // It said "thepkg \: no wheel or sdist of thepkg" and "other-pkg: no wheel ...", where pip finds both.
  assert.equal(await venvWarnings(dir), []);
  const built = await runCli(['export', 'venv', dir, '--state-dir', state.path], { ms: 120_000 });
  assert.is(built.status, 0, built.stderr);
  assert.match(built.stderr, /requirements installed/);
  // A constraint names nothing to install: one no wheel is there for is not said.
  writeFileSync(join(dir, 'reqs', 'pins.txt'), '--find-links ../wheels\nother-pkg==2.1\nnowhere-pkg==1.0\n');
  assert.equal(await venvWarnings(dir), []);
  // The image's own path of the app directory (/srv/apps/shop.2.1): that file of the app, there or not.
  writeFileSync(reqs, '/srv/apps/shop.2.1/wheels/thepkg-1.0-py3-none-any.whl\n/srv/apps/shop.2.1/wheels/gone-1.0-py3-none-any.whl\n');
  assert.equal(await venvWarnings(dir), ['/srv/apps/shop.2.1/wheels/gone-1.0-py3-none-any.whl: no such file']);
});

test('export venv builds the venv the gateway then reuses (no second build at the pod\'s start)', async () => {
  const dir = makeApp(work.path, 'wheely', 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n');
  (await import('node:fs')).writeFileSync(join(dir, 'requirements.txt'), 'thepkg==1.0\n');
  makeWheel(dir, 'thepkg', '1.0');
  const built = await runCli(['export', 'venv', dir, '--state-dir', state.path], { ms: 120_000 });
  assert.is(built.status, 0, built.stderr);
  assert.match(built.stderr, /requirements installed/);
  assert.ok(existsSync(join(state.path, 'apps', 'wheely', 'venv', 'apppkg-venv.json')), 'the venv carries the gateway\'s stamp');
  const install = await runCli(['install', dir, '--state-dir', state.path], { ms: 120_000 });
  assert.is(install.status, 0, install.stderr);
  assert.match(install.stdout + install.stderr, /venv reused/);
  const none = await runCli(['export', 'venv', join(EXAMPLES, 'hello'), '--state-dir', state.path]);
  assert.is(none.status, 0, none.stderr);
  assert.match(none.stderr, /hello has no pip: requirements; no virtualenv to build/);
});

test.run();
