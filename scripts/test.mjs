#!/usr/bin/env node
// The test command: installs what the tests need (Debian packages, when root), builds, runs
// every uvu suite under test/ on the real thing, and ends with `N passed, N failed, N skipped`
// (a test this host cannot run is skipped through test/helpers/skip.ts, never passed).
import { spawnSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Debian packages the tests drive for real (Flask example on the system interpreter, etc.).
const DEBIAN_PACKAGES = ['python3-flask', 'python3-venv', 'python3-pip', 'python3-tornado', 'python3-websockets', 'python3-django', 'python3-fastapi', 'python3-starlette', 'nginx', 'wrk', 'gunicorn', 'uwsgi', 'uwsgi-plugin-python3', 'chromium', 'postgresql', 'postgresql-client', 'redis-server', 'python3-psycopg2', 'python3-redis', 'python3-dj-database-url', 'python3-sqlalchemy', 'python3-setuptools', 'python3-wheel', 'python3-dev', 'gcc', 'swaks'];

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

/** `npm run build`'s steps (scripts/build.mjs); a failed build is one failed test. */
function build() {
  const r = spawnSync(process.execPath, [join(root, 'scripts', 'build.mjs')], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.log('0 passed, 1 failed, 0 skipped');
    process.exit(1);
  }
}

ensureDebianPackages();
build();

const filter = process.argv[2];
// Two halves of the suite run at once, split by directory, balanced on a 2-core run's times
// (cli, services, proxy, link, ... 808 s with library among them, the rest 711 s, on
// 2026-12-02): most of a test's time is spent waiting on the processes, sockets and timers it
// drives, so the halves overlap well, and the whole run stays inside the 15 minutes a 2-core
// machine allows. A filter runs as one.
const FIRST_HALF = ['cli', 'services', 'proxy', 'link', 'vendor', 'processes', 'export'];
const patterns = filter !== undefined
  ? [filter]
  : [`^(${FIRST_HALF.join('|')})/.*\\.test\\.ts$`, `^(?!(${FIRST_HALF.join('|')})/).*\\.test\\.ts$`];

const runs = patterns.map((pattern, i) => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'node_modules/uvu/bin.js'), 'test', pattern, '-i', 'fixtures', '-i', 'helpers'],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FORCE_COLOR: '0' } },
  );
  const run = {
    out: '',
    shown: 0,
    ended: false,
    // The first half is shown as it runs; a later one's output waits until those before it end.
    show() {
      if (runs.slice(0, i).some((r) => !r.ended)) return;
      process.stdout.write(run.out.slice(run.shown));
      run.shown = run.out.length;
    },
    finished: new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal }))),
  };
  child.stdout.on('data', (chunk) => {
    run.out += chunk;
    run.show();
  });
  run.finished.then(() => {
    run.ended = true;
    for (const later of runs.slice(i + 1)) later.show();
  });
  return run;
});

Promise.all(runs.map((r) => r.finished)).then((results) => {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const notes = [];
  results.forEach(({ code, signal }, i) => {
    const counts = summarize(runs[i].out, code, signal);
    passed += counts.passed;
    failed += counts.failed;
    skipped += counts.skipped;
    notes.push(...counts.notes);
  });
  if (notes.length > 0) console.log(`\n${notes.join('\n')}`);
  console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exit(failed > 0 || results.some((r) => r.code !== 0) ? 1 : 0);
});

/** The counts from uvu's output (colours and all), and the lines a reader should see last. */
function summarize(output, code, signal) {
  const text = output.replace(/\x1b\[[0-9;]*m/g, ''); // uvu colours the Skipped count: "Skipped:   \e[33m2"
  const ended = /Total:\s+(\d+)/.exec(text);
  const total = Number(ended?.[1] ?? 0);
  const passed = Number(/Passed:\s+(\d+)/.exec(text)?.[1] ?? 0);
  const skipped = Number(/Skipped:\s+(\d+)/.exec(text)?.[1] ?? 0);
  // uvu's Total counts the tests it ran (skipped ones are not in it). A suite whose hook threw
  // shows as run but not passed (uvu drops the error), so it is counted failed here.
  let failed = Math.max(0, total - passed);
  // uvu died outside any test (a suite threw while loading, an unhandled 'error' event): no
  // summary, or one that adds up, yet a non-zero exit. That is a failure too.
  if (code !== 0 && failed === 0) failed = 1;
  const notes = [];
  if (!ended) notes.push(`the test process ended (${signal ?? `status ${code}`}) before uvu's summary: see the error above`);
  // uvu 0.5.6 prints nothing for a hook that threw, nor for an error it cannot format (one whose
  // `details` is not a string, as GatewayError's is): it just stops that suite at (n / m).
  const silent = failed - (text.match(/ FAIL /g) ?? []).length;
  if (ended && silent > 0) notes.push(`${silent} failed without an error printed: a hook threw or uvu could not format the error; look for a suite ending (n / m) with n < m`);
  // CI keeps only a part of a long log: name each failure again where the totals are read.
  notes.push(...failedTests(text).map((line) => `  failed: ${line}`));
  // The reliability suite's counts (inputs tried, faults injected, requests sent during
  // deploys, failed requests) are printed among uvu's dots: gather them where they are seen.
  notes.push(...(text.match(/reliability: [\w ]+: [^\n]*/g) ?? []));
  // Why each skipped test was skipped (test/helpers/skip.ts prints one line for each).
  notes.push(...(text.match(/\(skipped: [^\n]*\)/g) ?? []).map((line) => `  ${line}`));
  return { passed, failed, skipped, notes };
}

/**
 * Each failed test as "file: suite \"test\"" from uvu's plain output (a file's name line, its
 * suites' dots and "(n / m)", then their errors' "FAIL suite \"name\"" lines), and a file whose
 * suites came short by more than the errors it printed (a hook threw) as "file: n without an error".
 */
function failedTests(text) {
  const found = [];
  const files = [];
  for (const line of text.split('\n')) {
    const heading = /^(\S+\.test\.[cm]?[jt]s)$/.exec(line.trim());
    if (heading) files.push({ name: heading[1], short: 0, printed: 0 });
    const file = files.at(-1) ?? { name: '?', short: 0, printed: 0 };
    const failure = /^\s*FAIL\s+(.*)$/.exec(line);
    if (failure) {
      file.printed += 1;
      found.push(`${file.name}: ${failure[1].trim()}`);
    }
    const count = /\((\d+) \/ (\d+)\)\s*$/.exec(line);
    if (count) file.short += Number(count[2]) - Number(count[1]);
  }
  for (const file of files) {
    if (file.short > file.printed) found.push(`${file.name}: ${file.short - file.printed} without an error printed`);
  }
  return found;
}
