import { mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { isGatewayError, type GatewayError } from '../../src/errors.js';
import { describeJson } from '../../src/description/describe.js';
import { loadDescription, loadDescriptionFile } from '../../src/description/load.js';
import { nameToWriteFor } from '../../src/description/normalise-description.js';
import { readSchema, type JsonSchema } from '../../src/description/validators.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const fixtures = path.join(root, 'test/fixtures/descriptions');

// SPEC §1.1, copied verbatim: "The flat form of the original proposal is valid as it is".
const SPEC_FLAT_FORM = `platform: python, wsgi          # a list of mixins: "python, wsgi" or [python, wsgi]
os: posix                       # posix | linux | darwin ... checked against the host
python: ">=3.9"                 # a PEP 440 specifier; picks the interpreter
rpm: m2crypto                   # one name or a list: system packages (rpm hosts)
deb: python3-m2crypto           # one name or a list: system packages (Debian hosts)
pip: requirements.txt           # fallback: installed into a per-app virtualenv
paths: vendor/                  # one path or a list, prepended to sys.path in order
app: myapp.wsgiapp:application  # module:object, the WSGI callable
`;

let scratch = '';
test.before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'apppkg-desc-'));
});
test.after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

async function writeApp(dirName: string, yaml: string): Promise<string> {
  const dir = path.join(scratch, dirName);
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'app.yaml'), yaml);
  return dir;
}

async function failure(promise: Promise<unknown>): Promise<GatewayError> {
  try {
    await promise;
  } catch (err) {
    if (isGatewayError(err)) return err;
    throw err;
  }
  throw new Error('expected a GatewayError, the load succeeded');
}

