// The build compiles the shim (scripts/build.mjs): a worker whose Python may not write
// __pycache__ (PYTHONDONTWRITEBYTECODE, or a user who cannot write into the install) reads
// bytecode instead of compiling ~220 KB of Python at every start, and the bytecode stays valid
// in a tarball that dates every file 1985, as it is checked by the source's hash.
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { SHIM_DIR } from '../../src/link/shim-path.js';
import { tempDir } from '../helpers/process.js';

const test = suite('python: the shim compiled by the build');

// Imports every module of the shim's packages, with sys.dont_write_bytecode, and prints the ones
// Python compiled from source (SourceLoader.source_to_code), one per line.
const IMPORT_ALL = String.raw`
import importlib, importlib.machinery, pkgutil, sys
shim = sys.argv[1]
sys.path.insert(0, shim)
compiled = []
original = importlib.machinery.SourceFileLoader.source_to_code
def counting(self, data, path, *args, **kwargs):
    if str(path).startswith(shim):
        compiled.append(str(path))
    return original(self, data, path, *args, **kwargs)
importlib.machinery.SourceFileLoader.source_to_code = counting
for package in ("apppkg", "apppkg_shim"):
    module = importlib.import_module(package)
    for info in pkgutil.iter_modules(module.__path__, package + "."):
        try:
            importlib.import_module(info.name)
        except Exception:
            pass  # a module for a green server needs its package; it is compiled before it fails
print("\n".join(compiled))
`;

function compiledFromSource(shim: string): string[] {
  const r = spawnSync('python3', ['-c', IMPORT_ALL, shim], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  assert.is(r.status, 0, r.stderr);
  return r.stdout.split('\n').filter(Boolean);
}

test('no module of the shim is compiled at import', () => {
  assert.equal(compiledFromSource(SHIM_DIR), [], 'compiled at import (after an edit of the shim: `npm run build`)');
});

test('nor in a copy whose files all carry one old date, as npm installs them', () => {
  const dir = tempDir();
  try {
    const copy = join(dir.path, 'python-shim');
    cpSync(SHIM_DIR, copy, { recursive: true });
    const spawned = spawnSync('find', [copy, '-exec', 'touch', '-d', '1985-10-26 08:15', '{}', '+']);
    assert.is(spawned.status, 0);
    assert.equal(compiledFromSource(copy), []);
    // And an edited source is not hidden by its old bytecode.
    const edited = join(copy, 'apppkg_shim', 'errors.py');
    appendFileSync(edited, '# edited\n');
    utimesSync(edited, new Date('1985-10-26T08:15:00Z'), new Date('1985-10-26T08:15:00Z'));
    assert.equal(compiledFromSource(copy), [edited]);
  } finally {
    dir.remove();
  }
});

test.run();
