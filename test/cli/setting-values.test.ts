// The values of the environment file's settings (SPEC §2) reach every process of the app as
// environment variables (SPEC §2.1), written as in the file; one no environment variable can
// hold (a NUL character) is refused at its line, not an internal error when a process starts.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, tempDir } from '../helpers/process.js';

const test = suite('cli: setting values');
const work = tempDir('apppkg-setting-values-');
test.after(() => work.remove());

const app = join(work.path, 'blog');
const state = join(work.path, 'state');
mkdirSync(app, { recursive: true });
writeFileSync(join(app, 'app.yaml'), 'platform: python, wsgi\napp: wsgi:application\n');
writeFileSync(join(app, 'wsgi.py'), 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b""]\n');

function environment(text: string): string {
  const file = join(work.path, 'environment.yaml');
  writeFileSync(file, text);
  return file;
}

test('numbers, booleans and several lines reach a command as written', async () => {
  const file = environment('settings:\n  RATIO: 1.0\n  DEBUG: yes\n  KEY: |\n    line one\n    line two\n');
  const ran = await runCli(['run', app, '--environment', file, '--state-dir', state, '--', 'python', '-c', 'import os, json; print(json.dumps([os.environ[k] for k in ("RATIO", "DEBUG", "KEY")]))']);
  assert.is(ran.status, 0, ran.stderr);
  assert.equal(JSON.parse(ran.stdout), ['1.0', 'yes', 'line one\nline two\n']);
});

test('a value with a NUL character is refused at its place, with what was expected', async () => {
  const file = environment('apps:\n  blog:\n    settings:\n      TOKEN: "a\\0b"\n');
  const ran = await runCli(['run', app, '--environment', file, '--state-dir', state, '--', 'true']);
  assert.is(ran.status, 1, ran.stderr);
  assert.not.match(ran.stderr, 'internal error');
  assert.match(ran.stderr, `${file}:4:14: apps.blog.settings.TOKEN: expected a string, number or boolean, with no NUL character (an environment variable cannot hold one), found "a\\u0000b"`);
});

test.run();
