#!/usr/bin/env node
// The test command: installs what the tests need (Debian packages, when root), builds, runs
// every uvu suite under test/ on the real thing, and ends with `N passed, N failed`.
import { spawnSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Debian packages the tests drive for real (Flask example on the system interpreter, etc.).
const DEBIAN_PACKAGES = ['python3-flask', 'python3-venv', 'python3-pip', 'python3-tornado', 'python3-websockets', 'python3-django', 'nginx', 'wrk', 'gunicorn', 'uwsgi', 'uwsgi-plugin-python3'];

function missingDebianPackages() {
  const probe = spawnSync('dpkg-query', ['-W', '-f=${Package} ${Status}\n', ...DEBIAN_PACKAGES], { encoding: 'utf8' });
  if (probe.error) return [];
  const installed = new Set(
    probe.stdout.split('\n').filter((l) => l.endsWith('install ok installed')).map((l) => l.split(' ')[0]),
  );
  return DEBIAN_PACKAGES.filter((p) => !installed.has(p));
}

function ensureDebianPackages() {
  const missing = missingDebianPackages();
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    console.log(`note: not root, so not installing ${missing.join(' ')}; tests that need them will fail`);
    return;
  }
  console.log(`installing Debian packages the tests need: ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const r = spawnSync('apt-get', ['install', '-y', '-qq', ...missing], { stdio: ['ignore', 'ignore', 'inherit'], env });
  if (r.status !== 0) console.log('warning: apt-get install failed; tests that need those packages will fail');
}

/** As `npm run build`: tsc, then the precompiled schema validators. */
function build() {
  for (const args of [[join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.json')], [join(root, 'scripts/build-validators.mjs')]]) {
    const r = spawnSync(process.execPath, args, { stdio: 'inherit' });
    if (r.status !== 0) {
      console.log('0 passed, 1 failed');
      process.exit(1);
    }
  }
}

ensureDebianPackages();
build();

const filter = process.argv.slice(2);
const child = spawn(
  process.execPath,
  ['--import', 'tsx', join(root, 'node_modules/uvu/bin.js'), 'test', filter[0] ?? '.test.ts$', '-i', 'fixtures', '-i', 'helpers'],
  { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FORCE_COLOR: '0' } },
);
let out = '';
child.stdout.on('data', (chunk) => {
  out += chunk;
  process.stdout.write(chunk);
});
child.on('close', (code) => {
  const total = Number(/Total:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const passed = Number(/Passed:\s+(\d+)/.exec(out)?.[1] ?? 0);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(out)?.[1] ?? 0);
  // uvu counts a suite that threw outside a test as neither passed nor failed: count it failed.
  let failed = Math.max(0, total - passed - skipped);
  if (code !== 0 && failed === 0) failed = 1;
  // The reliability suite's counts (inputs tried, faults injected, requests sent during
  // deploys, failed requests) are printed among uvu's dots: gather them where they are seen.
  const counts = out.match(/reliability: [\w ]+: [^\n]*/g) ?? [];
  if (counts.length > 0) console.log(`\n${counts.join('\n')}`);
  console.log(`\n${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(failed > 0 || code !== 0 ? 1 : 0);
});
