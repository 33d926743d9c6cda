// A vendor directory whose requirements choose by the micro version (`python_full_version <
// "3.11.5"`): the manifest recorded the vendoring Python as its tag alone (cp311, any 3.11.x),
// so `check` compared only the series and said `ok` without a word on a host where pip would
// choose otherwise (vendored on 3.11.2, run on 3.11.7). The manifest now records the full
// version too (interpreter.version), and check judges such a marker by it; for a manifest
// written before, it judges where the series decides (every 3.11.x reads it alike) and says
// otherwise that it was not judged, with the command that vendors again.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runCli, tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';
import { appToVendor, BUILD_PYTHON, BUILD_REASON, buildWheels, canBuildWheels, pythonVersion } from './vendor-fixtures.js';

const test = suite('vendor: requirements that choose by the micro version');
const ifWheels = runIf(test, canBuildWheels, BUILD_REASON);
const work = tempDir('apppkg-vendor-micro-');
const wheels = join(work.path, 'wheels');
const state = join(work.path, 'state');
const environment = join(work.path, 'environment.yaml');

test.before(() => {
  writeFileSync(environment, `python: ${BUILD_PYTHON}\n`);
  if (canBuildWheels) buildWheels(wheels, ['demo-greeting', 'demo-words']);
});
test.after(() => work.remove());

/** `check`'s vendor line for the app `dir`. */
async function checkLine(dir: string): Promise<string> {
  const r = await runCli(['check', dir, '-e', environment, '--state-dir', state]);
  assert.is(r.status, 0, r.stdout + r.stderr);
  return r.stdout.split('\n').find((l) => /^ok\s+vendor\s/.test(l)) ?? r.stdout;
}

/** An app with these requirements, vendored with BUILD_PYTHON. */
async function vendored(name: string, requirements: string): Promise<string> {
  const dir = appToVendor(work.path, name, requirements);
  const r = await runCli(['vendor', dir, '--find-links', wheels, '--no-index', '-e', environment], { ms: 180_000 });
  assert.is(r.status, 0, r.stdout + r.stderr);
  return dir;
}

/** Rewrites the manifest's interpreter.version (undefined: removes it, as a manifest written before it had none). */
function recordedVersion(dir: string, version: string | undefined): string | undefined {
  const file = join(dir, 'vendor', '.apppkg-vendor.json');
  const manifest = JSON.parse(readFileSync(file, 'utf8')) as { interpreter: { version?: string } };
  const was = manifest.interpreter.version;
  if (version === undefined) delete manifest.interpreter.version;
  else manifest.interpreter.version = version;
  writeFileSync(file, `${JSON.stringify(manifest, null, 2)}\n`);
  return was;
}

ifWheels('python_full_version within the series: judged by the full version the manifest records; with none recorded, said not judged unless the series decides', async () => {
  const full = spawnSync(BUILD_PYTHON, ['-c', 'import platform; print(platform.python_version())'], { encoding: 'utf8', timeout: 30_000 }).stdout.trim();
  const series = pythonVersion(BUILD_PYTHON);
  const next = `${series}.${Number(full.split('.')[2]) + 1}`;
  // True here, false on the next micro version: pip there would leave apppkg-demo-words out.
  const micro = `apppkg-demo-words; python_full_version < "${next}"`;
  const dir = await vendored('micro', `apppkg-demo-greeting\n${micro}\n`);
  const command = `(here: \`apppkg-gateway vendor ${dir} --from requirements.txt --into vendor/ --no-index --find-links DIR --environment ${environment}\`)`;

  // Vendored here, checked here: the manifest says with which Python, and it is this one.
  assert.is(recordedVersion(dir, full), full, 'the manifest records the full version');
  const same = await checkLine(dir);
  assert.match(same, /vendor\/ current with requirements\.txt, files as vendored: 2 distributions/, same);
  assert.not.match(same, 'WARNING', same);

  // Vendored on the next micro version: judged, and warned.
  recordedVersion(dir, next);
  const other = await checkLine(dir);
  assert.ok(other.includes(`WARNING: vendored with cp${series.replace('.', '')}, and the app runs here on ${BUILD_PYTHON} ${full}, while requirements.txt:2 (${micro}) chooses by the micro version (python_full_version): vendored with Python ${next}, pip on Python ${full} may install other distributions than vendor/ holds. Vendor it with the Python the app runs on ${command}`), other);

  // A manifest from before it recorded the version: not judged, and said so.
  recordedVersion(dir, undefined);
  const older = await checkLine(dir);
  assert.ok(older.includes(`while requirements.txt:2 (${micro}) chooses by the micro version (python_full_version), which this manifest does not record (cp${series.replace('.', '')} is any ${series}.x): not judged, pip on Python ${full} may install other distributions than vendor/ holds. Vendor it again ${command}: the manifest then records the Python's full version, and check judges it`), older);

  // Every micro version of the series reads these alike: judged without the version, no warning.
  const decided = await vendored('decided', `apppkg-demo-greeting\napppkg-demo-words; python_full_version >= "${series}.0" and python_full_version != "2.7.18"\n`);
  recordedVersion(decided, undefined);
  const line = await checkLine(decided);
  assert.match(line, /vendor\/ current with requirements\.txt/);
  assert.not.match(line, 'WARNING', line);
});

test.run();
