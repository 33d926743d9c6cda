#!/usr/bin/env node
// The test command: installs what the tests need (Debian packages, when root), builds, runs
// every uvu suite under test/ on the real thing, and ends with `N passed, N failed, N skipped`
// (a test this host cannot run is skipped through test/helpers/skip.ts, never passed).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { clearDir, makeFileRoot, makeRunRoot } from './test-tmp.mjs';
import { warmCache } from './ts-hooks.mjs';
import { builtFromSources } from './build-inputs.mjs';
import { ACCOUNTS_DIR, MADE_ACCOUNTS_ENV, removeLeftAccounts, removeMadeAccounts } from './test-accounts.mjs';
import { withoutHostPip } from './test-pip-env.mjs';
import { reportCpuIn, spawnNodeMeasured } from './process-cpu.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Debian packages the tests drive for real (Flask example on the system interpreter, etc.).
const DEBIAN_PACKAGES = ['python3-flask', 'python3-venv', 'python3-pip', 'python3-tornado', 'python3-websockets', 'python3-django', 'python3-django-channels', 'python3-fastapi', 'python3-starlette', 'python3-uvloop', 'python3-quart', 'python3-falcon', 'python3-radicale', 'nginx', 'wrk', 'gunicorn', 'uwsgi', 'uwsgi-plugin-python3', 'chromium', 'postgresql', 'postgresql-client', 'redis-server', 'python3-psycopg2', 'python3-redis', 'python3-dj-database-url', 'python3-sqlalchemy', 'python3-setuptools', 'python3-wheel', 'python3-dev', 'gcc', 'acl', 'swaks', 'python3-celery', 'python3-rq', 'python3-gevent', 'python3-eventlet', 'jupyter-notebook', 'mercurial', 'faketime',
  // Frameworks and libraries the checks are tried on (check's aiohttp and CherryPy refusals, the
  // deb: coverage warning): without them those tests are skipped on a fresh host.
  'python3-aiohttp', 'python3-cherrypy3', 'python3-flask-login', 'python3-yaml', 'python3-simplejson', 'python3-toml', 'python3-xmltodict', 'python3-msgpack', 'python3-webcolors',
  // A new user's WSGI frameworks (init's and check's web.py and hug, the services: database of
  // Flask-SQLAlchemy, Socket.IO's long polling): test/cli/init-wsgi-frameworks, test/gateway/wsgi-frameworks.
  'python3-webpy', 'python3-hug', 'python3-flask-sqlalchemy', 'python3-flask-socketio',
  // The mail tests run their own Postfix in front of the gateway (test/helpers/postfix.ts, `postfix
  // -c DIR`); the host's own is installed unconfigured and never started (preseedDebconf).
  'postfix'];

/**
 * Answers given to a package's questions before apt-get installs it, so that the install asks
 * none and configures nothing of the host's: Postfix's "No configuration" writes no main.cf, so
 * its service has nothing to start on, and no MTA of the host's own begins taking mail.
 */
const DEBCONF_ANSWERS = {
  postfix: ['postfix postfix/main_mailer_type select No configuration'],
};

