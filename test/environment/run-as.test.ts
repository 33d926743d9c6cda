// SPEC §2: `user:` applies when the gateway runs as root. Not root, it cannot switch users, and
// the gateway says so at each entry that names one (at the start and each SIGHUP, under --apps).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { loadEnvironmentFile } from '../../src/environment/host-file.js';
import { userNotAppliedWarnings } from '../../src/environment/run-as.js';

const test = suite('run as');
let scratch = '';

test.before(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), 'apppkg-run-as-'));
});

test.after(async () => {
  await rm(scratch, { recursive: true, force: true });
});

test('a user: the gateway cannot apply (it is not root) is said at its line; as root nothing is said', async () => {
  const file = path.join(scratch, 'environment.yaml');
  await writeFile(file, 'defaults:\n  user: www-data\napps:\n  blog:\n    user: blog\n  wiki:\n    workers: 1\n');
  const env = await loadEnvironmentFile(file);
  assert.equal(userNotAppliedWarnings(env, 0), []);
  const lines = userNotAppliedWarnings(env, 65534);
  assert.is(lines.length, 2, lines.join('\n'));
  assert.match(lines[0], `${file}:2:9: defaults.user: www-data is not applied: the gateway runs as `);
  assert.match(lines[1], `${file}:5:11: apps.blog.user: blog is not applied`);
  assert.match(lines[1], 'start it as root');
  assert.equal(userNotAppliedWarnings(await loadEnvironmentFile(await writeAndName('apps:\n  blog: {workers: 1}\n')), 65534), [], 'no user: written, nothing said');
});

async function writeAndName(text: string): Promise<string> {
  const file = path.join(scratch, `env-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, text);
  return file;
}

test.run();
