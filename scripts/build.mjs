#!/usr/bin/env node
// `npm run build`, and the build `npm test` and the benches run first: a clean dist/ (no module
// left from a file since removed), tsc (the library and its types), the precompiled schema
// validators, then the CLI as one file with its lazily loaded parts (bundle-cli.mjs).
// Exits non-zero at the first step that fails.
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
