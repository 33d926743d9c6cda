// Finds the processes of this host whose environment carries a guarded tree's mark, and signals
// them (process-group.ts says why trees are marked). Every tree that ends scans /proc, and a
// scan reads every process's environ file: hundreds of files per worker stopped. Read with
// readFile, each file cost a fresh 64 KiB buffer (its size in /proc is 0), all at once
// under Promise.all; with 30 apps going to sleep together that was tens of thousands of 64 KiB
// allocations, and glibc's main heap, fragmented by them between the objects that live on,
// kept growing: the gateway's RSS rose by 0.15-0.5 MiB per cold start (docs/performance.md,
// "Many apps"). So the scans that are asked for while one runs share the next one, and the
// readers read into buffers they keep.
import { readdir } from 'node:fs/promises';
import { readProcBytes } from '../proc-file.js';

/** Environ files read at once: the size of libuv's thread pool, whose threads do the reads. */
const READERS = 4;
/** A reader's first buffer; it doubles for a larger environment, and keeps that size up to KEPT_BUFFER. */
const FIRST_BUFFER = 16 * 1024;
const KEPT_BUFFER = 256 * 1024;
/** A kernel thread's flag in /proc/PID/stat: it has no environment to wait for. */
const PF_KTHREAD = 0x00200000;
/** How long a scan waits for the processes it caught in an exec, and how often it looks again. */
const EXEC_WAIT_MS = 1000;
const EXEC_POLL_MS = 5;

interface Wanted {
  needle: Buffer;
  /** 0: none sent, the processes only counted (kill(2)'s own test for existence). */
  signal: NodeJS.Signals | 0;
  /** Which of the marked processes are meant (a pid), when not all: asked only of those that carry the mark. */
  only?: (pid: number) => boolean;
  /** Processes found carrying the mark. */
  found: number;
}

interface Scan {
  wanted: Wanted[];
  done: Promise<void>;
}

/** The scan that takes new requests: it begins when the one running has ended. */
let next: Scan | null = null;
let running: Promise<void> | null = null;
/** Passes over /proc so far: how many trees' ends share one is what the coalescing buys. */
let scans = 0;
/** The readers' buffers, kept between scans. */
const buffers: Buffer[] = [];

/**
 * Sends `signal` to every process whose environment holds `name=value` as a whole entry (one
 * it may read: ours, or any when root), of those `only` those it accepts. Resolves, with how
 * many it found, once a scan of /proc begun after this call has ended; a process that cleared
 * its environment is out of reach, and a zombie is not counted (its environ reads empty).
 */
export function signalMarked(name: string, value: string, signal: NodeJS.Signals | 0, only?: (pid: number) => boolean): Promise<number> {
  if (process.platform !== 'linux') return Promise.resolve(0);
  if (next === null) {
    const scan: Scan = { wanted: [], done: Promise.resolve() };
    scan.done = runAfterCurrent(scan);
    next = scan;
  }
  const wanted: Wanted = { needle: Buffer.from(`${name}=${value}\0`), signal, only, found: 0 };
  next.wanted.push(wanted);
  return next.done.then(() => wanted.found);
}

/** Passes over /proc this process has made (test/supervisor/marked-processes.test.ts). */
export function procScans(): number {
  return scans;
}

async function runAfterCurrent(scan: Scan): Promise<void> {
  // The rest of this turn's requests join it; and a scan on its way may already have passed
  // a process that one of them is for, so it waits for that one to end.
  await new Promise(setImmediate);
  while (running !== null) await running;
  next = null;
  scans++;
  running = scanProc(scan.wanted);
  try {
    await running;
  } finally {
    running = null;
  }
}

/** One pass over /proc for every request in `wanted`; never rejects. */
async function scanProc(wanted: Wanted[]): Promise<void> {
  let entries: string[];
  try {
    entries = (await readdir('/proc')).filter((entry) => /^\d+$/.test(entry));
  } catch {
    return;
  }
  const signalIfMarked = (entry: string, environ: Buffer): void => {
    for (const one of wanted) {
      const found = environ.indexOf(one.needle);
      if (found === 0 || (found > 0 && environ[found - 1] === 0)) {
        if (one.only !== undefined && !one.only(Number(entry))) continue;
        one.found++;
        try {
          process.kill(Number(entry), one.signal);
        } catch {
          // gone meanwhile
        }
      }
    }
  };
  /** Processes caught in an exec: their environ is read again until the kernel shows it. */
  let execing: string[] = [];
  let at = 0;
  const reader = async (index: number) => {
    for (let entry = entries[at++]; entry !== undefined; entry = entries[at++]) {
      const environ = await readEnviron(`/proc/${entry}/environ`, index);
      if (environ === null) continue; // gone meanwhile, or another user's
      const settled = environ.length === 0 ? await environAfterExec(entry, index) : environ;
      if (settled === undefined) execing.push(entry);
      else if (settled !== null) signalIfMarked(entry, settled);
    }
  };
  await Promise.all(Array.from({ length: READERS }, (_, index) => reader(index)));
  // performance.now(): after a step forward of the wall clock they were left unsignalled at once.
  const until = performance.now() + EXEC_WAIT_MS;
  while (execing.length > 0 && performance.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, EXEC_POLL_MS));
    const again: string[] = [];
    for (const entry of execing) {
      const settled = await environAfterExec(entry, 0);
      if (settled === undefined) again.push(entry);
      else if (settled !== null) signalIfMarked(entry, settled);
    }
    execing = again;
  }
}

/**
 * The environ of process `entry`, which read empty: from the moment the kernel gives a process
 * in an exec its new memory until it has laid out its arguments, its environ reads empty. A
 * hook's `sleep 600 &` exec'ing just as its shell exited was missed that way, and outlived the
 * command, holding its output pipe open. /proc/PID/stat tells the two apart: its env_start and
 * env_end (fields 50 and 51) are 0 in the middle of an exec, and equal but not 0 for a process
 * whose environment is empty. Undefined while it is in an exec; null for a zombie, a kernel
 * thread (neither has an environment) or one gone.
 */
async function environAfterExec(entry: string, index: number): Promise<Buffer | null | undefined> {
  const stat = await readEnviron(`/proc/${entry}/stat`, index);
  if (stat === null) return null;
  // After the command's name, in parentheses: the state (field 3), the flags (field 9), ...
  const fields = stat.toString('latin1', stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X' || (Number(fields[6]) & PF_KTHREAD) !== 0) return null;
  const envStart = fields[47];
  const envEnd = fields[48];
  if (envEnd === undefined || envEnd === '0') return undefined;
  if (envStart === envEnd) return Buffer.alloc(0);
  // Its exec ended between the two reads: the environ is there now, unless another began.
  const environ = await readEnviron(`/proc/${entry}/environ`, index);
  return environ === null || environ.length > 0 ? environ : undefined;
}

/** The whole of `file` (an environ, a stat), in reader `index`'s buffer (valid until its next read); null if unreadable. */
function readEnviron(file: string, index: number): Promise<Buffer | null> {
  return readProcBytes(file, (buffers[index] ??= Buffer.allocUnsafeSlow(FIRST_BUFFER)), (larger) => {
    if (larger.length <= KEPT_BUFFER) buffers[index] = larger;
  });
}