test('the invalid corpus: each file fails with the expected first problem', async () => {
  const dir = path.join(fixtures, 'invalid');
  const cases = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  assert.ok(cases.length >= 10, 'the corpus has cases');
  const mismatches: string[] = [];
  for (const name of cases) {
    const expected = JSON.parse(await readFile(path.join(dir, name.replace(/\.yaml$/, '.expected.json')), 'utf8')) as {
      code: string; line: number; column: number; key: string | null; count?: number; hint?: string;
    };
    const err = await failure(loadDescriptionFile(path.join(dir, name), { dirName: 'blog' }));
    if (err.code !== 'APPPKG_DESC_INVALID') {
      mismatches.push(`${name}: thrown ${err.code}`);
      continue;
    }
    const first = err.problems[0];
    const got = { code: first.code, line: first.line, column: first.column, key: first.key ?? null, count: err.problems.length };
    const want = { code: expected.code, line: expected.line, column: expected.column, key: expected.key, count: expected.count ?? 1 };
    if (JSON.stringify(got) !== JSON.stringify(want)) mismatches.push(`${name}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
    if (expected.hint !== undefined && !first.hint.includes(expected.hint)) mismatches.push(`${name}: hint "${first.hint}" lacks "${expected.hint}"`);
    // SPEC §1.1: every error names the file, the line and column, the key, expected and found.
    for (const problem of err.problems) {
      const shape = /^\/.+\.yaml:\d+:\d+: .*expected .+, found .+\n {2}fix: .+$/;
      if (!shape.test(problem.format())) mismatches.push(`${name}: badly shaped message ${JSON.stringify(problem.format())}`);
    }
  }
  assert.equal(mismatches, []);
});

test('the valid corpus: each file loads into its expected description', async () => {
  const dir = path.join(fixtures, 'valid');
  const cases = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  assert.ok(cases.length >= 5);
  for (const name of cases) {
    const expected = JSON.parse(await readFile(path.join(dir, name.replace(/\.yaml$/, '.expected.json')), 'utf8')) as unknown;
    const desc = await loadDescriptionFile(path.join(dir, name), { dirName: 'blog.2026.11.24' });
    const { file, dir: descDir, ...rest } = describeJson(desc);
    assert.is(file, path.join(dir, name), name);
    assert.is(descDir, dir, name);
    assert.equal(rest, expected, name);
  }
});

test('the flat form of SPEC §1.1 loads as it is', async () => {
  const dir = await writeApp('blog.1.4.2', SPEC_FLAT_FORM);
  const desc = await loadDescription(dir);
  assert.is(desc.name, 'blog');
  assert.is(desc.version, '1.4.2');
  assert.is(desc.kind, 'wsgi');
  assert.equal(desc.platform, ['python', 'wsgi']);
  assert.equal(desc.os, ['posix']);
  assert.is(desc.python, '>=3.9');
  assert.equal(desc.rpm, ['m2crypto']);
  assert.equal(desc.deb, ['python3-m2crypto']);
  assert.is(desc.pip, 'requirements.txt');
  assert.equal(desc.paths, ['vendor']);
  assert.is(desc.app, 'myapp.wsgiapp:application');
  assert.is(desc.file, path.join(dir, 'app.yaml'));
});

test('platform normalises to [python, KIND] however its mixins are spelt or ordered, as describe shows it', async () => {
  const spellings: Array<[string, string]> = [
    ['platform: "python,wsgi"\napp: m:app\n', 'wsgi'],
    ['platform: wsgi, python\napp: m:app\n', 'wsgi'],
    ['platform: [wsgi, python]\napp: m:app\n', 'wsgi'],
    ['platform: asgi, python\napp: m:app\n', 'asgi'],
    ['platform: [command, python]\nprocesses:\n  web:\n    command: python -m m --port $PORT\n', 'command'],
  ];
  for (const [i, [yaml, kind]] of spellings.entries()) {
    const desc = await loadDescription(await writeApp(`platform-order-${i}`, yaml));
    assert.equal(desc.platform, ['python', kind], yaml);
    assert.equal(describeJson(desc).platform, ['python', kind], yaml);
  }
});

test('a symlinked package directory is resolved: dir, file and version are the target\'s', async () => {
  const target = await writeApp('site.2026.11.24', 'app: site.wsgi:application\n');
  const link = path.join(scratch, 'site');
  await symlink(target, link);
  const desc = await loadDescription(link);
  assert.is(desc.dir, target);
  assert.is(desc.file, path.join(target, 'app.yaml'));
  assert.is(desc.name, 'site');
  assert.is(desc.version, '2026.11.24');
});

test('a link without a version to a release named by its version alone (Capistrano\'s releases/20261124083000) takes it as the version; to another name, none', async () => {
  const release = await writeApp('20261124083000', 'app: site.wsgi:application\n');
  await symlink(release, path.join(scratch, 'capsite'));
  const desc = await loadDescription(path.join(scratch, 'capsite'));
  assert.is(desc.name, 'capsite');
  assert.is(desc.version, '20261124083000');
  const sha = await writeApp('cafe123', 'app: site.wsgi:application\n');
  await symlink(sha, path.join(scratch, 'shasite'));
  const other = await loadDescription(path.join(scratch, 'shasite'));
  assert.is(other.name, 'shasite');
  assert.is(other.version, null);
});

test('a relative directory comes back absolute', async () => {
  await writeApp('rel', 'app: rel:app\n');
  const desc = await loadDescription(path.relative(process.cwd(), path.join(scratch, 'rel')));
  assert.is(desc.dir, path.join(scratch, 'rel'));
  assert.is(desc.version, null);
});

test('no directory, no app.yaml, or app.yaml a directory: APPPKG_DESC_NOT_FOUND', async () => {
  assert.is((await failure(loadDescription(path.join(scratch, 'nowhere')))).code, 'APPPKG_DESC_NOT_FOUND');
  await mkdir(path.join(scratch, 'empty'));
  const err = await failure(loadDescription(path.join(scratch, 'empty')));
  assert.is(err.code, 'APPPKG_DESC_NOT_FOUND');
  assert.match(err.message, path.join(scratch, 'empty'));
  await mkdir(path.join(scratch, 'odd', 'app.yaml'), { recursive: true });
  const odd = await failure(loadDescription(path.join(scratch, 'odd')));
  assert.is(odd.code, 'APPPKG_DESC_NOT_FOUND');
  const file = path.join(scratch, 'odd', 'app.yaml');
  assert.is(odd.format(), `${file}: expected app.yaml to be a file, found a directory\n  fix: move the directory away (or remove it: rmdir ${file} when it is empty) and write the description there as a file: ${file} is read as a YAML file (a symlink to one is fine)`);
});

test('a description named app.yml (or App.yaml) is not read, and the error says to rename it', async () => {
  const dir = path.join(scratch, 'yml');
  await mkdir(dir);
  await writeFile(path.join(dir, 'app.yml'), 'app: wsgi:application\n');
  const err = await failure(loadDescription(dir));
  assert.is(err.code, 'APPPKG_DESC_NOT_FOUND');
  assert.is(err.format(), `${dir}/app.yml: expected the description to be named app.yaml, found it named app.yml\n  fix: rename it: mv ${dir}/app.yml ${dir}/app.yaml (the description is read from app.yaml, under that name alone)`);
  await rm(path.join(dir, 'app.yml'));
  await writeFile(path.join(dir, 'App.yaml'), 'app: wsgi:application\n');
  assert.match((await failure(loadDescription(dir))).format(), `fix: rename it: mv ${dir}/App.yaml ${dir}/app.yaml`);
});

test('a file given where the app directory belongs: said to be a file, naming the directory when it holds app.yaml', async () => {
  const dir = await writeApp('holder', 'app: wsgi:application\n');
  await writeFile(path.join(dir, 'wsgi.py'), '');
  const err = await failure(loadDescription(path.join(dir, 'wsgi.py')));
  assert.is(err.code, 'APPPKG_DESC_NOT_FOUND');
  assert.is(err.format(), `${path.join(dir, 'wsgi.py')} is a file, not a directory\n  fix: give the directory that holds app.yaml: ${dir}`);
  await writeFile(path.join(scratch, 'loose.py'), '');
  const loose = await failure(loadDescription(path.join(scratch, 'loose.py')));
  assert.is(loose.format(), `${path.join(scratch, 'loose.py')} is a file, not a directory\n  fix: APP_DIR is the directory that holds app.yaml, not a file`);
});

test('a message reads "file:line:col: KEY: expected X, found Y" then a fix', async () => {
  const dir = await writeApp('msg', 'platform: python, wsgi\napp: nocolon\n');
  const err = await failure(loadDescription(dir));
  assert.is(err.format(), [
    `${path.join(dir, 'app.yaml')}:2:6: app: expected module:object, e.g. myapp.wsgi:application, found "nocolon"`,
    '  fix: write module:object, e.g. app: nocolon:application',
  ].join('\n'));
});

// `mysite.wsgi.application` (Django's WSGI_APPLICATION) and `notes.app` were answered with
// `notes.app:application`, a module that is not there: the object after the last dot comes first.
test('app: written module.object (Django\'s WSGI_APPLICATION spelling): the fix puts the colon before the last name', async () => {
  const dir = await writeApp('dotted', 'app: mysite.wsgi.application\n');
  assert.is((await failure(loadDescription(dir))).problems[0].hint,
    'write module:object, the object after a colon: app: mysite.wsgi:application (the object application of the module mysite.wsgi), or app: mysite.wsgi.application:application if mysite.wsgi.application is the module');
  const file = await writeApp('file', 'app: notes.py\n');
  assert.is((await failure(loadDescription(file))).problems[0].hint, 'write module:object, e.g. app: notes:application');
});

// H350: an ASGI app's `app: main` was told `e.g. myapp.wsgi:application` and `main:application`,
// a WSGI app's spelling; FastAPI's `app` in main.py is what init writes for an ASGI app.
test('a bad app: of an ASGI app (under asgi:, or beside platform: python, asgi) is shown an ASGI example', async () => {
  const under = await writeApp('asgi-under', 'asgi: {app: main}\n');
  assert.is((await failure(loadDescription(under))).format(), [
    `${path.join(under, 'app.yaml')}:1:13: asgi.app: expected module:object, e.g. main:app, found "main"`,
    '  fix: write module:object, e.g. app: main:app under asgi:',
  ].join('\n'));
  const beside = await writeApp('asgi-beside', 'platform: python, asgi\napp: main\n');
  assert.is((await failure(loadDescription(beside))).format(), [
    `${path.join(beside, 'app.yaml')}:2:6: app: expected module:object, e.g. main:app, found "main"`,
    '  fix: write module:object, e.g. app: main:app',
  ].join('\n'));
  const hints = async (name: string, yaml: string): Promise<string | undefined> => (await failure(loadDescription(await writeApp(name, yaml)))).problems[0].hint;
  assert.is(await hints('asgi-list', 'platform: [python, asgi]\napp: [1]\n'), 'write one module:object, not a list: app: main:app');
  assert.is(await hints('asgi-spaced', 'platform: python, asgi\napp: "main:app x"\n'), 'write module:object, both dotted Python names, e.g. main:app');
  assert.is(await hints('asgi-dotted', 'platform: python, asgi\napp: api.main\n'),
    'write module:object, the object after a colon: app: api:main (the object main of the module api), or app: api.main:app if api.main is the module');
  assert.is(await hints('asgi-path', 'platform: python, asgi\napp: "/srv/api:app"\n'),
    'name the module as Python imports it from the package\'s directory, with dots, not as a file path: "/srv/api" gives no such name; e.g. the file main.py is written app: main:app');
  assert.is(await hints('asgi-object', 'platform: python, asgi\napp: "api/main.py:x-y"\n'),
    'name the module with dots, not as a file, and the object as a Python name: app: api.main:app if the object is app ("x-y" is not a Python name)');
  assert.is(await hints('asgi-missing', 'platform: python, asgi\n'), 'add app: module:object, or write platform: python, command and give processes.web.command');
  assert.is((await failure(loadDescription(path.join(scratch, 'asgi-missing')))).problems[0].details.expected, 'module:object, the ASGI callable (e.g. app: main:app)');
  // A WSGI app's, and app: alone's, stay WSGI's.
  assert.is(await hints('wsgi-path', 'platform: python, wsgi\napp: "/srv/api:app"\n'),
    'name the module as Python imports it from the package\'s directory, with dots, not as a file path: "/srv/api" gives no such name; e.g. the file myapp/wsgi.py is written app: myapp.wsgi:app');
  assert.is(await hints('alone', 'app: main\n'), 'write module:object, e.g. app: main:application');
});

// H242: `comand:` under a process (or `ap:` for app:) was two problems, the key missing (its fix
// "add `command: ...`", beside the key that is there) and the unknown key with "did you mean".
test('a required key mistyped is one problem, at the typo, with "did you mean": not also the key missing', async () => {
  const process = await failure(loadDescription(await writeApp('comand', 'app: a:b\nprocesses:\n  ticker:\n    comand: python ticker.py\n')));
  assert.equal(process.problems.map((p) => [p.code, p.key, p.details.suggestion]), [['APPPKG_DESC_UNKNOWN_KEY', 'processes.ticker.comand', 'command']]);
  const app = await failure(loadDescription(await writeApp('ap', 'platform: python, wsgi\nap: notes:app\n')));
  assert.equal(app.problems.map((p) => [p.code, p.key, p.details.suggestion]), [['APPPKG_DESC_UNKNOWN_KEY', 'ap', 'app']]);
  // Missing with no typo of it there, it is still said.
  const none = await failure(loadDescription(await writeApp('nocommand', 'app: a:b\nprocesses:\n  ticker:\n    route: /t\n')));
  assert.equal(none.problems.map((p) => [p.code, p.key]), [['APPPKG_DESC_MISSING_KEY', 'processes.ticker.command']]);
});

test('every problem in a file is reported at once, in file order', async () => {
  const dir = await writeApp('many', 'healt: /x\npython: "three"\nplatform: python, flask\napp: nocolon\nos: [linux, Darwin]\n');
  const err = await failure(loadDescription(dir));
  assert.equal(err.problems.map((p) => `${p.line}:${p.key}`), ['1:healt', '2:python', '3:platform', '4:app', '5:os[1]']);
  assert.is(err.problems[0].details.suggestion, 'health');
  assert.is(err.problems[4].hint, 'write darwin');
});

test('python: syntax is checked here, satisfiability later ("<3" is a valid specifier)', async () => {
  for (const spec of ['<3', '>=3.9', '~=3.11', '>=3.9, <3.13', '==3.12.*', '!=3.10.0']) {
    const dir = await writeApp('py', `app: a:b\npython: "${spec}"\n`);
    assert.is((await loadDescription(dir)).python, spec, spec);
  }
  for (const spec of ['three', '>>3', '3.9', '=>3.9', '>= three']) {
    const dir = await writeApp('py', `app: a:b\npython: "${spec}"\n`);
    const err = await failure(loadDescription(dir));
    assert.is(err.problems[0]?.key, 'python', spec);
  }
});

test('app: must be module:object with dotted identifiers on both sides', async () => {
  for (const app of ['a:b', 'my_app.wsgi:application', 'pkg.mod:factory.app', '_x:_y']) {
    const dir = await writeApp('appkey', `app: ${app}\n`);
    assert.is((await loadDescription(dir)).app, app);
  }
  for (const app of ['nocolon', 'a:', ':b', 'a:b:c', '1pkg:app', 'my-app:app', 'a..b:c']) {
    const dir = await writeApp('appkey', `app: "${app}"\n`);
    assert.is((await failure(loadDescription(dir))).problems[0]?.key, 'app', app);
  }
});

test('settings: a name the gateway sets itself is refused at its line and column, by the environment file\'s rule', async () => {
  const dir = await writeApp('reserved', 'app: a:b\nsettings: [DATABASE_URL, PATH, APPPKG_DATA_DIR, SECRET_KEY, PORT, APPPKG_REDIS_PREFIX]\n');
  const err = await failure(loadDescription(dir));
  assert.equal(err.problems.map((p) => `${p.line}:${p.column}:${p.key}`), ['2:26:settings[1]', '2:32:settings[2]', '2:61:settings[4]']);
  const first = err.problems[0];
  assert.match(first.format(), /expected .*not one the gateway sets itself.*, found "PATH" \(no environment file may give it, so the app could never start\)/);
  assert.match(first.hint, /^rename the setting/);
  // The one-name form too; and the very names the environment file refuses (one rule, not two lists).
  const one = await failure(loadDescription(await writeApp('reserved-one', 'app: a:b\nsettings: TMPDIR\n')));
  assert.equal(one.problems.map((p) => `${p.line}:${p.column}:${p.key}`), ['2:11:settings']);
  const envSchema = readSchema('environment') as { definitions: { settings: { propertyNames: { not: { anyOf: [unknown, { enum: string[] }] } } } } };
  for (const name of envSchema.definitions.settings.propertyNames.not.anyOf[1].enum) {
    const err = await failure(loadDescription(await writeApp('reserved-each', `app: a:b\nsettings: [${name}]\n`)));
    assert.is(err.problems[0]?.key, 'settings[0]', name);
  }
  assert.equal((await loadDescription(await writeApp('unreserved', 'app: a:b\nsettings: [APPPKG_REDIS_PREFIX, PATHS, MY_PORT]\n'))).settings, ['APPPKG_REDIS_PREFIX', 'PATHS', 'MY_PORT']);
});

test('a mixin written twice in the one-line form is refused at the value, with the line to write', async () => {
  const err = await failure(loadDescription(await writeApp('platform-twice', 'app: a.b:c\nplatform: python, wsgi, python\n')));
  assert.equal(err.problems.map((p) => `${p.line}:${p.column} ${p.key} ${p.hint}`), ['2:11 platform write each once: platform: python, wsgi']);
});

test('an entry of a list given by an alias (paths: *vendored) is placed at its own line in the anchor, not at the alias', async () => {
  const yaml = 'app: a.b:c\nx-vendored: &vendored\n  - lib\n  - /usr/lib/python3/dist-packages\npaths: *vendored\n';
  const err = await failure(loadDescription(await writeApp('aliased-paths', yaml)));
  assert.equal(err.problems.map((p) => `${p.line}:${p.column} ${p.key}`), ['4:5 paths[1]']);
  // The places kept for check's errors (a paths: directory missing) too.
  const desc = await loadDescription(await writeApp('aliased-paths-ok', yaml.replace('/usr/lib/python3/dist-packages', 'vendor')));
  assert.equal([desc.positions['paths[0]'], desc.positions['paths[1]']], [{ line: 3, column: 5 }, { line: 4, column: 5 }]);
});

test('a paths: entry of only white space, or empty, is refused at the entry, not looked for as a directory', async () => {
  const err = await failure(loadDescription(await writeApp('blank-paths', 'app: a.b:c\npaths: [vendor, "   "]\npip: "\\t"\n')));
  assert.equal(err.problems.map((p) => `${p.line}:${p.column} ${p.key}`), ['2:17 paths[1]', '3:6 pip']);
  assert.match(err.problems[0].format(), /found "   " \(only white space, no name\)\n {2}fix: write the name it stands for, e\.g\. vendor\/, or take it out$/);
  const empty = await failure(loadDescription(await writeApp('empty-path', 'app: a.b:c\npaths: [vendor, ""]\n')));
  assert.equal(empty.problems.map((p) => `${p.line}:${p.column} ${p.key}`), ['2:17 paths[1]']);
});

test('a command YAML reads as a boolean, number or null: the fix says to quote it', async () => {
  const dir = await writeApp('bare-words', 'app: a:b\ncommands:\n  install: true\n  update: 1\n  check: null\nprocesses:\n  tick:\n    command: false\n');
  const err = await failure(loadDescription(dir));
  assert.equal(err.problems.map((p) => [`${p.line}:${p.column}:${p.key}`, p.hint]), [
    ['3:12:commands.install', 'quote it: install: "true" (unquoted, YAML reads true as a boolean, not as text)'],
    ['4:11:commands.update', 'quote it: update: "1" (unquoted, YAML reads 1 as a number, not as text)'],
    ['5:10:commands.check', 'quote it: check: "null" (unquoted, YAML reads null as nothing (null), not as text)'],
    ['8:14:processes.tick.command', 'quote it: command: "false" (unquoted, YAML reads false as a boolean, not as text)'],
  ]);
  const quoted = await loadDescription(await writeApp('quoted-words', 'app: a:b\ncommands:\n  install: "true"\n  update: "1"\n'));
  assert.equal(quoted.commands, { install: 'true', update: '1' });
  // An empty value is not a word to quote.
  const empty = await failure(loadDescription(await writeApp('empty-command', 'app: a:b\ncommands:\n  install:\n')));
  assert.not.match(empty.problems[0].hint, 'quote');
});

test('an empty command is one problem, not one per rule it breaks', async () => {
  const dir = await writeApp('empty-commands', 'app: a:b\ncommands:\n  test: ""\nprocesses:\n  live:\n    command: ""\n');
  const err = await failure(loadDescription(dir));
  assert.equal(err.problems.map((p) => `${p.line}:${p.column}:${p.key}`), ['3:9:commands.test', '6:14:processes.live.command']);
});

test('an empty route or health gets a fix that is itself valid, not "write route: /"', async () => {
  const dir = await writeApp('empty-route', 'app: a:b\nprocesses:\n  live:\n    command: x\n    route: ""\nhealth: " "\n');
  const err = await failure(loadDescription(dir));
  assert.equal(err.problems.map((p) => `${p.line}:${p.column}:${p.key}`), ['5:12:processes.live.route', '6:9:health']);
  // route: / is refused in its turn (it would hide the rest of the app).
  assert.is(err.problems[0].hint, 'write route: /live, or take route: out to make live a background process');
  assert.is(err.problems[1].hint, 'write health: /healthz (a path the app answers with 2xx), or take health: out');
  const fixed = await loadDescription(await writeApp('empty-route-fixed', 'app: a:b\nprocesses:\n  live:\n    command: x\n    route: /live\nhealth: /healthz\n'));
  assert.is(fixed.processes.live.route, '/live');
});

test('a process route that routing never matches as written (a query, a percent escape, a dot segment, //) is refused with the route to write, as an environment file\'s mount is', async () => {
  const routes = ['/live?x', '/li%76e', '/a/../b', '//live', '/a//b'];
  const body = routes.map((r, i) => `  p${i}:\n    command: x\n    route: "${r}"\n`).join('');
  const err = await failure(loadDescription(await writeApp('unmatchable-routes', `app: a:b\nprocesses:\n${body}`)));
  assert.equal(err.problems.map((p) => `${p.key}: ${p.hint}`), [
    'processes.p0.route: write the path alone, route: /live (a query or fragment never takes part in routing)',
    'processes.p1.route: write the path decoded, route: /live (requests are routed by their decoded path, as SCRIPT_NAME gives it)',
    'processes.p2.route: write the path without "." or ".." segments (a request path has none: they are resolved before routing, as nginx does)',
    'processes.p3.route: write route: /live (nginx merges the slashes of a request path, so none behind it would reach //live)',
    'processes.p4.route: write route: /a/b (nginx merges the slashes of a request path, so none behind it would reach /a//b)',
  ]);
  const fine = await loadDescription(await writeApp('matchable-route', 'app: a:b\nprocesses:\n  live:\n    command: x\n    route: /live/café\n'));
  assert.is(fine.processes.live.route, '/live/café');
});

test('an x- key under static: is the user\'s, as anywhere else (SPEC 1.1), not a prefix missing its slash', async () => {
  const desc = await loadDescription(await writeApp('static-x', 'app: a:b\nstatic:\n  /static: static/\n  x-cdn: https://cdn.example.com\n'));
  assert.equal(desc.static, { '/static': 'static' });
  assert.equal(desc.extensions, { static: { 'x-cdn': 'https://cdn.example.com' } });
  const err = await failure(loadDescription(await writeApp('static-no-slash', 'app: a:b\nstatic:\n  assets: static/\n')));
  assert.equal(err.problems.map((p) => `${p.line}:${p.column}:${p.key}`), ['3:3:static.assets']);
});

test('name defaults to the directory name minus its version; an unusable one is reported', async () => {
  const desc = await loadDescription(await writeApp('my.app.2', 'app: a:b\n'));
  assert.is(desc.name, 'my.app');
  assert.is(desc.version, '2');
  const named = await loadDescription(await writeApp('checkout.3.1', 'name: blog\napp: a:b\n'));
  assert.is(named.name, 'blog');
  assert.is(named.version, '3.1');
  const err = await failure(loadDescription(await writeApp('My App', 'app: a:b\n')));
  assert.is(err.problems[0]?.key, 'name');
  assert.match(err.problems[0]?.hint ?? '', 'name: ...');
});

// A name is the label before .localhost (RFC 1035 section 2.3.4: 63 octets at most) and a
// directory under the state root: a 200 000-character name was accepted, then NAME.localhost
// was no host name and the state directory failed with ENAMETOOLONG.
test('a name of more than 63 characters is refused, from name: or from the directory, with the limit and a shorter name', async () => {
  const longest = `b${'x'.repeat(61)}g`;
  assert.is((await loadDescription(await writeApp(longest, 'app: a:b\n'))).name, longest);
  assert.is((await loadDescription(await writeApp('named-longest', `name: ${longest}\napp: a:b\n`))).name, longest);

  const huge = await failure(loadDescription(await writeApp('named-huge', `app: a:b\nname: ${'n'.repeat(200_000)}\n`)));
  assert.equal(huge.problems.map((p) => `${p.line}:${p.column} ${p.code} ${p.key}`), ['2:7 APPPKG_DESC_BAD_VALUE name']);
  assert.match(huge.problems[0].message, 'at most 63 characters');
  assert.match(huge.problems[0].hint, `shorten it to at most 63 characters (it has 200000): name: ${'n'.repeat(63)}`);

  const dirName = `${'d'.repeat(64)}.1.2`;
  const fromDir = await failure(loadDescription(await writeApp(dirName, 'app: a:b\n')));
  assert.equal(fromDir.problems.map((p) => `${p.code} ${p.key}`), ['APPPKG_DESC_BAD_VALUE name']);
  assert.match(fromDir.problems[0].message, 'at most 63 characters');
  assert.match(fromDir.problems[0].message, '(the directory name, 64 characters)');
  assert.match(fromDir.problems[0].hint, `add \`name: ${'d'.repeat(63)}\` to app.yaml`);
  // The rename keeps the version: the directory names the package's version as well as its app.
  assert.ok(fromDir.problems[0].hint.endsWith(`or rename the directory to ${'d'.repeat(63)}.1.2`), fromDir.problems[0].hint);
  const accented = await failure(loadDescription(await writeApp('café.2.0', 'app: a:b\n')));
  assert.ok(accented.problems[0].hint.endsWith('add `name: cafe` to app.yaml, or rename the directory to cafe.2.0'), accented.problems[0].hint);
  // The rule is the same as for name:, and so is what init writes for such a directory.
  assert.equal(nameToWriteFor(dirName), { name: 'd'.repeat(63), standIn: false });
  assert.equal(nameToWriteFor(`${'e'.repeat(62)}-f.2`), { name: 'e'.repeat(62), standIn: false });
});

test('mappings left empty (their lines commented out) count as absent', async () => {
  const desc = await loadDescription(await writeApp('empty-maps', 'app: a:b\nstatic:\n  # /static: static/\nprocesses:\ncommands:\n'));
  assert.equal([desc.static, desc.processes, desc.commands], [{}, {}, {}]);
});

test('lone CR line ends (old Mac) are line breaks, as YAML 1.2 says: the keys read, errors at their own line', async () => {
  const desc = await loadDescription(await writeApp('mac-cr', '# the blog\rname: blog\rapp: blog.wsgi:application\rdeb: [python3-a,\r  python3-b]\r'));
  assert.is(desc.name, 'blog');
  assert.is(desc.app, 'blog.wsgi:application');
  assert.equal(desc.deb, ['python3-a', 'python3-b']);
  // A file mixing CR LF and lone CR (pasted from two editors) counts each ending once.
  const err = await failure(loadDescription(await writeApp('mac-cr-bad', 'name: blog\r\napp: blog.wsgi:application\rpython: three\r')));
  assert.equal(err.problems.map((p) => `${p.line}:${p.column} ${p.code} ${p.key}`), ['3:9 APPPKG_DESC_BAD_VALUE python']);
});

test('an alias bomb is refused, not expanded', async () => {
  // Each level repeats the previous one ten times: 10^9 items if expanded.
  const names = 'abcdefghi';
  const lines = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < names.length; i++) {
    lines.push(`${names[i]}: &${names[i]} [${Array(10).fill(`*${names[i - 1]}`).join(', ')}]`);
  }
  const err = await failure(loadDescription(await writeApp('bomb', `${lines.join('\n')}\n`)));
  assert.is(err.problems[0]?.code, 'APPPKG_DESC_YAML_SYNTAX');
  assert.match(err.problems[0]?.message ?? '', 'alias');
});

