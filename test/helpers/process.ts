// Helpers that drive the real CLI as a child process. Every wait has a deadline: uvu has no
// per-test timeout, so a hung child would otherwise hang the whole run.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';
import { gatherProbeCaches, giveSharedCaches, stateRootOf } from './shared-cache.js';
import { holdDefaultAdmin, takesDefaultAdmin } from './default-admin.js';
import { atSignal } from './on-signal.js';
import { withoutHostPip } from '../../scripts/test-pip-env.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The command as installed (package.json "bin"): a launcher that gives Node its V8 flag. */
export const BIN = join(ROOT, 'bin', 'apppkg-gateway');
/** `node --import TS_REGISTER FILE.ts`: a child Node that loads the project's TypeScript as the tests do. */
export const TS_REGISTER = join(ROOT, 'scripts', 'ts-register.mjs');
export const FIXTURES = join(ROOT, 'test', 'fixtures');
export const EXAMPLES = join(ROOT, 'examples');

/** The directories tempDir made that are not removed yet, removed if a signal ends the process (on-signal.ts). */
const madeDirs = new Set<string>();
let signalsHooked = false;

function removeTempDirsOnSignal(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  atSignal(() => {
    for (const dir of madeDirs) rmSync(dir, { recursive: true, force: true });
  });
}

export function tempDir(prefix = 'apppkg-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  madeDirs.add(path);
  removeTempDirsOnSignal();
  return {
    path,
    remove: () => {
      rmSync(path, { recursive: true, force: true });
      madeDirs.delete(path);
    },
  };
}

/**
 * What `p` resolves to, or what `fallback` gives once `ms` have passed (an assertion then shows it),
 * the timer cleared as `p` settles: uvu lets the test process end when nothing is left to run, so
 * a timer left pending held the file's slot of the run for the rest of its `ms` after the last
 * test (output-throttle's 60 s race held it 56 s, its tests taking 4).
 */
export function orAfter<T, F>(ms: number, fallback: () => F, p: Promise<T>): Promise<T | F> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<F>((resolve) => {
      timer = setTimeout(() => resolve(fallback()), ms);
    }),
  ]);
}

