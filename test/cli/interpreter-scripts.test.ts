// The console scripts an app runs by name (`commands.update: flask db upgrade`) are those of
// its own interpreter: an app listing `deb:` runs on /usr/bin/python3, whose packages put
// `flask` in /usr/bin, while the shell's PATH may find another interpreter's `flask` first (a
// pyenv shim, /usr/local/bin), which imports none of the app's packages. Skipped, and said so,
// on a host without Debian's python3-flask.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const HAS_FLASK = existsSync('/usr/bin/flask');

const test = suite('cli: the interpreter\'s console scripts');
const ifFlask = runIf(test, HAS_FLASK, 'needs python3-flask (/usr/bin/flask; npm test installs it as root)');
const state = tempDir('apppkg-scripts-state-');
const work = tempDir('apppkg-scripts-work-');
test.after(() => {
  state.remove();
  work.remove();
});

/** A directory holding a `flask` that is not the app's, as a pyenv shim would be. */
function otherFlask(): string {
  const bin = join(work.path, 'other-bin');
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(bin, 'flask'), '#!/bin/sh\necho "another interpreter\'s flask" >&2\nexit 3\n');
  chmodSync(join(bin, 'flask'), 0o755);
  return bin;
}

ifFlask('an app on Debian\'s interpreter runs /usr/bin/flask, in run and in its hooks, before another flask on the caller\'s PATH', async () => {
  const dir = join(work.path, 'blog');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'blog.py'), 'from flask import Flask\napp = Flask(__name__)\n\n@app.route("/")\ndef index():\n    return "ok"\n');
  writeFileSync(join(dir, 'app.yaml'), [
    'platform: python, wsgi',
    'deb: python3-flask',
    'app: blog:app',
    'commands:',
    '  install: flask --app blog routes > "$APPPKG_DATA_DIR/routes.txt"',
    '',
  ].join('\n'));
  const env = { PATH: `${otherFlask()}:/usr/local/bin:/usr/bin:/bin` };
  const S = ['--state-dir', state.path];

  const which = await runCli(['run', dir, ...S, '--', 'sh', '-c', 'command -v flask'], { env });
  assert.is(which.status, 0, which.stderr);
  assert.is(which.stdout.trim(), '/usr/bin/flask');

  const installed = await runCli(['install', dir, ...S], { env, ms: 120_000 });
  assert.is(installed.status, 0, installed.stdout + installed.stderr);
  const routes = await runCli(['run', dir, ...S, '--', 'cat', join(state.path, 'apps', 'blog', 'data', 'routes.txt')], { env });
  assert.match(routes.stdout, /index\s+GET/);
});

test.run();
