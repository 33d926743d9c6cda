// Why a worker or a process could not be spawned, in words its user can act on. Node's spawn
// says ENOENT naming the program when what is missing is the directory it was to run in (an app
// directory removed while the app slept, the --apps directory moved away), which sent people
// looking for the interpreter; and EMFILE is the gateway's open-files limit (open-files.ts).
import { existsSync } from 'node:fs';
import { outOfFiles, outOfFilesReason } from '../open-files.js';

export interface SpawnReason {
  reason: string;
  /** EMFILE or ENFILE: the error's hint is then how to raise the limit. */
  openFiles?: 'EMFILE' | 'ENFILE';
}

/** The reason spawning `program` in `cwd` failed with `err` (null: no error was given). */
export function spawnReason(err: Error | null, program: string, cwd: string): SpawnReason {
  const kind = outOfFiles(err);
  if (kind !== null) return { reason: `cannot run ${program}: ${outOfFilesReason(kind, (err as { filesKept?: boolean }).filesKept === true)}`, openFiles: kind };
  if ((err as NodeJS.ErrnoException | null)?.code === 'ENOENT' && !existsSync(cwd)) {
    return { reason: `cannot run ${program} in ${cwd}: that directory is gone (removed or moved away since the app was started)` };
  }
  return { reason: `cannot run ${program}: ${err?.message ?? 'spawn failed'}` };
}
