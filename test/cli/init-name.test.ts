// init in a directory whose name is no app name (`my project`, `café.2.0`): the app.yaml it
// writes carries a `name:` that is one, so the check it tells the user to run next accepts it;
// a directory whose name will do gets no `name:` line, its default staying the directory's.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli, tempDir } from '../helpers/process.js';

const test = suite('init: the app name');
const work = tempDir('apppkg-init-name-');
test.after(() => work.remove());

const WSGI = 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"ok"]\n';

// `日記`: nothing of it is ASCII, so nothing to spell it in; `app` stands in, and the comment says why.
for (const [dir, name] of [['my project', 'my-project'], ['café.2.0', 'cafe'], ['日記', 'app'], ['blog.1.2', null]] as const) {
  test(`init in "${dir}" writes ${name === null ? 'no name:' : `name: ${name}`} and describe accepts what it wrote`, async () => {
    const root = join(work.path, dir);
    mkdirSync(root, { recursive: true });
    writeFileSync(join(root, 'wsgi.py'), WSGI);
    const init = await runCli(['init', root]);
    assert.is(init.status, 0, init.stderr);
    const yaml = readFileSync(join(root, 'app.yaml'), 'utf8');
    if (name === null) assert.not.match(yaml, /^name:/m);
    else assert.match(yaml, `\nname: ${name}\n`);
    if (dir === '日記') assert.match(yaml, /# The app's name \(its URL \/app, its data\); the directory's, "日記", has no ASCII letter or digit to make one of .*; write your own here\.\nname: app\n/);
    const described = await runCli(['describe', root]);
    assert.is(described.status, 0, described.stderr);
    assert.is(JSON.parse(described.stdout).name, name ?? 'blog');
  });
}

test.run();
