#!/usr/bin/env node
// The test command: installs what the tests need (Debian packages, when root), builds, runs
// every uvu suite under test/ on the real thing, and ends with `N passed, N failed, N skipped`
// (a test this host cannot run is skipped through test/helpers/skip.ts, never passed).
import { spawnSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Debian packages the tests drive for real (Flask example on the system interpreter, etc.).
const DEBIAN_PACKAGES = ['python3-flask', 'python3-venv', 'python3-pip', 'python3-tornado', 'python3-websockets', 'python3-django', 'python3-django-channels', 'python3-fastapi', 'python3-starlette', 'python3-quart', 'python3-radicale', 'nginx', 'wrk', 'gunicorn', 'uwsgi', 'uwsgi-plugin-python3', 'chromium', 'postgresql', 'postgresql-client', 'redis-server', 'python3-psycopg2', 'python3-redis', 'python3-dj-database-url', 'python3-sqlalchemy', 'python3-setuptools', 'python3-wheel', 'python3-dev', 'gcc', 'swaks', 'python3-celery', 'python3-rq', 'python3-gevent', 'python3-eventlet', 'jupyter-notebook', 'mercurial', 'faketime',
  // Frameworks and libraries the checks are tried on (check's aiohttp and CherryPy refusals, the
  // deb: coverage warning): without them those tests are skipped on a fresh host.
  'python3-aiohttp', 'python3-cherrypy3', 'python3-flask-login', 'python3-yaml', 'python3-simplejson', 'python3-toml', 'python3-xmltodict', 'python3-msgpack', 'python3-webcolors'];

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

/** The line uvu prints as it begins a test file: the file's path under test/. */
const FILE_HEADING = /^(\S+\.test\.[cm]?[jt]s)$/;
/** uvu colours its output whatever FORCE_COLOR says. */
const ANSI_COLOURS = /\x1b\[[0-9;]*m/g;

/**
 * PATH for the tests: when `python3` is a pyenv shim, the directory of the interpreter it runs
 * goes first. A shim is 0.6 s of CPU in bash per run, and every gateway start and CLI command
 * with a fresh state root probes `python3` (the probe cache is the gateway's, per state root):
 * a quarter of the CPU of the CLI tests, on a 2-core machine that the suite keeps busy. The
 * interpreter is the same; the shim itself is tested where it is the point
 * (test/environment/interpreter*.test.ts make their own shims and PATH).
 */
function testPath() {
  const path = process.env.PATH ?? '';
  const python3 = path.split(':').map((dir) => join(dir, 'python3')).find((file) => existsSync(file));
  if (python3 === undefined || !/#!.*\n[\s\S]*libexec\/pyenv" exec/.test(readHead(python3))) return path;
  const real = spawnSync(python3, ['-c', 'import os, sys; print(os.path.dirname(sys.executable))'], { encoding: 'utf8' });
  const dir = real.stdout?.trim();
  return real.status === 0 && dir ? `${dir}:${path}` : path;
}

function readHead(file) {
  try {
    return readFileSync(file, 'latin1').slice(0, 4096);
  } catch {
    return '';
  }
}
// Four lanes of the suite run at once: most of a test's time is spent waiting on the processes,
// sockets and timers it drives, so lanes overlap well, and the whole run stays inside the 15
// minutes a 2-core machine allows. Two lanes split by directory, balanced on a 2-core run's
// times (APPPKG_TEST_TIMES=FILE writes each file's; 2026-12-02: 877 s and 867 s, the machine 82%
// busy); the third and fourth take, every other one, files whose time is mostly their own
// timers (a drain, a Redis look interval, a heartbeat's silence, imports that sleep), which add
// little to the machine's load. A filter runs as one.
const FIRST_HALF = ['cli', 'services', 'proxy', 'link', 'vendor', 'processes', 'export'];
const WAITING = [
  'services/redis-restart', 'proxy/asgi-timeout', 'proxy/stop-after-clients-left',
  'supervisor/heartbeat', 'gateway/concurrent-start', 'gateway/start-updates', 'gateway/rollback-during-drain',
  // 2026-12-04: lanes of 750 s, 857 s and 228 s; these two wait on idle timeouts and a probe's
  // 31 s start bound.
  'gateway/idle-apps', 'supervisor/probe',
  // 2026-12-04, later: lanes of 745 s, 808 s and 369 s; these wait on clock steps, a header
  // timeout and stops' grace (~120 s of the second lane).
  'gateway/clock-steps', 'log/access-log-head-timeout', 'gateway/stop-grace', 'gateway/stop-waiting-answers',
  // 2026-12-05: lanes of 740 s, 918 s and 493 s; these wait out a routed process's liveness
  // rounds (10 s each, three failures in a row: ~165 s of the second lane).
  'supervisor/process-liveness', 'supervisor/liveness-abandoned', 'supervisor/liveness-answers',
  // 2026-12-05, later: lanes of 850 s, 881 s and 753 s; these wait out memory checks (3 s
  // apart) and drains (~57 s of the second lane).
  'supervisor/recycle', 'supervisor/drain-end',
  // 2026-12-05: a mail handler that answers after 65 s (~70 s, asleep); since the deliverer's
  // floor is lowered for it, 4 s (~15 s), kept here so that the files after it keep their lanes.
  'mail/mail-slow-app',
  // 2026-12-05: an import and an exit that take their time around an idle sleep (~10 s).
  'supervisor/wake-while-stopping',
  // 2026-12-05, the thirty-second session: lanes of 913 s, 881 s and 898 s, the suite's own
  // work past what three lanes hold in 15 minutes; the waiting files are now two lanes, and
  // these wait on leave probes, stops' grace, a probe's failures, services' retries, streams'
  // pauses and SIGHUPs (~150 s of the first two lanes).
  'proxy/client-leave', 'cli/signals', 'services/postgresql-down',
  'gateway/update-then-probe', 'gateway/sse-streams', 'supervisor/environment-reload',
  // 2026-12-05, the thirty-third session: an app put to sleep mid crash loop (~16 s of idle waits).
  'gateway/idle-crash-loop',
];
const waiting = `(${WAITING.join('|')})\\.test\\.ts$`;
// Every other waiting file: two lanes that mostly sleep, beside the two that work.
const waitingLane = (half) => `^(${WAITING.filter((_, i) => i % 2 === half).join('|')})\\.test\\.ts$`;
const patterns = filter !== undefined
  ? [filter]
  : [
    `^(?!${waiting})(${FIRST_HALF.join('|')})/.*\\.test\\.ts$`,
    `^(?!${waiting})(?!(${FIRST_HALF.join('|')})/).*\\.test\\.ts$`,
    waitingLane(0),
    waitingLane(1),
  ];

const runs = patterns.map((pattern, i) => {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'node_modules/uvu/bin.js'), 'test', pattern, '-i', 'fixtures', '-i', 'helpers'],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FORCE_COLOR: '0', PATH: testPath() } },
  );
  const run = {
    out: '',
    shown: 0,
    scanned: 0,
    // When each test file began (uvu prints a file's name as it starts its suites), for the
    // slowest files named at the end: the suite's 15 minutes are kept by knowing where they go.
    starts: [],
    ended: false,
    // The first lane is shown as it runs; a later one's output waits until those before it end.
    show() {
      if (runs.slice(0, i).some((r) => !r.ended)) return;
      process.stdout.write(run.out.slice(run.shown));
      run.shown = run.out.length;
    },
    finished: new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal }))),
  };
  child.stdout.on('data', (chunk) => {
    run.out += chunk;
    const complete = run.out.lastIndexOf('\n') + 1;
    for (const line of run.out.slice(run.scanned, complete).split('\n')) {
      const heading = FILE_HEADING.exec(line.replace(ANSI_COLOURS, '').trim());
      if (heading) run.starts.push({ name: heading[1], at: Date.now() });
    }
    run.scanned = Math.max(run.scanned, complete);
    run.show();
  });
  run.finished.then(() => {
    run.ended = true;
    run.endedAt = Date.now();
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
  notes.push(slowestFiles(runs));
  if (notes.length > 0) console.log(`\n${notes.join('\n')}`);
  console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exit(failed > 0 || results.some((r) => r.code !== 0) ? 1 : 0);
});

