// A vendor directory whose requirements choose by platform (`sys_platform`, `platform_machine`),
// vendored on one host and checked on another (a developer's Mac, the server's Linux): pip there
// would have chosen otherwise, while every file is as vendored. `check` warned only for markers
// on the Python version, and said `ok` for these; it now compares the platform the manifest
// records (interpreter.tag, `cp311-cp311-macosx_14_0_arm64`) with the host's. Vendoring on
// another platform is not possible here: the manifest's tag is rewritten to say it was, as a
// directory vendored on a Mac and committed says it.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { appToVendor, BUILD_PYTHON, BUILD_REASON, buildWheels, canBuildWheels } from './vendor-fixtures.js';

const test = suite('vendor: checked on another platform');
const ifWheels = runIf(test, canBuildWheels, BUILD_REASON);
const work = tempDir('apppkg-vendor-other-platform-');
const wheels = join(work.path, 'wheels');
const state = join(work.path, 'state');
const vendoredWith = join(work.path, 'vendored-with.yaml');

test.before(() => {
  writeFileSync(vendoredWith, `python: ${BUILD_PYTHON}\n`);
  if (canBuildWheels) buildWheels(wheels, ['demo-greeting', 'demo-words']);
});
test.after(() => work.remove());

/** The manifest of `dir`'s vendor directory, its interpreter's tag set to `tag`; the tag it had. */
function vendoredOn(dir: string, tag: (was: string) => string): string {
  const file = join(dir, 'vendor', '.apppkg-vendor.json');
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as { interpreter: { python: string; tag: string } };
  const was = manifest.interpreter.tag;
  manifest.interpreter.tag = tag(was);
  writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`);
  return was;
}

async function vendorLine(dir: string): Promise<string> {
  const r = await runCli(['check', dir, '-e', vendoredWith, '--state-dir', state]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  return r.stdout.split('\n').find((l) => /^ok\s+vendor\s/.test(l)) ?? r.stdout;
}

ifWheels('requirements that choose by operating system or machine: check on another platform warns, naming them and what they read; the same platform, or a manifest that records none, does not', async () => {
  const dir = appToVendor(work.path, 'chooses', 'apppkg-demo-greeting; python_version >= "3"\napppkg-demo-words; sys_platform == "linux" or platform_machine == "riscv64"  # a comment: os_name\n');
  const r = await runCli(['vendor', dir, '--find-links', wheels, '--no-index', '-e', vendoredWith], { ms: 180_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  const here = await vendorLine(dir);
  assert.match(here, /vendor\/ current with requirements\.txt/);
  assert.not.match(here, 'WARNING', 'vendored here, checked here');

  const tag = vendoredOn(dir, (was) => was);
  const [python, , platform] = tag.split('-');
  assert.match(platform, /^linux_/, `${tag}: a Linux host's tag`);

  // Another machine, the same system: only the requirement that reads the machine.
  vendoredOn(dir, () => `${python}-${python}-linux_riscv64`);
  const machine = await vendorLine(dir);
  assert.ok(machine.includes(`WARNING: vendored with ${python} on linux_riscv64, and the app runs here on `), machine);
  assert.ok(machine.includes(`, ${python} on ${platform}, while requirements.txt:2 (apppkg-demo-words; sys_platform == "linux" or platform_machine == "riscv64"  # a comment: os_name) chooses by machine: pip on ${python} on ${platform} may install other distributions than vendor/ holds`), machine);
  assert.ok(machine.includes('Vendor it on a host like this one, with the Python the app runs on (here: `apppkg-gateway vendor '), machine);
  assert.not.match(machine, 'requirements.txt:1', 'a requirement on the Python version alone, which is the same');

  // Another system and machine: both named, once each.
  vendoredOn(dir, () => `${python}-${python}-win_amd64`);
  const windows = await vendorLine(dir);
  assert.ok(windows.includes(`vendored with ${python} on win_amd64`), windows);
  assert.ok(windows.includes('chooses by operating system and machine: '), windows);

  // A manifest that records the interpreter alone says nothing of the platform: nothing to judge.
  vendoredOn(dir, () => '');
  assert.not.match(await vendorLine(dir), 'WARNING');
});

test.run();