function preseedDebconf(packages) {
  const answers = packages.flatMap((p) => DEBCONF_ANSWERS[p] ?? []);
  if (answers.length === 0) return;
  const r = spawnSync('debconf-set-selections', [], { input: `${answers.join('\n')}\n`, stdio: ['pipe', 'inherit', 'inherit'] });
  if (r.status !== 0) {
    console.log(`warning: debconf-set-selections failed; not installing ${packages.filter((p) => p in DEBCONF_ANSWERS).join(' ')}, whose install would ask or configure the host's own service`);
    return false;
  }
  return true;
}

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
  // Without its answers given, a package that asks is left out rather than configured by default.
  const installing = preseedDebconf(missing) === false ? missing.filter((p) => !(p in DEBCONF_ANSWERS)) : missing;
  if (installing.length === 0) return;
  console.log(`installing Debian packages the tests need: ${installing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  spawnSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  const r = spawnSync('apt-get', ['install', '-y', '-qq', ...installing], { stdio: ['ignore', 'ignore', 'inherit'], env });
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

/** Every TypeScript file under `dir`: what the test processes may load (scripts/ts-hooks.mjs). */
function typeScriptFiles(dir) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && /\.[cm]?ts$/.test(entry.name) && !entry.name.endsWith('.d.ts'))
    .map((entry) => join(entry.parentPath ?? entry.path, entry.name));
}

ensureDebianPackages();
if (builtFromSources(root)) console.log('dist/ is built from the sources as they are: not building again (npm run build does)');
else build();
await warmCache([...typeScriptFiles(join(root, 'src')), ...typeScriptFiles(join(root, 'test'))]);

const filter = process.argv[2];

/** The line uvu prints as it begins a test file: the file's path under test/. */
const FILE_HEADING = /^(\S+\.test\.[cm]?[jt]s)$/;
/** uvu's summary's last line. */
const UVU_SUMMARY_END = /^\s*Duration:/;
/** How long a test process may go on after uvu's summary before the run names it (lingered()). */
const LINGER_SECONDS = 2;
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
// The suite is CPU-bound on 2 cores (vmstat: 95-100% busy while four files run at once), so its
// length is its work divided by the cores, as long as the cores never wait. Files are run SLOTS
// at a time, longest first (each file's time from the last full run, scripts/test-durations.json),
// each slot taking the next batch as it ends one: the long files start early and the short
// ones fill the gaps at the end, where fixed lanes left one core idle for minutes. Short files go
// in batches, one uvu process each, as a process is ~0.3 s of CPU to start. A filter runs as one.
// More slots do not pay: two lanes more for the ~75 files under 0.15 of a core took the idle
// from 11% to 1% and the run from 1,157 to 1,185 s, every process spending ~15% more CPU (1,850 s
// counted against 1,552; process accounting 2,126 against 1,850) on two cores shared by more at once.
const SLOTS = 4;
// But a file that keeps a core under WAITING_SHARE busy (a worker's liveness timeout, a throttle
// window, a client that stalls) holds a slot while the cores idle: ~24 files, ~570 s of slot time
// at ~19 s of CPU. They go to a lane of their own beside the slots, one after another, adding
// less than a tenth of a core; a slot that has no other batch left takes them too. With it, the
// run at 481287de took 986 s against 1,100 (bea724f8), vmstat's idle 7% against 10%.
// One lane is not always enough: by run 63's times the waiting files were 1,029 s one after
// another against 2,352 s of the others over four slots (588 s each), so the slots ran the lane's
// last ~440 s of files five at a time at the end: ~90 s of a run of ~700 in which the cores had
// next to nothing to do. So there are as many lanes as it takes for the waiting files to end no
// later than the slots' own files (waitingLanes()), each taking the next file as it ends one.
// With lanes to spare, files under a tenth of a core go to them (0.08 before): by the times after
// the lingering timers went (c8da5656), seven more files, 152 s of slot time for 14 s of CPU;
// replaying those times, the run's files end at 556 s against 594.
const WAITING_SHARE = 0.1;
// And the long files that use under LAZY_SHARE of a core (idle-apps, clock-steps, the deploys
// and stops that wait out drains), all started first as the longest, left the cores 40-70% idle
// for a minute at the start: at most LAZY_SLOTS of the slots run one while others are left.
const LAZY_SHARE = 0.25;
const LAZY_SLOTS = 2;
/** A file this short goes in a batch whatever it waits for. */
const WAITING_MIN_SECONDS = 8;
/** A batch closes once it holds this much of the last run's time (the long files go alone). */
const BATCH_SECONDS = 20;
/** What a file not in the durations file is taken to last (a new file). */
const UNKNOWN_SECONDS = 15;
const DURATIONS = join(root, 'scripts', 'test-durations.json');

/** Every test file uvu would run, as uvu names them: paths under test/. */
function testFiles(dir = join(root, 'test'), prefix = '') {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const name = `${prefix}${entry.name}`;
    if (entry.name === 'fixtures' || entry.name === 'helpers' || entry.name === 'node_modules') return [];
    if (entry.isDirectory()) return testFiles(join(dir, entry.name), `${name}/`);
    return /\.test\.[cm]?[jt]s$/.test(entry.name) ? [name] : [];
  });
}

/** Each file's seconds and CPU seconds in the last full run (`APPPKG_TEST_TIMES=scripts/test-durations.json npm test`). */
function lastDurations() {
  try {
    return new Map(JSON.parse(readFileSync(DURATIONS, 'utf8')).map((f) => [f.name, { seconds: f.ms / 1000, cpu: f.cpu }]));
  } catch {
    return new Map();
  }
}

/** Whether a file, by the last run, mostly waits: see WAITING_SHARE. */
function waits(last) {
  return last !== undefined && last.seconds >= WAITING_MIN_SECONDS && typeof last.cpu === 'number' && last.cpu < WAITING_SHARE * last.seconds;
}

/**
 * The files in batches, longest first: a batch is one file, or short ones up to BATCH_SECONDS;
 * each with its pattern for uvu and whether it is lazy (LAZY_SHARE). A file with no time of its
 * own is taken as busy.
 */
function batches(files, durations) {
  const timed = files.map((name) => ({ name, seconds: durations.get(name)?.seconds ?? UNKNOWN_SECONDS, cpu: durations.get(name)?.cpu ?? Infinity }));
  timed.sort((a, b) => b.seconds - a.seconds || a.name.localeCompare(b.name));
  const out = [];
  for (const file of timed) {
    const open = out.at(-1);
    if (open !== undefined && open.seconds + file.seconds <= BATCH_SECONDS) {
      open.files.push(file.name);
      open.seconds += file.seconds;
      open.cpu += file.cpu;
    } else {
      out.push({ files: [file.name], seconds: file.seconds, cpu: file.cpu });
    }
  }
  return out.map((b) => ({ pattern: asPattern(b.files), lazy: b.cpu < LAZY_SHARE * b.seconds }));
}

const escapeRegExp = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const asPattern = (files) => `^(${files.map(escapeRegExp).join('|')})$`;
const durations = lastDurations();
const allFiles = filter !== undefined ? [] : testFiles();
const waitingFiles = allFiles.filter((name) => waits(durations.get(name)));
/** What the slots run (a filter: that alone), and what the waiting lane runs, longest first. */
const slotBatches = filter !== undefined
  ? [{ pattern: filter, lazy: false }]
  : batches(allFiles.filter((name) => !waitingFiles.includes(name)), durations);
const waitingBatches = waitingFiles
  .sort((a, b) => durations.get(b).seconds - durations.get(a).seconds || a.localeCompare(b))
  .map((name) => ({ pattern: asPattern([name]), lazy: true }));

/**
 * How many lanes run the waiting files: enough that, one after another in each, they take no
 * longer than the slots' share of the other files; at most SLOTS (each lane adds under
 * WAITING_SHARE of a core: under half of one at most).
 */
function waitingLanes(files) {
  const seconds = (names) => names.reduce((sum, name) => sum + (durations.get(name)?.seconds ?? UNKNOWN_SECONDS), 0);
  const slotShare = seconds(files.filter((name) => !waitingFiles.includes(name))) / SLOTS;
  const needed = slotShare > 0 ? Math.ceil(seconds(waitingFiles) / slotShare) : SLOTS;
  return Math.min(SLOTS, Math.max(1, needed));
}
const LANES = waitingLanes(allFiles);

/**
 * The run's temporary files, all in one directory (scripts/test-tmp.mjs): each test process's
 * TMPDIR, removed as the process ends however it ends, and the run's own files below. Removed
 * at the end; a run killed before it is removed by the next.
 */
const { root: runRoot, notes: staleNotes } = await makeRunRoot();
if (staleNotes.length > 0) console.log(staleNotes.join('\n'));
process.on('exit', () => rmSync(runRoot, { recursive: true, force: true }));
reportCpuIn(runRoot);
/**
 * What a fresh state root or a PostgreSQL cluster costs once, paid once for the run: every test
 * process reads and adds to this directory (test/helpers/shared-cache.ts).
 */
const sharedCache = mkdtempSync(join(runRoot, 'shared-cache-'));
/**
 * The users and groups the run's tests make on the host (apppkg-test-app, apppkg-test-readers),
 * listed here as they are made, removed once every test file has ended (scripts/test-accounts.mjs).
 * An interrupted run removes none: its test processes may still be running as them. So the
 * next run's start removes those left (and a hand run's), but any a process runs as or a live
 * run lists: a test that makes one finds it missing, as on a fresh host.
 */
const madeAccounts = mkdtempSync(join(runRoot, ACCOUNTS_DIR));
// Not in a run started by a test of the runner (runner-tmp.test.ts): its TMPDIR hides the live
// runs whose accounts it would take.
if (process.getuid?.() === 0 && process.env[MADE_ACCOUNTS_ENV] === undefined) {
  const leftAccounts = removeLeftAccounts();
  if (leftAccounts.length > 0) console.log(leftAccounts.join('\n'));
}

/**
 * The test processes' environment, and so their gateways' and commands'. PATH is read once for
 * the run (through a pyenv shim, each reading cost ~0.14 s of Python and bash). Without
 * NODE_EXTRA_CA_CERTS: Node 20 reads and parses the certificates it names as every process starts,
 * ~40 ms of CPU each where it names the system's bundle (as on the development machine), for
 * ~1,800 Node processes a run; no test makes a TLS connection but to its own servers. Without
 * the host's pip configuration (test-pip-env.mjs).
 */
const TEST_ENV = { ...withoutHostPip(process.env), FORCE_COLOR: '0', PATH: testPath(), APPPKG_TEST_SHARED_CACHE: sharedCache, [MADE_ACCOUNTS_ENV]: join(madeAccounts, 'made') };
delete TEST_ENV.NODE_EXTRA_CA_CERTS;

/**
 * Runs one uvu process over the files PATTERN matches; resolves when it has ended. Its output is
 * shown as it comes when LIVE (a filter's single run), else whole at its end, so that batches
 * running at once do not mix.
 */
function runBatch(pattern, live) {
  const tmp = makeFileRoot(runRoot);
  const { child, read, ended } = spawnNodeMeasured(
    ['--import', join(root, 'scripts/ts-register.mjs'), join(root, 'node_modules/uvu/bin.js'), 'test', pattern, '-i', 'fixtures', '-i', 'helpers'],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'], env: { ...TEST_ENV, TMPDIR: tmp } },
  );
  // From its exit, not its output's end: what it left running may hold that output open.
  const cleared = new Promise((resolve) => child.once('exit', resolve))
    .then(() => clearDir(tmp, `the test process of ${run.starts.map((s) => s.name).join(', ') || pattern}`));
  running.set(child, cleared);
  const run = {
    out: '',
    scanned: 0,
    // When each test file began (uvu prints a file's name as it starts its suites), for the
    // slowest files named at the end: the suite's 15 minutes are kept by knowing where they go.
    starts: [],
    // The process's CPU seconds, its own and its reaped children's (gateways, workers, CLI
    // runs), last read, then as it reported them at its exit (process-cpu.mjs): a file's CPU
    // is what it costs the whole run.
    cpu: 0,
    // When uvu printed its summary (its last line, "Duration: ..."): see lingered().
    summaryAt: undefined,
  };
  child.stdout.on('data', (chunk) => {
    run.out += chunk;
    if (live) process.stdout.write(chunk);
    const complete = run.out.lastIndexOf('\n') + 1;
    for (const line of run.out.slice(run.scanned, complete).split('\n')) {
      const heading = FILE_HEADING.exec(line.replace(ANSI_COLOURS, '').trim());
      if (heading) {
        run.cpu = read();
        run.starts.push({ name: heading[1], at: Date.now(), cpu: run.cpu });
      }
      if (run.summaryAt === undefined && UVU_SUMMARY_END.test(line.replace(ANSI_COLOURS, ''))) run.summaryAt = Date.now();
    }
    run.scanned = Math.max(run.scanned, complete);
  });
  return ended.then(async ({ code, signal, cpu }) => {
    run.cpu = cpu;
    run.endedAt = Date.now();
    if (!live) process.stdout.write(run.out);
    const tmpNotes = await cleared;
    running.delete(child);
    return { ...run, code, signal, tmpNotes };
  });
}

/** The test processes running, each with what ends once its TMPDIR is cleared (runBatch). */
const running = new Map();
/** How long test processes get to end on the signal that stops the run, before SIGKILL. */
const STOP_MS = 15_000;
let stopping = false;
// Interrupted (^C, a `timeout` around the run): the test processes are told too (a signal sent
// to the run alone reaches nothing else), and each one's TMPDIR is cleared as it ends, before the
// run's directory goes. A second signal ends the run at once.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    if (stopping) process.exit(130);
    stopping = true;
    for (const child of running.keys()) child.kill(signal);
    setTimeout(() => {
      for (const child of running.keys()) child.kill('SIGKILL');
    }, STOP_MS).unref();
    Promise.all(running.values()).then((notes) => {
      const said = notes.flat();
      if (said.length > 0) console.log(said.join('\n'));
      process.exit(130);
    });
  });
}

/**
 * Runs the batches of SLOTTED, SLOTS at a time, each slot taking the next as it ends one (the
 * first busy one while LAZY_SLOTS run lazy ones), and those of WAITING in LANES beside them, each
 * taking the next as it ends one (a slot with no other batch left takes them too).
 */
async function runAll(slotted, waiting) {
  const results = [];
  const live = slotted.length + waiting.length === 1;
  let lazyRunning = 0;
  const next = () => {
    if (stopping) return undefined;
    const busy = lazyRunning < LAZY_SLOTS ? 0 : slotted.findIndex((b) => !b.lazy);
    return slotted.length > 0 ? slotted.splice(busy === -1 ? 0 : busy, 1)[0] : waiting.shift();
  };
  const run = async (batch) => {
    if (batch.lazy) lazyRunning += 1;
    results.push(await runBatch(batch.pattern, live));
    if (batch.lazy) lazyRunning -= 1;
  };
  const slot = async () => {
    for (let batch = next(); batch !== undefined; batch = next()) await run(batch);
  };
  const lane = async () => {
    while (waiting.length > 0 && !stopping) results.push(await runBatch(waiting.shift().pattern, live));
  };
  await Promise.all([
    ...Array.from({ length: Math.min(SLOTS, slotted.length + waiting.length) }, slot),
    ...Array.from({ length: LANES }, lane),
  ]);
  return results;
}

runAll(slotBatches, waitingBatches).then((runs) => {
  if (stopping) return; // the signal's handler ends the run
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  const notes = [];
  for (const run of runs) {
    notes.push(...run.tmpNotes);
    const counts = summarize(run.out, run.code, run.signal);
    passed += counts.passed;
    failed += counts.failed;
    skipped += counts.skipped;
    notes.push(...counts.notes);
  }
  notes.push(...lingered(runs));
  notes.push(slowestFiles(runs));
  notes.push(...removeMadeAccounts(join(madeAccounts, 'made')));
  if (notes.length > 0) console.log(`\n${notes.join('\n')}`);
  console.log(`\n${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exit(failed > 0 || runs.some((r) => r.code !== 0) ? 1 : 0);
});

