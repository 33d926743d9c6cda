// An app whose deb: is incomplete: it imports here because the host happens to have a package
// deb: does not list, and would fail on a host given only what it lists. check warns, naming the
// package and the line to write. One whose import fails for want of a module no installed
// package gives is told the package apt knows by Debian's name for it, as a guess.
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { aptKnows } from '../../src/environment/apt-knows.js';
import { runCli, tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const test = suite('cli: deb packages the app uses but deb: does not list');
const work = tempDir('apppkg-deb-unlisted-');
test.after(() => work.remove());

// Five each imported only when present, one the app needs: none pulled in by python3-tornado or by each other.
const GUARDED = ['simplejson', 'toml', 'xmltodict', 'msgpack', 'webcolors'];
// A package apt knows by the module's name, not installed here: the import fails for want of it.
const GUESSED = 'python3-flask-cors';

/** The Debian packages the tests below need (or need absent), asked of dpkg at once: a dpkg-query apiece was a dozen. */
const ASKED = ['python3-flask', 'python3-flask-login', 'python3-tornado', 'python3-yaml', 'python3-redis', 'python3-async-timeout', ...GUARDED.map((m) => `python3-${m}`), GUESSED];
const installedHere = (() => {
  // Exits 1 when any is not installed; the others are still listed, one line each (per architecture).
  const r = spawnSync('dpkg-query', ['-W', '-f=${Package} ${Status}\\n', ...ASKED], { encoding: 'utf8', timeout: 10_000 });
  return new Set((r.stdout ?? '').split('\n').filter((l) => /\sinstalled$/.test(l)).map((l) => l.split(' ')[0]));
})();

function installed(name: string): boolean {
  if (!ASKED.includes(name)) throw new Error(`${name}: add it to ASKED`);
  return installedHere.has(name);
}

function writeApp(name: string, deb: string[], code: string): string {
  const dir = join(work.path, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), `platform: python, wsgi\ndeb: [${deb.join(', ')}]\napp: flapp:app\n`);
  writeFileSync(join(dir, 'flapp.py'), code);
  return dir;
}

const withFlaskLogin = runIf(test, installed('python3-flask') && installed('python3-flask-login'), 'needs the Debian packages python3-flask and python3-flask-login installed');

withFlaskLogin('check warns of a Debian package the import loaded that deb: neither lists nor pulls in, with the line to write; not of what deb: pulls in', async () => {
  const code = 'import flask, flask_login\napp = flask.Flask(__name__)\nflask_login.LoginManager(app)\n';
  const dir = writeApp('login', ['python3-flask'], code);
  const r = await runCli(['check', dir, '--state-dir', join(work.path, 'state')], { ms: 60_000 });
  assert.is(r.status, 0, `a warning, not a failure:\n${r.stdout}${r.stderr}`);
  const warning = r.stdout.split('\n').find((l) => /WARNING/.test(l)) ?? '';
  assert.match(warning, /^ok {4}deb {7}/, r.stdout);
  assert.match(warning, `${join(dir, 'app.yaml')}:2:6: WARNING: the import loaded modules from a Debian package installed here: python3-flask-login (flask_login); deb: lists python3-flask, which does not pull it in`);
  assert.match(warning, 'Write `deb: [python3-flask, python3-flask-login]`');
  // flask's own (werkzeug, jinja2, click, itsdangerous, markupsafe, blinker) come with python3-flask.
  assert.not.match(warning, /werkzeug|jinja2|blinker|python3-click/);

  const listed = writeApp('login-listed', ['python3-flask', 'python3-flask-login'], code);
  const again = await runCli(['check', listed, '--state-dir', join(work.path, 'state')], { ms: 60_000 });
  assert.is(again.status, 0, again.stdout + again.stderr);
  assert.match(again.stdout, /ok {4}app {7}flapp:app imports/);
  assert.not.match(again.stdout, /WARNING/);
});

// redis.asyncio loads async_timeout, of python3-async-timeout, which python3-redis Depends on:
// the line to write was `deb: [python3-flask, python3-async-timeout, ..., python3-redis]`.
const withRedis = runIf(test, installed('python3-flask') && installed('python3-redis') && installed('python3-async-timeout'), 'needs the Debian packages python3-flask, python3-redis and python3-async-timeout installed');