/** The ten test files that took longest, from when each began to when the next (or its run's end) did. */
function slowestFiles(all) {
  const took = all.flatMap((run) => run.starts.map((start, i) => ({
    name: start.name,
    ms: (run.starts[i + 1]?.at ?? run.endedAt ?? Date.now()) - start.at,
  })));
  took.sort((a, b) => b.ms - a.ms);
  // Every file's time, for balancing the halves: APPPKG_TEST_TIMES=FILE writes them as JSON.
  if (process.env.APPPKG_TEST_TIMES) writeFileSync(process.env.APPPKG_TEST_TIMES, JSON.stringify(took, null, 1));
  return `slowest files: ${took.slice(0, 10).map((f) => `${f.name} ${Math.round(f.ms / 1000)} s`).join(', ')}`;
}

/** The counts from uvu's output (colours and all), and the lines a reader should see last. */
function summarize(output, code, signal) {
  const text = output.replace(ANSI_COLOURS, ''); // uvu colours the Skipped count: "Skipped:   \e[33m2"
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
  // test/helpers/uvu.ts makes a test's, a before or before.each hook's error print as a FAIL;
  // an after or after.each hook's can still end a suite this way.
  const silent = failed - (text.match(/ FAIL /g) ?? []).length;
  if (ended && silent > 0) notes.push(`${silent} failed without an error printed: a hook threw or uvu could not format the error; look for a suite ending (n / m) with n < m`);
  // CI keeps only a part of a long log: name each failure again where the totals are read.
  notes.push(...failedTests(text).flatMap(({ test, why }) => [`  failed: ${test}`, ...why.map((line) => `      ${line}`)]));
  // The reliability suite's counts (inputs tried, faults injected, requests sent during
  // deploys, failed requests) are printed among uvu's dots: gather them where they are seen.
  notes.push(...(text.match(/reliability: [\w ]+: [^\n]*/g) ?? []));
  // Why each skipped test was skipped (test/helpers/skip.ts prints one line for each).
  notes.push(...(text.match(/\(skipped: [^\n]*\)/g) ?? []).map((line) => `  ${line}`));
  return { passed, failed, skipped, notes };
}