/**
 * The test processes that went on after uvu's summary for more than LINGER_SECONDS: uvu ends
 * its process only once nothing is left to run, so a timer a test left pending (a deadline raced
 * against a child's exit and never cleared: orAfter in test/helpers/process.ts clears it), an
 * interval or an open socket held the batch's slot, up to a minute, with nothing being tested.
 */
function lingered(all) {
  return all
    .filter((run) => run.summaryAt !== undefined && run.endedAt - run.summaryAt > LINGER_SECONDS * 1000)
    .map((run) => `lingered ${Math.round((run.endedAt - run.summaryAt) / 1000)} s after its tests (a timer or handle left pending): ${run.starts.map((s) => s.name).join(', ')}`);
}

/** The ten test files that took longest, from when each began to when the next (or its run's end) did. */
function slowestFiles(all) {
  const took = all.flatMap((run) => run.starts.map((start, i) => ({
    name: start.name,
    ms: (run.starts[i + 1]?.at ?? run.endedAt ?? Date.now()) - start.at,
    cpu: Math.round(((run.starts[i + 1]?.cpu ?? run.cpu) - start.cpu) * 10) / 10,
  })));
  took.sort((a, b) => b.ms - a.ms);
  // Every file's time: APPPKG_TEST_TIMES=FILE writes them as JSON, the form the batches are made
  // from (scripts/test-durations.json, written again after files were added or changed much).
  if (process.env.APPPKG_TEST_TIMES) {
    const byName = [...took].sort((a, b) => a.name.localeCompare(b.name));
    writeFileSync(process.env.APPPKG_TEST_TIMES, `[\n${byName.map((f) => JSON.stringify(f)).join(',\n')}\n]\n`);
  }
  const byCpu = [...took].sort((a, b) => b.cpu - a.cpu);
  const cpu = Math.round(all.reduce((sum, run) => sum + run.cpu, 0));
  return [
    `slowest files: ${took.slice(0, 10).map((f) => `${f.name} ${Math.round(f.ms / 1000)} s`).join(', ')}`,
    `CPU: ${cpu} s in all; most: ${byCpu.slice(0, 10).map((f) => `${f.name} ${Math.round(f.cpu)} s`).join(', ')}`,
  ].join('\n');
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
