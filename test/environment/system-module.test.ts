// Which Debian package gives a module (init's deb: line, check's unlisted packages and its
// APPPKG_APP_SYSTEM_MODULE fix): read from dpkg's lists of the packages the module's name
// suggests, with `dpkg -S` for the rest. The answers must be those `dpkg -S` itself gives, by
// the rule owningPackage states, for every module Debian installed for the system interpreter.
import { execFileSync, spawnSync } from 'node:child_process';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { debianNamesOfModule } from '../../src/environment/debian-python-name.js';
import { owningPackages } from '../../src/environment/system-module.js';
import { hasProgram, runIf } from '../helpers/skip.js';

const test = suite('environment: the Debian package of a system module');

/** Every top-level module /usr/bin/python3 imports from a dist-packages directory, [name, file]. */
function debianModules(): Array<[string, string]> {
  const listing = String.raw`
import importlib.util, pkgutil
for m in pkgutil.iter_modules():
    try:
        spec = importlib.util.find_spec(m.name)
    except Exception:
        continue
    places = [] if spec is None else [spec.origin] if spec.origin not in (None, "namespace") else list(spec.submodule_search_locations or [])
    if places and "dist-packages" in places[0]:
        print(m.name + "\t" + places[0])
`;
  const out = execFileSync('/usr/bin/python3', ['-I', '-c', listing], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 });
  return out.split('\n').filter(Boolean).map((line) => line.split('\t') as [string, string]);
}

/** `dpkg -S`'s owners of each path ("a, b: PATH", "pkg:amd64: PATH"), by path. */
function dpkgSearch(places: string[]): Map<string, string[]> {
  const owners = new Map<string, string[]>();
  const out = spawnSync('dpkg', ['-S', ...places], { encoding: 'utf8', timeout: 60_000 }).stdout;
  for (const line of out.split('\n')) {
    const at = line.lastIndexOf(': ');
    if (at > 0 && !line.startsWith('diversion ')) owners.set(line.slice(at + 2), line.slice(0, at).split(', ').map((n) => n.split(':')[0]));
  }
  return owners;
}

const onDebian = runIf(test, hasProgram('dpkg') && spawnSync('/usr/bin/python3', ['-c', 'pass'], { timeout: 20_000 }).status === 0, 'needs dpkg and /usr/bin/python3 (a Debian host)');

onDebian("each module's package is dpkg -S's answer: the package named for it (python3-NAME or NAME) that owns the file or shares its package directory, else the file's own", async () => {
  const modules = debianModules();
  assert.ok(modules.length > 0, 'no module under dist-packages for /usr/bin/python3');
  const isPackage = (file: string) => path.basename(file) === '__init__.py';
  const owners = dpkgSearch([...new Set(modules.flatMap(([, file]) => (isPackage(file) ? [file, path.dirname(file)] : [file])))]);
  const found = await owningPackages(modules);
  const wrong: string[] = [];
  for (const [module, file] of modules) {
    const own = owners.get(file) ?? [];
    const shared = isPackage(file) ? (owners.get(path.dirname(file)) ?? []) : [];
    const namedForIt = (name: string) => debianNamesOfModule(module).includes(name);
    const expected = [...own, ...shared].find(namedForIt) ?? own[0];
    if (found.get(module) !== expected) wrong.push(`${module} (${file}): ${found.get(module)}, dpkg -S: ${expected}`);
  }
  assert.equal(wrong, []);
});

test.run();