test('ASGI (SPEC 5.1): platform: python, asgi with app:, or asgi: {app:} alone', async () => {
  const flat = await loadDescription(await writeApp('asgi-flat', 'platform: python, asgi\napp: chat.main:app\n'));
  assert.is(flat.kind, 'asgi');
  assert.is(flat.app, 'chat.main:app');
  assert.equal(flat.platform, ['python', 'asgi']);
  const spelled = await loadDescription(await writeApp('asgi-spelled', 'asgi:\n  app: notes.asgi:application\n'));
  assert.is(spelled.kind, 'asgi', 'asgi: says what the app is without platform:');
  assert.is(spelled.app, 'notes.asgi:application');
  // SPEC 5.1 gives asgi: {app:} as the "or" of platform: python, asgi; beside platform: python it says the kind too.
  for (const spelling of ['asgi', 'wsgi']) {
    const beside = await loadDescription(await writeApp(`${spelling}-beside-python`, `platform: python\n${spelling}:\n  app: notes.main:app\n`));
    assert.is(beside.kind, spelling);
    assert.equal(describeJson(beside).platform, ['python', spelling]);
  }
  const missing = await failure(loadDescription(await writeApp('asgi-no-app', 'platform: python, asgi\n')));
  assert.match(missing.format(), /the ASGI callable/);
});

