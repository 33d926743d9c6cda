// The default admin address (127.0.0.1:8099, src/admin/default-admin.ts) is one per host. A test
// file that needs it free (`status` given no --admin, asking it) and a gateway started without
// --admin (which takes it) in another test process of the same run, scripts/test.mjs running
// files four at a time, made the first report its cases skipped ("something listens on
// 127.0.0.1:8099"), or the gateway fail to start: which, depended on the moment. So both hold
// one exclusive lock while they need the address: the needing file from its load (where its
// skip is decided, skip.ts) to its last hook, a gateway (startCli, runCli) from its spawn to its
// exit. Something outside the run that holds the address is still a skip. A library gateway
// (Gateway.start in a test's own process) takes no lock: every one gives `admin`, which
// default-admin-lock.test.ts checks (libraryGatewaysOnDefaultAdmin).
//
// The lock is flock(1) on a file in the run's shared directory (shared-cache.ts; by hand, in
// TMPDIR, which two files started by hand share). flock's child reads its stdin, a pipe from
// this process: however this process ends, SIGKILL too, the pipe closes, the child ends, and the
// kernel drops the lock; no stale lock file to judge.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { isAbsolute, join } from 'node:path';
import net from 'node:net';
import type { Test } from 'uvu';
import { SHARED_CACHE_VARIABLE } from './shared-cache.js';

export const DEFAULT_ADMIN_HOST = '127.0.0.1';
export const DEFAULT_ADMIN_PORT = 8099;
/** How long a file or a gateway waits for the lock: the longest holder, status-command, takes ~20 s alone. */
export const DEFAULT_ADMIN_WAIT_MS = 300_000;
const LOCK_NAME = 'apppkg-test-default-admin.lock';

/** The lock file: in the run's shared directory when a run names one, else in TMPDIR. */
export function defaultAdminLockFile(): string {
  const run = process.env[SHARED_CACHE_VARIABLE];
  return join(run && isAbsolute(run) ? run : tmpdir(), LOCK_NAME);
}

/** This process's flock child, once it holds the lock; one for every hold (files of one batch share it). */
let lock: Promise<ChildProcess> | null = null;
let holds = 0;

/** Who held the lock last, as its holder wrote it: for the message of a wait that timed out. */
function lastHolder(file: string): string {
  try {
    return readFileSync(file, 'utf8').trim() || 'unknown';
  } catch {
    return 'unknown';
  }
}

function takeLock(file: string, ms: number): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    // `exec cat`: the process that keeps flock waiting reads this process's pipe to its end.
    const child = spawn('flock', ['--exclusive', '--wait', String(Math.ceil(ms / 1000)), file, 'sh', '-c', 'echo held && exec cat >/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let said = '';
    child.stdout!.on('data', (chunk) => {
      said += chunk;
      if (!said.includes('held')) return;
      writeFileSync(file, `pid ${process.pid}: ${process.argv.slice(1).join(' ').slice(0, 200)}\n`);
      // Released by the holder's last hook; one that is not (a test that threw before it) ends
      // with this process, so the pipe must not keep the process alive.
      child.unref();
      for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as { unref?(): void } | null)?.unref?.();
      resolve(child);
    });
    child.stderr!.on('data', (chunk) => (said += chunk));
    child.on('error', (err) => reject(new Error(`flock, for the lock on the default admin address: ${err.message}`)));
    child.on('exit', (code) => {
      if (!said.includes('held')) {
        reject(new Error(`the lock on ${DEFAULT_ADMIN_HOST}:${DEFAULT_ADMIN_PORT} (${file}) was not free in ${Math.round(ms / 1000)} s: held by ${lastHolder(file)} (flock: status ${code})`));
      }
    });
  });
}

/**
 * Holds the lock on the default admin address until the function it resolves to is called
 * (again: nothing). Holds of one process share one lock: the files of a batch run one after
 * another, as do the gateways of a file. Rejects past `ms`, naming the holder.
 */
export async function holdDefaultAdmin(ms = DEFAULT_ADMIN_WAIT_MS): Promise<() => Promise<void>> {
  holds += 1;
  lock ??= takeLock(defaultAdminLockFile(), ms);
  const mine = lock;
  try {
    await mine;
  } catch (err) {
    holds -= 1;
    if (lock === mine) lock = null;
    throw err;
  }
  let released = false;
  return async () => {
    if (released) return;
    released = true;
    holds -= 1;
    if (holds > 0 || lock !== mine) return;
    lock = null;
    const child = await mine;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const ended = new Promise((resolve) => child.once('exit', resolve));
    child.stdin!.end();
    // Bounded: cat ends at its input's end; past a second, the lock goes with flock's kill.
    const timer = setTimeout(() => child.kill('SIGKILL'), 1000);
    await ended;
    clearTimeout(timer);
  };
}

/** Whether something accepts connections on the default admin address (a second at most). */
export function defaultAdminListening(): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(DEFAULT_ADMIN_PORT, DEFAULT_ADMIN_HOST, () => (c.destroy(), resolve(true)));
    c.setTimeout(1000, () => (c.destroy(), resolve(false)));
    c.on('error', () => resolve(false));
  });
}

/**
 * For a file whose tests need the default admin address free, called as it loads: holds the
 * lock until the suite `test` ends (its after hook), then asks whether anything outside the
 * run's lock listens there. Null when the address is free; else why not, for runIf.
 */
export async function defaultAdminBusy(test: Test): Promise<string | null> {
  let release: () => Promise<void>;
  try {
    release = await holdDefaultAdmin();
  } catch (err) {
    return `another test file held 127.0.0.1:8099, the default --admin, too long: ${(err as Error).message}`;
  }
  test.after(release);
  return (await defaultAdminListening()) ? 'something listens on 127.0.0.1:8099, the default --admin' : null;
}

/**
 * Whether the CLI run `args` (its own, or after a wrapper's, as `runuser ... BIN ARGS`) is a
 * gateway given --apps and no --admin: one that listens on the default admin address.
 */
export function takesDefaultAdmin(args: string[]): boolean {
  const at = args.findIndex((a) => a.endsWith('/apppkg-gateway'));
  const cli = at === -1 ? args : args.slice(at + 1);
  return cli[0]?.startsWith('-') === true && cli.includes('--apps') && !cli.some((a) => a === '--admin' || a.startsWith('--admin='));
}

/**
 * The lines of `source` (a test file's text) that start a library gateway meant to listen on
 * the default admin address: `Gateway.start({ apps, listen, ... })` with no `admin`, which takes
 * 127.0.0.1:8099 (gateway-options.ts) outside the lock, as startCli's gateways are not. An
 * options object named elsewhere, a spread or a call in a message's text is not judged; a call
 * with `app` (serve) has no admin listener by default.
 */
export function libraryGatewaysOnDefaultAdmin(source: string): number[] {
  const lines: number[] = [];
  const call = 'Gateway.start(';
  for (let at = source.indexOf(call); at !== -1; at = source.indexOf(call, at + call.length)) {
    let depth = 0;
    let end = at + call.length - 1;
    for (; end < source.length; end++) {
      if (source[end] === '(') depth++;
      else if (source[end] === ')' && --depth === 0) break;
    }
    const options = source.slice(at + call.length, end).trim();
    if (!options.startsWith('{') || !/\blisten\b/.test(options) || !/\bapps\b/.test(options)) continue;
    if (/\badmin\b/.test(options) || /\bapp\b\s*[:,}]/.test(options)) continue;
    lines.push(source.slice(0, at).split('\n').length);
  }
  return lines;
}
