// Where a test run's temporary files go, and how they go away whatever ends a test process.
// Test files make their directories as they load (tempDir at the top of a file, mkdtemp in
// os.tmpdir()) and remove them in their last hook, so a test process killed on the way (a
// `timeout` around the run, a crash, SIGKILL) left them in /tmp: ~3,100 empty /tmp/apppkg-*
// directories in one session of killed loops. So each test process gets a TMPDIR of its own under
// one directory for the run, and the run removes that TMPDIR once the process has ended, however
// it ended; and the run's directory at its own end. A run itself killed with SIGKILL can do
// nothing: the next run removes its directory (sweepStaleRuns), once the process that made it is gone.
//
// The servers a test starts (PostgreSQL, Redis, nginx, gateways and their apps) keep their files
// there too and may outlive a killed test process: each is stopped by its pid (TERM, then KILL
// past a deadline) before its directory goes, so no server runs on in files that are gone.
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What a run's directory is called in the system's TMPDIR (short: unix socket paths in it are at most 107 bytes). */
const RUN_PREFIX = 'apppkg-run-';
/** The file in a run's directory naming the process that made it: `PID STARTTIME` (/proc/PID/stat). */
const OWNER = 'owner';
/** How long the processes left in a test process's directory get to end on SIGTERM, then on SIGKILL. */
const TERM_MS = 10_000;
const KILL_MS = 5_000;

/** A process's start time in clock ticks since boot (proc(5) field 22): a pid with another is another process. */
function startTime(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[0] === 'Z' ? undefined : fields[19];
  } catch {
    return undefined;
  }
}

/**
 * The run's directory, made in the system's TMPDIR: mode 0755, as the directories above what
 * the tests hand to app users and `nobody` must let them through, as /tmp does. Stale runs'
 * directories are removed first.
 */
export async function makeRunRoot() {
  const notes = await sweepStaleRuns();
  const root = mkdtempSync(join(tmpdir(), RUN_PREFIX));
  chmodSync(root, 0o755);
  writeFileSync(join(root, OWNER), `${process.pid} ${startTime(process.pid)}\n`);
  return { root, notes };
}

let files = 0;

/**
 * A new TMPDIR for one test process under the run's ROOT: mode 1777 (sticky), as /tmp is, since
 * what the tests run as other users (the CLI as nobody, apps as their users) may make files in it.
 */
export function makeFileRoot(root) {
  const dir = join(root, String(++files));
  mkdirSync(dir);
  chmodSync(dir, 0o1777);
  return dir;
}

/** Whether `path` is `dir` or inside it. */
const within = (path, dir) => path === dir || path.startsWith(`${dir}/`);

/**
 * The processes that use DIR: their working directory or an open file is in it, or their
 * TMPDIR is (what a test process hands down to what it starts, when it does not replace the
 * environment). Each as { pid, start, command }.
 */
export function processesUsing(dir) {
  const found = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const start = startTime(name);
    if (start === undefined) continue;
    if (uses(name, dir)) found.push({ pid: Number(name), start, command: commandOf(name) });
  }
  return found;
}

function uses(pid, dir) {
  const link = (path) => {
    try {
      return readlinkSync(path);
    } catch {
      return '';
    }
  };
  if (within(link(`/proc/${pid}/cwd`), dir)) return true;
  try {
    const environ = readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0');
    if (environ.some((entry) => entry.startsWith('TMPDIR=') && within(entry.slice('TMPDIR='.length).replace(/\/+$/, ''), dir))) return true;
  } catch {
    // gone, or not ours to read
  }
  let fds = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return false;
  }
  return fds.some((fd) => within(link(`/proc/${pid}/fd/${fd}`), dir));
}

function commandOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').filter(Boolean).join(' ').replace(/\s+/g, ' ').slice(0, 120);
  } catch {
    return '?';
  }
}

const alive = (p) => startTime(p.pid) === p.start;
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends `signal` to each of PROCS still alive; resolves once none is, or at `ms`, with those left. */
async function signalAndWait(procs, signal, ms) {
  for (const p of procs.filter(alive)) {
    try {
      process.kill(p.pid, signal);
    } catch {
      // ended meanwhile
    }
  }
  const deadline = Date.now() + ms;
  let left = procs.filter(alive);
  while (left.length > 0 && Date.now() < deadline) {
    await pause(100);
    left = left.filter(alive);
  }
  return left;
}

/**
 * Stops what still uses DIR by pid (SIGTERM, SIGKILL past TERM_MS), then removes DIR. Returns
 * what a reader of the run should know: the processes that were left running (a test that did
 * not stop what it started, or was killed before it could), and a DIR that could not be removed.
 */
export async function clearDir(dir, what) {
  const notes = [];
  // Asked again after the first ones end: a gateway that ends may have started an app meanwhile.
  for (let round = 0; round < 3; round += 1) {
    const procs = processesUsing(dir);
    if (procs.length === 0) break;
    notes.push(`${what} left ${procs.length === 1 ? 'a process' : `${procs.length} processes`} running in ${dir}, stopped: ${procs.map((p) => `${p.pid} (${p.command})`).join(', ')}`);
    const left = await signalAndWait(procs, 'SIGTERM', TERM_MS);
    const stuck = await signalAndWait(left, 'SIGKILL', KILL_MS);
    if (stuck.length > 0) notes.push(`  still running after SIGKILL: ${stuck.map((p) => p.pid).join(', ')}`);
  }
  try {
    rmSync(dir, { recursive: true, force: true, maxRetries: 2 });
  } catch (err) {
    notes.push(`${what}: could not remove ${dir}: ${err.message}`);
  }
  return notes;
}

/** Whether the run whose directory is DIR still runs: true or false, or undefined for a directory that is no run's (no owner file). */
function runAlive(dir) {
  let owner;
  try {
    owner = readFileSync(join(dir, OWNER), 'utf8').trim().split(' ');
  } catch {
    return undefined;
  }
  return owner.length === 2 && startTime(owner[0]) === owner[1];
}

/** The directories of the runs in PARENT (the system's TMPDIR) whose process still runs, this one's too. */
export function liveRunRoots(parent = tmpdir()) {
  let names = [];
  try {
    names = readdirSync(parent).filter((name) => name.startsWith(RUN_PREFIX));
  } catch {
    return [];
  }
  return names.map((name) => join(parent, name)).filter((dir) => runAlive(dir) === true);
}

/**
 * Removes the directories of earlier runs whose process is gone (killed with SIGKILL, or a
 * machine that stopped), with what still runs in them. A run's directory whose process still
 * runs (another checkout's run at the same time) is left alone.
 */
export async function sweepStaleRuns() {
  const notes = [];
  let names = [];
  try {
    names = readdirSync(tmpdir()).filter((name) => name.startsWith(RUN_PREFIX));
  } catch {
    return notes;
  }
  for (const name of names) {
    const dir = join(tmpdir(), name);
    let owner;
    try {
      owner = readFileSync(join(dir, OWNER), 'utf8').trim().split(' ');
    } catch {
      continue; // not a run's (or one being made this moment): not ours to judge
    }
    if (owner.length === 2 && startTime(owner[0]) === owner[1]) continue;
    notes.push(`removed ${dir}, the directory of an earlier run that did not end as it should (pid ${owner[0]}, gone)`);
    notes.push(...(await clearDir(dir, `an earlier run (pid ${owner[0]}, gone)`)));
  }
  return notes;
}
