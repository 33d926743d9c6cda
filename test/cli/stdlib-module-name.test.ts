// A project module with a standard library module's name (site.py, calendar.py): `import site`
// gives the stdlib's, imported when the interpreter started, and a calendar.py imported first
// hides the stdlib's from every library. init proposes no such module, check fails on one,
// each saying to rename it; a stdlib app the project does not shadow still passes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir } from '../helpers/process.js';

const test = suite('a module named as the standard library');
const work = tempDir('apppkg-stdlib-name-');
const state = tempDir('apppkg-stdlib-name-state-');
test.after(() => {
  work.remove();
  state.remove();
});

const WSGI = 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"ok"]\n';

function project(name: string, files: Record<string, string>): string {
  const dir = join(work.path, name);
  mkdirSync(dir, { recursive: true });
  for (const [file, text] of Object.entries(files)) writeFileSync(join(dir, file), text);
  return dir;
}

test('init proposes no app in site.py: it writes nothing and says to rename it, or takes the other module', async () => {
  const only = project('only-site', { 'site.py': WSGI });
  const r = await runCli(['init', only]);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `app: site:application is in ${join(only, 'site.py')}, which has the name of the standard library's module \`site\``);
  assert.match(r.stderr, 'fix: rename site.py to a name of your own (site_app.py, say), then run `apppkg-gateway init` again');
  assert.is(existsSync(join(only, 'app.yaml')), false);

  const both = project('site-and-wsgi', { 'site.py': WSGI, 'wsgi.py': WSGI });
  const ok = await runCli(['init', both]);
  assert.is(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, '(app: wsgi:application, WSGI)');
});

test('check fails on app: site:application and on calendar:application, saying to rename the module', async () => {
  for (const top of ['site', 'calendar']) {
    const dir = project(`check-${top}`, { [`${top}.py`]: WSGI, 'app.yaml': `platform: python, wsgi\napp: ${top}:application\n` });
    const r = await runCli(['check', dir, '--state-dir', state.path]);
    assert.is(r.status, 1, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, `FAIL  app       ${join(dir, 'app.yaml')}:2:6: app: ${top}:application is in ${join(dir, `${top}.py`)}`);
    assert.match(r.stdout, `fix: rename ${top}.py to a name of your own (${top}_app.py, say) and \`app:\` to match`);
  }
});

test('check passes the standard library\'s own app when the project holds no module of its name', async () => {
  const dir = project('stdlib-app', { 'app.yaml': 'platform: python, wsgi\napp: wsgiref.simple_server:demo_app\n' });
  const r = await runCli(['check', dir, '--state-dir', state.path]);
  assert.is(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /ok +app +wsgiref\.simple_server:demo_app imports and is callable/);
});

test.run();
