// A short program the gateway asks something (dpkg-query, rpm, apt-cache, an interpreter, pip)
// run to its end with its output captured: what it said and how it ended, never a throw, so each
// caller reads the failures that matter to its question (no such program, no answer in time, a
// status) in its own words. Long-running commands whose output streams are lifecycle/run-command.ts.
import { spawnProcess } from './spawn-process.js';

export interface ProgramOutput {
  /** Its exit status; null when it did not exit by itself (killed, or never started). */
  status: number | null;
  stdout: string;
  stderr: string;
  /** Why it could not start, as the system said it (`ENOENT`, `EACCES`), or null. */
  startError: string | null;
  /** Killed for not finishing within `timeoutMs`. */
  timedOut: boolean;
  /** Node's message for a run that did not exit 0; '' for one that did. */
  message: string;
}

export interface ProgramOutputOptions {
  /** Past this it is killed (SIGKILL: a program that hangs may ignore a TERM as well). */
  timeoutMs: number;
  env?: NodeJS.ProcessEnv;
  /** Bytes of stdout or stderr past which it is killed (Node's default: 1 MiB). */
  maxBuffer?: number;
  /** As another user (we are root): what it does, it does with that user's rights. */
  uid?: number;
  gid?: number;
  cwd?: string;
}

export function programOutput(file: string, args: string[], opts: ProgramOutputOptions): Promise<ProgramOutput> {
  const maxBuffer = opts.maxBuffer ?? 1024 * 1024;
  return new Promise((resolve) => {
    // In a process group of its own, killed whole: a program that hangs may be a wrapper (a
    // python3.N script, a shim) whose own child holds it, and killing the wrapper alone left
    // that child running for good, an orphan of init. (execFile cannot: it drops `detached`.)
    const child = spawnProcess(file, args, { env: opts.env, cwd: opts.cwd, uid: opts.uid, gid: opts.gid, detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
    // A spawn refused for want of descriptors (EMFILE) has no pipes: it says so as 'error' only.
    child.stdin?.end();
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const size = { out: 0, err: 0 };
    let timedOut = false;
    let overflow: string | null = null;
    let settled = false;
    const killGroup = () => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // Gone already, with its group.
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup();
    }, opts.timeoutMs);
    const collect = (into: Buffer[], which: 'out' | 'err', name: string) => (chunk: Buffer) => {
      size[which] += chunk.length;
      if (size[which] > maxBuffer) {
        overflow ??= `${name} maxBuffer length exceeded`;
        killGroup();
        return;
      }
      into.push(chunk);
    };
    child.stdout?.on('data', collect(out, 'out', 'stdout'));
    child.stderr?.on('data', collect(err, 'err', 'stderr'));
    const finish = (result: Omit<ProgramOutput, 'stdout' | 'stderr'>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ...result, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    };
    child.on('error', (e: NodeJS.ErrnoException) => {
      // Could not start (ENOENT, EACCES): there is no exit to wait for.
      if (child.pid === undefined) finish({ status: null, startError: typeof e.code === 'string' ? e.code : null, timedOut: false, message: e.message });
    });
    child.on('close', (code, signal) => {
      const stderr = Buffer.concat(err).toString('utf8');
      const failed = `Command failed: ${[file, ...args].join(' ')}\n${stderr}`;
      const message = overflow ?? (code === 0 && signal === null ? '' : failed);
      finish({ status: overflow === null && signal === null ? code : null, startError: null, timedOut: timedOut && overflow === null, message });
    });
  });
}
