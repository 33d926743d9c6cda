// `check` on an app whose requirements are not installed yet says what install's pip, offline,
// will not find where it looks (the app's directories, --find-links lines, the host's find-links):
// a requirement with no wheel or sdist there, only at another version, or only as wheels built
// for another interpreter. It said "run install", which then failed at pip. Real CLI, real
// interpreter; no pip runs (check reads the directories), no network.
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, tempDir } from '../helpers/process.js';
import { makeApp, makeWheel } from './lifecycle-apps.js';

const test = suite('lifecycle: check predicts what offline pip will not find');
const work = tempDir('apppkg-check-finds-work-');
const state = tempDir('apppkg-check-finds-state-');
test.after(() => {
  work.remove();
  state.remove();
});
const S = ['--state-dir', state.path];
const APP_YAML = 'platform: python, wsgi\napp: wsgi:application\npip: requirements.txt\n';
const CP27 = 'thepkg-1.0-cp27-cp27mu-manylinux1_x86_64.whl';

/** `name` in `dir` as a wheel for CPython 2.7 on Linux, which no Python 3 loads. */
function cp27Wheel(dir: string, name: string): string {
  const file = `${name}-1.0-cp27-cp27mu-manylinux1_x86_64.whl`;
  renameSync(makeWheel(dir, name, '1.0'), join(dir, file));
  return file;
}

test('a wheel for another Python, another version only, none at all: each named, with where pip looks and the app\'s Python', async () => {
  const dir = makeApp(work.path, 'unfindable', APP_YAML);
  mkdirSync(join(dir, 'wheels'));
  cp27Wheel(join(dir, 'wheels'), 'thepkg');
  makeWheel(join(dir, 'wheels'), 'other', '1.0');
  writeFileSync(join(dir, 'requirements.txt'), '--find-links wheels\nthepkg==1.0\nother==2.0\nabsentpkg>=1\n');
  const r = await runCli(['check', dir, ...S], { ms: 120_000 });
  assert.is(r.status, 1, r.stdout + r.stderr);
  const fix = /FAIL\s+pip .*\n\s+fix: (.*)/.exec(r.stdout)?.[1] ?? '';
  assert.match(fix, `\`apppkg-gateway install ${dir} --state-dir ${state.path}\` would fail at pip, which reads offline only ${dir}, ${join(dir, 'wheels')}:`, r.stdout);
  assert.match(fix, `thepkg==1.0: wheels/${CP27} (cp27-cp27mu-manylinux1_x86_64) is a wheel built for another interpreter or platform`);
  assert.match(fix, 'other==2.0: only other 1.0 there');
  assert.match(fix, 'absentpkg>=1: no wheel or sdist of absentpkg');
  assert.match(fix, /a pure-Python one \(py3-none-any\) or one built for the app's python3 3\.\d+\.\d+ .*, tagged cp3\d+ /);
});

test('what pip finds there is not said, and the fix is install\'s, given the same --state-dir', async () => {
  const dir = makeApp(work.path, 'findable', APP_YAML);
  mkdirSync(join(dir, 'wheels'));
  makeWheel(join(dir, 'wheels'), 'other', '1.0');
  writeFileSync(join(dir, 'requirements.txt'), '--find-links wheels\nother==1.0\n');
  const r = await runCli(['check', dir, ...S], { ms: 120_000 });
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stdout, `fix: run \`apppkg-gateway install ${dir} --state-dir ${state.path}\` to build the app's virtualenv`);
  assert.not.match(r.stdout, 'would fail at pip');
});

test("the host's find-links is read where pip reads no index; with an index pip may find it there, and nothing is said", async () => {
  const dir = makeApp(work.path, 'hostlinks', APP_YAML);
  const host = join(work.path, 'host-wheels');
  mkdirSync(host);
  cp27Wheel(host, 'hostpkg');
  writeFileSync(join(dir, 'requirements.txt'), 'hostpkg==1.0\n');
  const offline = await runCli(['check', dir, ...S], { env: { PIP_FIND_LINKS: host, PIP_NO_INDEX: '1' }, ms: 120_000 });
  assert.is(offline.status, 1, offline.stdout + offline.stderr);
  assert.match(offline.stdout, `reads offline only ${dir}, ${host}: hostpkg==1.0: ${host}/hostpkg-1.0-cp27-cp27mu-manylinux1_x86_64.whl (cp27-cp27mu-manylinux1_x86_64) is a wheel built for another interpreter or platform`);
  // Without --no-index pip also reads its index (pypi.org here), whose holdings check does not ask.
  const online = await runCli(['check', dir, ...S], { env: { PIP_FIND_LINKS: host }, ms: 120_000 });
  assert.is(online.status, 1, online.stdout + online.stderr);
  assert.not.match(online.stdout, 'would fail at pip');
  assert.match(online.stdout, 'to build the app\'s virtualenv');
});

test.run();
