// Helpers that drive the real CLI as a child process. Every wait has a deadline: uvu has no
// per-test timeout, so a hung child would otherwise hang the whole run.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import net from 'node:net';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** The command as installed (package.json "bin"): a launcher that gives Node its V8 flag. */
export const BIN = join(ROOT, 'bin', 'apppkg-gateway');
export const FIXTURES = join(ROOT, 'test', 'fixtures');
export const EXAMPLES = join(ROOT, 'examples');

export function tempDir(prefix = 'apppkg-test-'): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

export async function waitFor<T>(fn: () => T | Promise<T>, ms: number, what = 'condition'): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${ms} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface CliResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI to completion (bounded by `ms`; killed and failed past it). */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; ms?: number; input?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(BIN, args, {
      cwd: opts.cwd ?? ROOT,
      env: { ...process.env, ...opts.env },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (c) => (stdout += c));
    child.stderr!.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`apppkg-gateway ${args.join(' ')} did not finish in ${opts.ms ?? 60000} ms\n${stdout}\n${stderr}`));
    }, opts.ms ?? 60000);
    child.on('close', (status, signal) => {
      clearTimeout(timer);
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
  /** Sends SIGTERM and waits for the exit (SIGKILL past the deadline, which fails the caller). */
  stop(ms?: number): Promise<number | null>;
}

/** Starts the CLI (serve or --apps) and waits for its `listening on http://...` line. */
export async function startCli(args: string[], opts: { env?: NodeJS.ProcessEnv; ms?: number; cwd?: string } = {}): Promise<RunningGateway> {
  const child = spawn(BIN, args, {
    cwd: opts.cwd ?? ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  let exited = false;
  const exit = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      exited = true;
      resolve(code);
    }),
  );
  const url = await waitFor(
    () => {
      if (exited) throw new Error(`exited early:\n${out}`);
      return /listening on ((?:http:\/\/|unix:)\S+)/.exec(out)?.[1];
    },
    opts.ms ?? 30000,
    `apppkg-gateway ${args.join(' ')} to listen`,
  ).catch((err) => {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n--- output ---\n${out}`);
  });
  // The gateway prints its admin address right after its listeners; serve has none.
  const adminUrl = args.includes('--apps')
    ? await waitFor(() => /admin on (http:\/\/\S+)/.exec(out)?.[1], 5000, 'the admin line')
    : undefined;
  return {
    child,
    url: url.replace(/\/$/, ''),
    adminUrl: adminUrl ? adminUrl.replace(/\/$/, '') : null,
    output: () => out,
    async stop(ms = 15000) {
      if (exited) return exit;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      const code = await exit;
      clearTimeout(timer);
      return code;
    },
  };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Polls until every pid is gone (execa's isRunning); throws naming the survivors. */
export async function assertNoOrphans(pids: number[], ms = 5000): Promise<void> {
  await waitFor(() => pids.every((p) => !isAlive(p)), ms, `processes ${pids.filter(isAlive).join(', ')} to exit`);
}

/** Child pids of `pid` (direct children), from /proc. */
export async function childPids(pid: number): Promise<number[]> {
  const { readFileSync, readdirSync } = await import('node:fs');
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === pid) out.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return out;
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
