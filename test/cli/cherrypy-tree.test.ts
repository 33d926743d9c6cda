// CherryPy's `cherrypy.tree` as the app: it routes on SCRIPT_NAME + PATH_INFO, the whole path,
// so under the mount --apps gives it (/NAME) it finds its app mounted at / and asks it for
// /NAME/..., a 404 for every request, while `serve` (at /) and check passed. check now warns,
// naming the app object to serve instead (cherrypy.Application(Root(), script_name=None)).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const HAS_CHERRYPY = spawnSync('/usr/bin/python3', ['-c', 'import cherrypy'], { stdio: 'ignore', timeout: 20_000 }).status === 0;

const test = suite('cli: check warns of a cherrypy.tree that a mount would make a 404');
const work = tempDir('apppkg-cherrypy-tree-');
test.after(() => work.remove());

// cherrypy/_cptree.py's Tree as far as check looks: its class, and `apps` by script name.
const STAND_IN = 'class Tree:\n    def __init__(self):\n        self.apps = {}\n\n    def __call__(self, environ, start_response):\n        start_response("404 Not Found", [])\n        return []\n';

function treeApp(name: string, mountedAt: string): string {
  const dir = join(work.path, name);
  mkdirSync(join(dir, 'cherrypy'), { recursive: true });
  writeFileSync(join(dir, 'cherrypy', '__init__.py'), '');
  writeFileSync(join(dir, 'cherrypy', '_cptree.py'), STAND_IN);
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\napp: site_tree:application\n');
  writeFileSync(join(dir, 'site_tree.py'), `from cherrypy._cptree import Tree\n\napplication = Tree()\napplication.apps[${JSON.stringify(mountedAt)}] = object()\n`);
  return dir;
}

test('a tree mounted at / under the default mount /NAME: a warning at app:, naming the app object to serve instead', async () => {
  const dir = treeApp('shop', '');
  const r = await runCli(['check', dir, '--state-dir', join(work.path, 'state')]);
  assert.is(r.status, 0, `a warning, not a failure:\n${r.stdout}${r.stderr}`);
  assert.match(r.stdout, `app.yaml:2:6: WARNING: site_tree:application is cherrypy.tree, whose apps are mounted at /: it routes on the whole path (SCRIPT_NAME + PATH_INFO), so under the app's mount /shop (--apps) every request is a 404`);
  assert.match(r.stdout, '`application = cherrypy.Application(Root(), script_name=None)`');
});

test('no warning where the tree finds its app: mounted at the mount, or the app served at / by the environment file', async () => {
  const mounted = treeApp('blog', '/blog');
  const r = await runCli(['check', mounted, '--state-dir', join(work.path, 'state')]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.not.match(r.stdout, /WARNING/, r.stdout);
  const atRoot = treeApp('wiki', '');
  const env = join(work.path, 'env.yaml');
  writeFileSync(env, 'apps:\n  wiki:\n    mount: /\n');
  const rooted = await runCli(['check', atRoot, '--environment', env, '--state-dir', join(work.path, 'state')]);
  assert.is(rooted.status, 0, rooted.stdout + rooted.stderr);
  assert.not.match(rooted.stdout, /WARNING/, rooted.stdout);
});

runIf(test, HAS_CHERRYPY, 'needs python3-cherrypy3')('CherryPy\'s own tree, as its docs mount an app on it, is warned of; cherrypy.Application is not', async () => {
  const dir = join(work.path, 'real');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), 'platform: python, wsgi\ndeb: python3-cherrypy3\napp: root:application\n');
  const root = 'import cherrypy\n\n\nclass Root:\n    @cherrypy.expose\n    def index(self):\n        return "ok"\n\n\n';
  writeFileSync(join(dir, 'root.py'), `${root}cherrypy.tree.mount(Root(), "/")\napplication = cherrypy.tree\n`);
  const r = await runCli(['check', dir, '--state-dir', join(work.path, 'state')], { ms: 60_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, 'WARNING: root:application is cherrypy.tree, whose apps are mounted at /');
  writeFileSync(join(dir, 'root.py'), `${root}application = cherrypy.Application(Root(), script_name=None)\n`);
  const fixed = await runCli(['check', dir, '--state-dir', join(work.path, 'state')], { ms: 60_000 });
  assert.is(fixed.status, 0, fixed.stdout + fixed.stderr);
  assert.not.match(fixed.stdout, /cherrypy\.tree/, fixed.stdout);
});

test.run();