withRedis('the deb: line to write leaves out a package another one it adds pulls in, saying which', async () => {
  const dir = writeApp('pulled', ['python3-flask'], 'import flask, redis.asyncio\napp = flask.Flask(__name__)\n');
  const r = await runCli(['check', dir, '--state-dir', join(work.path, 'state')], { ms: 60_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  const warning = r.stdout.split('\n').find((l) => /WARNING/.test(l)) ?? '';
  // Both are named as loaded; the line lists the one that brings the other.
  assert.match(warning, 'python3-async-timeout (async_timeout)', r.stdout);
  assert.match(warning, /Write `deb: \[python3-flask, python3-redis\]` \(python3-redis pulls in python3-async-timeout[,)]/, r.stdout);
});

const withOptional = runIf(
  test,
  installed('python3-tornado') && installed('python3-simplejson') && installed('python3-yaml'),
  'needs the Debian packages python3-tornado, python3-simplejson and python3-yaml installed',
);

withOptional('a package the app imports only when present (try/except ImportError, as Bottle and WebOb import simplejson) is noted, not asked for', async () => {
  // python3-tornado pulls in neither simplejson nor yaml.
  const guarded = 'try:\n    import simplejson as json\nexcept ImportError:\n    import json\n';
  const wsgi = 'def app(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n';
  const optional = writeApp('optional', ['python3-tornado'], `import tornado\n${guarded}${wsgi}`);
  const r = await runCli(['check', optional, '--state-dir', join(work.path, 'state')], { ms: 60_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.not.match(r.stdout, /WARNING/, r.stdout);
  assert.match(r.stdout, `app.yaml:2:6: note: the import loaded modules from a Debian package installed here that deb: does not list, python3-simplejson (simplejson); the app imports without it (loaded only when present)`);

  // One needed, one optional: the line to write names the needed one alone.
  const both = writeApp('needed-and-optional', ['python3-tornado'], `import tornado, yaml\n${guarded}${wsgi}`);
  const mixed = await runCli(['check', both, '--state-dir', join(work.path, 'state')], { ms: 60_000 });
  assert.is(mixed.status, 0, mixed.stdout + mixed.stderr);
  const warning = mixed.stdout.split('\n').find((l) => /WARNING/.test(l)) ?? '';
  assert.match(warning, 'WARNING: the import loaded modules from a Debian package installed here: python3-yaml (', mixed.stdout);
  assert.match(warning, 'Write `deb: [python3-tornado, python3-yaml]`; it also loaded python3-simplejson (simplejson), which deb: does not list either, but imports without it');
});

const withManyOptional = runIf(
  test,
  ['tornado', 'yaml', ...GUARDED].every((m) => installed(`python3-${m}`)),
  `needs the Debian packages ${['tornado', 'yaml', ...GUARDED].map((m) => `python3-${m}`).join(', ')} installed`,
);

withManyOptional('among six packages deb: does not list, the one the app needs is asked for and the five it imports only when present are noted', async () => {
  const guarded = GUARDED.map((m) => `try:\n    import ${m}\nexcept ImportError:\n    ${m} = None\n`).join('');
  const wsgi = 'def app(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n';
  const dir = writeApp('many-optional', ['python3-tornado'], `import tornado, yaml\n${guarded}${wsgi}`);
  const r = await runCli(['check', dir, '--state-dir', join(work.path, 'state')], { ms: 120_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  const warning = r.stdout.split('\n').find((l) => /WARNING/.test(l)) ?? '';
  assert.match(warning, 'WARNING: the import loaded modules from a Debian package installed here: python3-yaml (', r.stdout);
  assert.match(warning, 'Write `deb: [python3-tornado, python3-yaml]`; it also loaded ', r.stdout);
  const also = warning.slice(warning.indexOf('; it also loaded '));
  for (const m of GUARDED) assert.match(also, `python3-${m} (${m})`, r.stdout);
  assert.match(also, 'which deb: does not list either, but imports without them (loaded only when present)');
});

// apt-knows.ts's answer, which test/environment/apt-knows holds to apt-cache's own: apt-cache
// itself builds apt's cache at every run where apt keeps none (Docker's images), ~1.4 s of CPU.
const canGuess = installed('python3-flask') && !installed(GUESSED) && (await aptKnows(GUESSED)) === true;
const withGuess = runIf(test, canGuess, `needs python3-flask installed, ${GUESSED} not installed, and apt's cache knowing ${GUESSED}`);

withGuess('a deb: app that fails to import a module no installed package gives: check and serve name the package apt knows for it, as a guess', async () => {
  const dir = writeApp('cors', ['python3-flask'], 'import flask, flask_cors\napp = flask.Flask(__name__)\n');
  const r = await runCli(['check', dir, '--state-dir', join(work.path, 'state')], { ms: 60_000 });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, "ModuleNotFoundError: No module named 'flask_cors'; no package installed here gives flask_cors to /usr/bin/python3");
  assert.match(r.stdout, 'fix: a guess from its name: apt knows python3-flask-cors, which may be what gives flask_cors');
  assert.match(r.stdout, '`deb: [python3-flask, python3-flask-cors]`');

  const served = await runCli(['serve', dir, '--port', '0', '--state-dir', join(work.path, 'state')], { ms: 60_000 });
  assert.is(served.status, 1, served.stderr);
  assert.match(served.stderr, "No module named 'flask_cors'; no package installed here gives flask_cors to /usr/bin/python3");
  assert.match(served.stderr, 'a guess from its name: apt knows python3-flask-cors');
});

test.run();