/** `p`, or a rejection past `ms` naming `what`: uvu has no per-test timeout (nor page.evaluate a deadline of its own). */
export function within<T>(ms: number, what: string, p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} did not finish in ${ms} ms`)), ms);
    }),
  ]);
}

/**
 * waitFor's pause for a condition that asks a gateway over seconds (its /status, an app's answer
 * through it): each ask costs the gateway ~5 ms of CPU, so at waitFor's 50 ms a wait alone kept
 * a tenth of a core busy.
 */
export const ASK_GATEWAY_EVERY_MS = 200;

/** What a truthy test lets through: waitFor returns only a value that passed it. */
export type Truthy<T> = Exclude<T, false | 0 | 0n | '' | null | undefined>;

/**
 * `what` names the awaited condition in the timeout's error; a function is asked then, for the
 * state at the end. `everyMs`: the pause between asks (ASK_GATEWAY_EVERY_MS for a gateway).
 */
export async function waitFor<T>(fn: () => T | Promise<T>, ms: number, what: string | (() => string) = 'condition', everyMs = 50): Promise<Truthy<T>> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v as Truthy<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${typeof what === 'function' ? what() : what}${last ? `: ${(last as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * Whether users other than the owner can reach `path`: every directory above it lets others
 * through (o+x) and `path` itself grants them `mode` (4 read, 1 execute). A checkout inside a
 * `mktemp -d` directory or under /root (both 0700) fails this, so the app users and `nobody`
 * that some tests run things as cannot read the CLI or python-shim there.
 */
export function othersCan(path: string, mode: number): boolean {
  try {
    for (let dir = dirname(path); ; dir = dirname(dir)) {
      if ((statSync(dir).mode & 0o001) === 0) return false;
      if (dir === dirname(dir)) break;
    }
    return (statSync(path).mode & mode) === mode;
  } catch {
    return false;
  }
}

/** Where the package other users can run lives: ROOT itself, or a copy. See installForOtherUsers. */
export interface SharedInstall {
  root: string;
  bin: string;
  /** True when ROOT was closed to other users and `root` is a world-readable copy of it. */
  copied: boolean;
}

let shared: SharedInstall | null = null;

/**
 * The package as a user other than ours can run it. Gateway tests that run apps as their users
 * (or the CLI as nobody) need that user to read bin/, dist/ and python-shim/; from a checkout
 * they cannot enter, that spawn would fail with EACCES. So the package is then copied as npm
 * would install it (package.json "files", package.json, the runtime dependencies) into one
 * world-readable temp dir per test process, removed when the process exits. Needs a build.
 */
export function installForOtherUsers(): SharedInstall {
  if (shared) return shared;
  const inPlace = othersCan(BIN, 0o005) && othersCan(join(ROOT, 'dist', 'cli', 'main.js'), 0o004) && othersCan(join(ROOT, 'python-shim', 'apppkg_shim_main.py'), 0o004);
  if (inPlace) return (shared = { root: ROOT, bin: BIN, copied: false });
  const root = mkdtempSync(join(tmpdir(), 'apppkg-shared-install-'));
  process.on('exit', () => rmSync(root, { recursive: true, force: true }));
  atSignal(() => rmSync(root, { recursive: true, force: true }));
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[] };
  const copied = new Set<string>();
  for (const entry of [...pkg.files, 'package.json', ...runtimePackages()]) {
    const from = join(ROOT, entry);
    // A nested package lives inside one already copied (node_modules/a/node_modules/b).
    if ([...copied].some((c) => entry.startsWith(c + sep)) || !existsSync(from)) continue;
    cpSync(from, join(root, entry), { recursive: true, filter: (p) => !p.includes('__pycache__') });
    copied.add(entry);
  }
  // The checkout's files may be 0600 (a umask 077 clone): make the copy readable by everyone.
  chmodSync(root, 0o755);
  spawnSync('chmod', ['-R', 'a+rX', root], { stdio: 'ignore', timeout: 30_000 });
  return (shared = { root, bin: join(root, 'bin', 'apppkg-gateway'), copied: true });
}

/** `path` (inside ROOT) where other users can read it: itself, or its copy in the shared install. */
export function sharedPath(path: string): string {
  const { root, copied } = installForOtherUsers();
  if (!copied) return path;
  const copy = join(root, relative(ROOT, path));
  if (!existsSync(copy)) {
    cpSync(path, copy, { recursive: true, filter: (p) => !p.includes('__pycache__') });
    spawnSync('chmod', ['-R', 'a+rX', root], { stdio: 'ignore', timeout: 30_000 });
  }
  return copy;
}

/**
 * node_modules/ paths (relative to ROOT) of package.json "dependencies" and theirs, found the
 * way Node resolves them (nearest node_modules up from the requiring package): dev tools such
 * as typescript and esbuild are most of node_modules, and nothing at run time needs them.
 */
function runtimePackages(): string[] {
  const found = new Set<string>();
  const deps = (dir: string): string[] => {
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    return Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies });
  };
  const visit = (from: string, name: string): void => {
    for (let dir = from; ; dir = dirname(dir)) {
      const candidate = join(dir, 'node_modules', name);
      if (existsSync(join(candidate, 'package.json'))) {
        const rel = relative(ROOT, candidate);
        if (found.has(rel)) return;
        found.add(rel);
        for (const dep of deps(candidate)) visit(candidate, dep);
        return;
      }
      if (dir === ROOT || dir === dirname(dir)) return; // an optional dependency not installed
    }
  };
  for (const dep of deps(ROOT)) visit(ROOT, dep);
  return [...found].sort();
}

/**
 * The tests' PATH without pyenv's shim directories. check (and describe --sys-path) probes
 * python3 on PATH afresh where its state root has no probe cache (it only reads one; runCli gives
 * none to a check's root), and a shim's probe is ~0.4 s of bash. A walk of the host's
 * interpreters no longer runs the shims of versions pyenv has (their binaries answer), so what
 * this still saves is a shim that comes first on a caller's PATH as `python3`, or one that no
 * version has. For the tests whose subject is not which interpreter runs the app; that one is
 * then the first python3 after them (/usr/bin/python3 on Debian, or pyenv's own bin, which
 * npm test puts first).
 */