test('ASGI: the wrong spelling for the platform, or two spellings, is refused with the fix', async () => {
  const wrong = await failure(loadDescription(await writeApp('asgi-under-wsgi', 'platform: python, wsgi\nasgi:\n  app: m:app\n')));
  assert.match(wrong.format(), /asgi: expected app: or wsgi: \{app: \.\.\.\} for platform wsgi/);
  assert.match(wrong.format(), /fix: write app: module:object, or platform: python, asgi/);
  const both = await failure(loadDescription(await writeApp('asgi-and-app', 'app: m:app\nasgi:\n  app: m:app\n')));
  assert.match(both.format(), /either app: or asgi:/);
  const two = await failure(loadDescription(await writeApp('asgi-and-wsgi', 'wsgi:\n  app: m:app\nasgi:\n  app: m:app\n')));
  assert.match(two.format(), /either wsgi: \{app: \.\.\.\} or asgi:/);
  const kinds = await failure(loadDescription(await writeApp('asgi-two-kinds', 'platform: python, wsgi, asgi\napp: m:app\n')));
  assert.match(kinds.format(), /exactly one of wsgi, asgi or command/);
  const web = await failure(loadDescription(await writeApp('asgi-web', 'platform: python, asgi\napp: m:app\nprocesses:\n  web:\n    command: run\n')));
  assert.match(web.format(), /other than web for platform asgi/);
});

