#!/usr/bin/env node
// `npm run build`, the benches' first step, and `npm test`'s when dist/ is not built from the
// sources as they are (build-inputs.mjs): a clean dist/ (no module left from a file since
// removed), tsc (the library and its types), the precompiled schema validators, then the CLI as
// one file with its lazily loaded parts (bundle-cli.mjs), and the Python shim's bytecode; last,
// the hash of what it was built from. Exits non-zero at the first step that fails.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stampBuild } from './build-inputs.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

rmSync(join(root, 'dist'), { recursive: true, force: true });
for (const args of [
  [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')],
  [join(root, 'scripts', 'build-validators.mjs')],
  [join(root, 'scripts', 'bundle-cli.mjs')],
]) {
  const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

// Every worker imports the shim (~220 KB of Python). Where its __pycache__ is not written at run
// time, Python compiles it again at each worker start, ~30 ms of CPU: PYTHONDONTWRITEBYTECODE set
// (as on the development machine, and in many images), or workers running as users who cannot
// write into a root's install. Compiled here by the python3 that builds; a worker on another
// Python version (its own magic number in the file name) compiles as before. No python3 here:
// nothing to do. Checked by the source's hash, not its mtime: npm's tarball dates every file
// 1985, so mtime-checked files would be stale in every install made from it, and an edited
// source is still recompiled. Forced: compileall keeps a file Python wrote itself (checked by
// mtime) while it matches its source.
const shim = spawnSync('python3', ['-m', 'compileall', '-q', '-f', '--invalidation-mode', 'checked-hash', join(root, 'python-shim')], { stdio: 'inherit' });
if (shim.error === undefined && shim.status !== 0) process.exit(shim.status ?? 1);

stampBuild(root);
