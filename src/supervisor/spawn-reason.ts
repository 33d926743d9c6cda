// Why a worker or a process could not be spawned, in words its user can act on. Node's spawn
// says ENOENT naming the program when what is missing is the directory it was to run in (an app
// directory removed while the app slept, the --apps directory moved away), which sent people
// looking for the interpreter; and EMFILE is the gateway's open-files limit (open-files.ts).
import { existsSync } from 'node:fs';
import { CLI_COMMAND_WORDS, type CommandWords } from '../command-words.js';
import { outOfFiles, outOfFilesReason } from '../open-files.js';

export interface SpawnReason {
  reason: string;
  /** EMFILE or ENFILE: the error's hint is then how to raise the limit. */
  openFiles?: 'EMFILE' | 'ENFILE';
}

/** The virtualenv whose bin/python `program` is, and the app it is built for. */
export interface SpawnVenv {
  dir: string;
  app: string;
  /** How the fix names the restart that builds it again (the CLI's command, the library's method); default the CLI's. */
  words?: CommandWords;
}

/**
 * The reason spawning `program` in `cwd` failed with `err` (null: no error was given).
 * A virtualenv removed by hand is not built again at a restart, as neither Passenger nor uWSGI
 * rebuilds an app's environment at a respawn: a build is pip's work (seconds to minutes, and
 * offline it may fail where the old venv served), repeated by each restarting worker. The
 * reason names the one command that builds it again and starts the app on it.
 */
export function spawnReason(err: Error | null, program: string, cwd: string, venv?: SpawnVenv): SpawnReason {
  const kind = outOfFiles(err);
  if (kind !== null) return { reason: `cannot run ${program}: ${outOfFilesReason(kind, (err as { filesKept?: boolean }).filesKept === true)}`, openFiles: kind };
  const missing = (err as NodeJS.ErrnoException | null)?.code === 'ENOENT';
  if (missing && !existsSync(cwd)) {
    return { reason: `cannot run ${program} in ${cwd}: that directory is gone (removed or moved away since the app was started)` };
  }
  if (missing && venv !== undefined && !existsSync(program)) {
    const what = existsSync(venv.dir) ? `its virtualenv ${venv.dir} lost it` : `its virtualenv ${venv.dir} is gone`;
    const words = venv.words ?? CLI_COMMAND_WORDS;
    return { reason: `cannot run ${program}: ${what} (removed since the app was started); ${words.restart(venv.app)} builds it again and starts the app on it${words.restartElsewhere}` };
  }
  return { reason: `cannot run ${program}: ${err?.message ?? 'spawn failed'}` };
}