/**
 * Each failed test as "file: suite \"test\"" from uvu's plain output (a file's name line, its
 * suites' dots and "(n / m)", then their errors' "FAIL suite \"name\"" lines), with what its
 * error said (the message, cut short, and the first stack line outside uvu); a file whose suites
 * came short by more than the errors it printed (a hook threw) as "file: n without an error".
 */
function failedTests(text) {
  const found = [];
  const files = [];
  let reading = null;
  for (const line of text.split('\n')) {
    const heading = FILE_HEADING.exec(line.trim());
    if (heading) {
      files.push({ name: heading[1], short: 0, printed: 0 });
      reading = null;
    }
    const file = files.at(-1) ?? { name: '?', short: 0, printed: 0 };
    const failure = /^\s*FAIL\s+(.*)$/.exec(line);
    if (failure) {
      file.printed += 1;
      reading = { test: `${file.name}: ${failure[1].trim()}`, why: [], atSeen: false };
      found.push(reading);
      continue;
    }
    const count = /\((\d+) \/ (\d+)\)\s*$/.exec(line);
    if (count) file.short += Number(count[2]) - Number(count[1]);
    if (reading && !reading.atSeen) addErrorLine(reading, line);
  }
  for (const file of files) {
    if (file.short > file.printed) found.push({ test: `${file.name}: ${file.short - file.printed} without an error printed`, why: [] });
  }
  return found;
}

/** Why a test failed, as much as a reader of CI's kept tail needs: its assertion's message (an
 * assertion may carry a whole gateway log: cut) and where in the tests or src it was thrown. */
function addErrorLine(reading, line) {
  const trimmed = line.trim();
  if (trimmed === '') return;
  if (trimmed.startsWith('at ')) {
    if (/node_modules|node:internal/.test(trimmed)) return;
    reading.why.push(trimmed);
    reading.atSeen = true;
    return;
  }
  if (reading.why.length < 8) reading.why.push(trimmed.length > 300 ? `${trimmed.slice(0, 300)}...` : trimmed);
}