export function pathWithoutPyenvShims(): string {
  return (process.env.PATH ?? '').split(':').filter((dir) => !/\/\.pyenv\/(plugins\/[^/]+\/)?shims$/.test(dir)).join(':');
}

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * The error a test fails with when `file` could not be started at all. Without an 'error'
 * listener a failed spawn (EACCES, ENOENT) is an uncaught exception that ends the whole uvu
 * run, not the one test.
 */
export function spawnFailure(file: string, args: string[], err: NodeJS.ErrnoException, as?: { uid?: number; cwd?: string }): Error {
  const who = as?.uid === undefined ? '' : ` as uid ${as.uid}`;
  const hint = err.code === 'EACCES' && as?.uid !== undefined ? ` (can uid ${as.uid} reach ${file}? a checkout under /root or in a 0700 dir is closed to other users)` : '';
  return new Error(`could not start ${file} ${args.join(' ')}${who}: ${err.code ?? err.message}${hint}`, { cause: err });
}

/**
 * Runs the CLI to completion (bounded by `ms`; killed and failed past it). An empty state root
 * it is given starts with the run's caches (shared-cache.ts), as startCli's does.
 */
export async function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; ms?: number; input?: string; bin?: string } = {}): Promise<CliResult> {
  // A gateway given no --admin listens on the default admin address, as long as it runs.
  const release = takesDefaultAdmin(args) ? await holdDefaultAdmin() : null;
  try {
    return await runCliNow(args, opts);
  } finally {
    await release?.();
  }
}

function runCliNow(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; ms?: number; input?: string; bin?: string }): Promise<CliResult> {
  const bin = opts.bin ?? BIN;
  if (bin === BIN) giveSharedCaches(stateRootOf(args, opts.env));
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, {
      cwd: opts.cwd ?? ROOT,
      env: { ...withoutHostPip(process.env), ...opts.env },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    // The CLI may exit before reading its input: EPIPE here is its answer, not the test's error.
    child.stdin?.on('error', () => {});
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c) => (stdout += c));
    child.stderr!.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`apppkg-gateway ${args.join(' ')} did not finish in ${opts.ms ?? 60000} ms\n${stdout}\n${stderr}`));
    }, opts.ms ?? 60000);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(spawnFailure(bin, args, err));
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      gatherProbeCaches();
      resolve({ status, signal, stdout, stderr });
    });
  });
}

export interface RunningGateway {
  child: ChildProcess;
  url: string;
  /** The admin listener's URL (gateway mode), from its `admin on ...` line. */
  adminUrl: string | null;
  output(): string;
  /** Sends SIGTERM and waits for the exit (SIGKILL past the deadline, which fails the caller), then for its guards to end (guardsEnded). */
  stop(ms?: number): Promise<number | null>;
}

/**
 * Starts the CLI (serve or --apps) and waits for its `listening on http://...` line. `bin`: the
 * CLI to run instead of the checkout's (installForOtherUsers().bin). `group`: in a process group
 * of its own, whose id is its pid (as `timeout` or a systemd unit runs it), for a test that
 * signals the whole group; a start that fails kills the group.
 */