test('describeJson keeps one key order whatever the order in the file', async () => {
  const a = describeJson(await loadDescription(await writeApp('order-a', 'app: a:b\nhealth: /h\nos: linux\n')));
  const b = describeJson(await loadDescription(await writeApp('order-b', 'os: linux\nhealth: /h\napp: a:b\n')));
  assert.equal(Object.keys(a), Object.keys(b));
  assert.equal(Object.keys(a).slice(0, 5), ['name', 'version', 'dir', 'file', 'kind']);
});

test('keys from the file never reach an object prototype', async () => {
  const desc = await loadDescription(await writeApp('proto', 'app: a:b\nprocesses:\n  __proto__:\n    command: sleep 1\n'));
  assert.ok(Object.hasOwn(desc.processes, '__proto__'));
  assert.is(Object.getPrototypeOf(desc.processes), Object.prototype);
  assert.ok(Object.hasOwn(describeJson(desc).processes as object, '__proto__'));
});

test('a key a terminal would not show as written is named with escapes, not raw bytes', async () => {
  // U+FFFD is written as such (bytes that are not UTF-8 are refused before); U+E000 is
  // private use, U+0001 a control character.
  const dir = path.join(scratch, 'binary-key');
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, 'app.yaml'), 'app: a:b\n"k\\x01\\ue000\ufffd\ufffd": 1\n');
  const err = await failure(loadDescription(dir));
  assert.is(err.problems[0].key, '["k\\u0001\\ue000\\ufffd\\ufffd"]');
  assert.ok(/^[\x20-\x7e\n]*$/.test(err.problems[0].format().replace(dir, '')), err.problems[0].format());
});

