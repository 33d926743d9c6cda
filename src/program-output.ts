// A short program the gateway asks something (dpkg-query, rpm, apt-cache, an interpreter, pip)
// run to its end with its output captured: what it said and how it ended, never a throw, so each
// caller reads the failures that matter to its question (no such program, no answer in time, a
// status) in its own words. Long-running commands whose output streams are lifecycle/run-command.ts.
import { execFile } from 'node:child_process';
import { closingRefusedPipes } from './spawn-process.js';

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
}

export function programOutput(file: string, args: string[], opts: ProgramOutputOptions): Promise<ProgramOutput> {
  return new Promise((resolve) => {
    closingRefusedPipes(() => execFile(file, args, { timeout: opts.timeoutMs, killSignal: 'SIGKILL', env: opts.env, maxBuffer: opts.maxBuffer }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: unknown; killed?: boolean }) | null;
      resolve({
        status: e === null ? 0 : typeof e.code === 'number' ? e.code : null,
        stdout: String(stdout),
        stderr: String(stderr),
        startError: typeof e?.code === 'string' && e.code.startsWith('E') && !e.code.startsWith('ERR_') ? e.code : null,
        timedOut: e?.killed === true && e.code !== 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER',
        message: e?.message ?? '',
      });
    }));
  });
}