export async function startCli(args: string[], opts: { env?: NodeJS.ProcessEnv; ms?: number; cwd?: string; bin?: string; group?: boolean } = {}): Promise<RunningGateway> {
  const bin = opts.bin ?? BIN;
  if (bin === BIN) giveSharedCaches(stateRootOf(args, opts.env));
  // A gateway given no --admin holds the default admin address until it exits (default-admin.ts).
  const release = takesDefaultAdmin(args) ? await holdDefaultAdmin() : null;
  const child = spawn(bin, args, {
    cwd: opts.cwd ?? ROOT,
    env: { ...withoutHostPip(process.env), ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.group === true,
  });
  if (release !== null) for (const ended of ['exit', 'error']) child.once(ended, () => void release());
  const killAll = () => {
    if (opts.group !== true || child.pid === undefined) {
      child.kill('SIGKILL');
      return;
    }
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // the group is gone already
    }
  };
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  let exited = false;
  let failure: Error | null = null;
  const exit = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      exited = true;
      gatherProbeCaches();
      resolve(code);
    });
    // A spawn that fails emits 'error' and never 'exit': end the wait below, and stop().
    child.on('error', (err) => {
      failure ??= spawnFailure(bin, args, err);
      exited = true;
      resolve(null);
    });
  });
  // Waits for the line or the end of the child (its output read to the end: 'close', not
  // 'exit'): an early exit fails now, not at the deadline.
  let closed = false;
  child.on('close', () => (closed = true));
  const url = await waitFor(
    () => {
      const listening = /listening on ((?:http:\/\/|unix:)\S+)/.exec(out)?.[1];
      return listening ? { url: listening } : closed || failure ? { url: null } : undefined;
    },
    opts.ms ?? 30000,
    `apppkg-gateway ${args.join(' ')} to listen`,
  ).then((found) => {
    if (!found?.url) throw failure ?? new Error(`apppkg-gateway ${args.join(' ')} exited early (${child.signalCode ?? `status ${child.exitCode}`})`);
    return found.url;
  }).catch((err) => {
    const where = child.pid === undefined || exited ? '' : `\n--- the gateway's processes ---\n${stuckAt(child.pid)}`;
    killAll();
    throw new Error(`${(err as Error).message}\n--- output ---\n${out}${where}`, { cause: err });
  });
  // The gateway prints its admin address right after its listeners; serve has none.
  const adminUrl = args.includes('--apps')
    ? await waitFor(() => /admin on ((?:http:\/\/|unix:)\S+)/.exec(out)?.[1], 5000, 'the admin line').catch((err) => {
        killAll(); // not left running for the test process to wait on
        throw err;
      })
    : undefined;
  return {
    child,
    url: url.replace(/\/$/, ''),
    adminUrl: adminUrl ? adminUrl.replace(/\/$/, '') : null,
    output: () => out,
    async stop(ms = 15000) {
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), ms);
        await exit;
        clearTimeout(timer);
      }
      // Killed (by the test, or past the deadline), it left its trees to its guards.
      await guardsEnded(child.pid);
      return exit;
    },
  };
}

/**
 * startCli for a gateway whose files are all in `dir`: when it does not start (a bad argument,
 * an early exit, no listening line by the deadline) `dir` is removed before the error is thrown,
 * as the test that made it never gets a gateway to hand its after hook.
 */
export async function startCliIn(dir: { remove(): void }, args: string[], opts: Parameters<typeof startCli>[1] = {}): Promise<RunningGateway> {
  try {
    return await startCli(args, opts);
  } catch (err) {
    dir.remove();
    throw err;
  }
}

/** Field 3 of /proc/PID/stat (R, S, Z, ...), its parent, and its command; null once it is gone. */
function procState(pid: number): { state: string; ppid: number; comm: string } | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = stat.lastIndexOf(')');
    const [state, ppid] = stat.slice(close + 2).split(' ');
    return { state, ppid: Number(ppid), comm: stat.slice(stat.indexOf('(') + 1, close) };
  } catch {
    return null;
  }
}

/**
 * Whether `pid` still runs. A zombie does not: it has exited and waits for its parent (init,
 * once the gateway that started it is gone) to collect its status, which a loaded machine's
 * init may do late; it holds no resource but its process table entry.
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return procState(pid)?.state !== 'Z';
}

/** The pids in /proc now. */
function procPids(): number[] {
  return readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).map(Number);
}