// ---- the schemas shipped for editors -------------------------------------------------------

function walkProperties(schema: JsonSchema, rootSchema: JsonSchema, at: string, visit: (at: string, s: JsonSchema) => void): void {
  const resolve = (s: JsonSchema): JsonSchema => {
    if (typeof s.$ref !== 'string') return s;
    const target = s.$ref.replace(/^#\//, '').split('/').reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], rootSchema);
    return resolve(target as JsonSchema);
  };
  const s = resolve(schema);
  for (const [name, child] of Object.entries((s.properties ?? {}) as Record<string, JsonSchema>)) {
    visit(`${at}${name}`, resolve(child));
    walkProperties(child, rootSchema, `${at}${name}.`, visit);
  }
  for (const [pattern, child] of Object.entries((s.patternProperties ?? {}) as Record<string, JsonSchema>)) {
    visit(`${at}${pattern}`, resolve(child));
  }
  if (s.additionalProperties && typeof s.additionalProperties === 'object') {
    walkProperties(s.additionalProperties as JsonSchema, rootSchema, `${at}*.`, visit);
  }
}

for (const name of ['app', 'environment'] as const) {
  test(`schema/${name}.schema.json is a valid draft-07 schema and every key has a description`, () => {
    const schema = readSchema(name);
    const ajv = new Ajv({ strict: false });
    assert.ok(ajv.validateSchema(schema), JSON.stringify(ajv.errors));
    assert.is(schema.$schema, 'http://json-schema.org/draft-07/schema#');
    assert.is(schema.additionalProperties, false);
    const undocumented: string[] = [];
    let count = 0;
    walkProperties(schema, schema, '', (at, s) => {
      count++;
      if (typeof s.description !== 'string' || s.description.length < 10) undocumented.push(at);
    });
    assert.ok(count > 10);
    assert.equal(undocumented, []);
  });
}

test('docs/description.md names every key of both schemas', async () => {
  const doc = await readFile(path.join(root, 'docs/description.md'), 'utf8');
  const missing: string[] = [];
  for (const name of ['app', 'environment'] as const) {
    const schema = readSchema(name);
    walkProperties(schema, schema, '', (at) => {
      const key = at.split('.').pop() as string;
      if (key !== '^x-' && !doc.includes(`\`${key}\``)) missing.push(`${name}: ${at}`);
    });
  }
  assert.equal(missing, []);
});

test('an app.yaml over 256 KiB is refused at once, naming its size, before it is parsed', async () => {
  const keys = Array.from({ length: 20_000 }, (_, i) => `x-k${i}: "${'v'.repeat(40)}"`).join('\n');
  const dir = await writeApp('huge', `platform: python, wsgi\napp: wsgi:application\n${keys}\n`);
  const err = await loadDescription(dir).then(() => null, (e: unknown) => e);
  assert.ok(isGatewayError(err), String(err));
  assert.is((err as GatewayError).code, 'APPPKG_FILE_TOO_LARGE');
  assert.match((err as GatewayError).message, /app\.yaml is \d+ KiB; a description or environment file is at most 256 KiB/);
});

test.run();