/** The pids of the host's processes whose arguments (`/proc/PID/cmdline`, split at NUL) `match`. */
export function pidsByArgs(match: (args: string[]) => boolean): number[] {
  const found: number[] = [];
  for (const pid of procPids()) {
    try {
      if (match(readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0'))) found.push(pid);
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

/** A process as its /proc/PID/stat has it. */
export interface ProcEntry {
  pid: number;
  state: string;
  ppid: number;
  comm: string;
}

/** Every process of the host now (one gone meanwhile is left out). */
export function processTable(): ProcEntry[] {
  return procPids().flatMap((pid) => {
    const stat = procState(pid);
    return stat === null ? [] : [{ pid, ...stat }];
  });
}

/** The processes below `root` now (its children, theirs, ...), zombies included, from one processTable(). */
export function processesBelow(root: number): ProcEntry[] {
  const table = processTable();
  const parent = new Map(table.map((p) => [p.pid, p.ppid]));
  const below = (pid: number): boolean => {
    for (let p = parent.get(pid); p !== undefined && p > 0; p = parent.get(p)) if (p === root) return true;
    return false;
  };
  return table.filter((p) => below(p.pid));
}

/**
 * Where `root` and the processes below it wait, one line each (`pid state comm wchan`): a start
 * that printed nothing and used no CPU for its whole deadline (run 49, 2026-12-06) left no
 * other trace of what it waited on.
 */
function stuckAt(root: number): string {
  const wchan = (pid: number): string => {
    try {
      return readFileSync(`/proc/${pid}/wchan`, 'latin1') || '-';
    } catch {
      return '?';
    }
  };
  const rootState = procState(root);
  const all = [...(rootState === null ? [] : [{ pid: root, ...rootState }]), ...processesBelow(root)];
  return all.map((p) => `${p.pid} ${p.state} ${p.comm} ${wchan(p.pid)}`).join('\n');
}

/** The guard shells (process-group.ts) whose arguments name `mark`, as `pid:state`. */
function guardsOf(mark: string): string[] {
  return pidsByArgs((args) => args[0] === '/bin/sh' && args.includes(mark)).map((pid) => `${pid}:${procState(pid)?.state ?? '?'}`);
}

/**
 * The guard shells (process-group.ts) the gateway process `pid` started: each guard's last
 * argument is its tree's mark, which begins with the pid of the gateway that made it.
 */
export function guardsOfGateway(pid: number): number[] {
  return pidsByArgs((args) => args[0] === '/bin/sh' && args[1] === '-c' && args[3]?.startsWith(`${pid}.`) === true).filter(isAlive);
}

/**
 * Waits until the guards of the gateway process `pid` have ended: a gateway killed leaves its
 * trees to them (SIGTERM, SIGKILL to what is left 5 s later), and a test that ended first left
 * them running for the test runner to kill, maybe before their SIGKILL. Throws naming those
 * left past `ms`: a guard must end within its 5 s.
 */
export async function guardsEnded(pid: number | undefined, ms = 10_000): Promise<void> {
  if (pid === undefined) return;
  await waitFor(() => guardsOfGateway(pid).length === 0, ms, () => `the guards of the gateway ${pid} to end: ${guardsOfGateway(pid).join(', ')}`, 100);
}

/**
 * Polls until every pid is gone (execa's isRunning); throws naming the survivors, with their
 * state, parent, tree mark and that tree's guard shells (none: the guard went before its tree).
 */
export async function assertNoOrphans(pids: number[], ms = 5000): Promise<void> {
  const survivors = () => pids.filter(isAlive).map((p) => {
    const s = procState(p);
    if (s === null) return String(p);
    let mark = '';
    try {
      mark = /(?:^|\0)APPPKG_TREE=([^\0]*)/.exec(readFileSync(`/proc/${p}/environ`, 'latin1'))?.[1] ?? '';
    } catch {
      // not ours to read
    }
    return `${p} (${s.comm}, state ${s.state}, parent ${s.ppid}${mark ? `, tree ${mark}, its guards: ${guardsOf(mark).join(' ') || 'none'}` : ''})`;
  });
  await waitFor(() => pids.every((p) => !isAlive(p)), ms, () => `processes ${survivors().join(', ')} to exit`);
}

/** Child pids of `pid` (direct children), from /proc. */
export async function childPids(pid: number): Promise<number[]> {
  return processTable().filter((p) => p.ppid === pid).map((p) => p.pid);
}

/**
 * What comes back on `socket`, byte for byte as latin1, and whether it has closed. A test that
 * reads these sees an error as the close it ends in.
 */
export function recorded(socket: net.Socket): { readonly got: string; readonly closed: boolean } {
  const seen = { got: '', closed: false };
  socket.on('data', (c: Buffer) => (seen.got += c.toString('latin1')));
  socket.on('error', () => {});
  socket.on('close', () => (seen.closed = true));
  return seen;
}

/** Sends raw bytes and returns everything the server answers until it closes or `ms` passes. */
export function rawRequest(port: number, data: string | Buffer, ms = 5000, host = '127.0.0.1'): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    let got = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(got);
    }, ms);
    socket.on('connect', () => socket.write(data));
    socket.on('data', (c) => (got += c.toString('latin1')));
    socket.on('error', (err) => {
      clearTimeout(timer);
      if (got) resolve(got);
      else reject(err);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

/**
 * Writes `pieces` on one connection, `gapMs` apart (TCP_NODELAY: each its own segment, as a
 * network delivers a long URL; 0: each in an event-loop turn of its own, no timer between), then
 * gathers what comes back until the server closes. `fin`: then the FIN (only: the client still
 * reads, as `printf ... | nc` does).
 */
export async function spacedOut(port: number, pieces: Array<Buffer | string>, gapMs: number, ms = 5000, fin = false): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  socket.setNoDelay(true);
  const seen = recorded(socket);
  try {
    await new Promise((resolve) => socket.once('connect', resolve));
    for (const piece of pieces) {
      socket.write(piece);
      await new Promise((resolve) => (gapMs > 0 ? setTimeout(resolve, gapMs) : setImmediate(resolve)));
    }
    if (fin) socket.end();
    await waitFor(() => seen.closed, ms, 'the server to close after its answers');
    return seen.got;
  } finally {
    socket.destroy();
  }
}

/**
 * Which of `clientPorts` (client ends of loopback TCP connections) `pid` itself holds the server
 * side of: one read of the kernel's tables for them all, and of `pid`'s descriptors only. For a
 * test that must see several connections accepted within a short bound (--header-timeout):
 * acceptedBy, asked once per port, scans every process of the host for each process under the
 * gateway, and four such asks at once took past 0.8 s on a loaded host.
 */
export function acceptedByItself(pid: number, clientPorts: number[]): Set<number> {
  const inodes = loopbackSocketInodes((port) => clientPorts.includes(port));
  const accepted = new Set<number>();
  if (inodes.size === 0) return accepted;
  for (const inode of socketInodesHeldBy(pid)) {
    const port = inodes.get(inode);
    if (port !== undefined) accepted.add(port);
  }
  return accepted;
}

/** The kernel's TCP sockets whose remote port `wanted` takes (the client ends' ports seen from the server side): inode to port. */
function loopbackSocketInodes(wanted: (port: number) => boolean): Map<string, number> {
  const inodes = new Map<string, number>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      // fields: sl local_address rem_address st ... uid timeout inode
      const fields = line.trim().split(/\s+/);
      if (fields.length <= 9) continue;
      const port = parseInt(fields[2].slice(fields[2].lastIndexOf(':') + 1), 16);
      if (wanted(port)) inodes.set(fields[9], port);
    }
  }
  return inodes;
}

/** The inodes of the sockets `pid`'s descriptors lead to (none once it is gone). */
function socketInodesHeldBy(pid: number): string[] {
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return [];
  }
  const held: string[] = [];
  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target.startsWith('socket:[')) held.push(target.slice(8, -1));
    } catch {
      // closed while we looked
    }
  }
  return held;
}

/**
 * Whether `pid` (or a process under it) holds the server side of the loopback TCP connection
 * whose client end is `clientPort`: the gateway has accepted it. What a test waits for before
 * it resets a connection whose peer the gateway must still be able to name (a busy event loop
 * accepts late, and a reset before the accept leaves no peer to ask the kernel for).
 */
export async function acceptedBy(pid: number, clientPort: number): Promise<boolean> {
  const inodes = loopbackSocketInodes((port) => port === clientPort);
  if (inodes.size === 0) return false;
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) pids.push(...(await childPids(pids[i])));
  return pids.some((each) => socketInodesHeldBy(each).some((inode) => inodes.has(inode)));
}
