// A state file replaced whole or not at all. `writeFileSync` truncates and then writes: a full
// disk or a crash between the two leaves an empty installed.json, which reads as "no record", and
// the next start would take the newest version for installed without its commands.update. The
// run helpers (environment/app-env.ts) are written the same way, without blocking.
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { rename, rm, writeFile } from 'node:fs/promises';

/**
 * Each write's own name beside `file`: two writes of one file in this process at once (the
 * library's runCommand('test') and runCommand('check') of an app, writing its run helpers)
 * shared `file.PID.tmp`, and the second rename found it gone (ENOENT, APPPKG_STATE_DIR_FAILED).
 */
let writes = 0;
const tempOf = (file: string): string => `${file}.${process.pid}.${++writes}.tmp`;

/** Writes `content` beside `file`, then renames it over `file`; on failure nothing of it is left. */
export function writeFileAtomicSync(file: string, content: string): void {
  const temp = tempOf(file);
  try {
    writeFileSync(temp, content);
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}

/** writeFileAtomicSync without blocking, the new file made with `mode`. */
export async function writeFileAtomic(file: string, content: string, mode?: number): Promise<void> {
  const temp = tempOf(file);
  try {
    await writeFile(temp, content, { mode });
    await rename(temp, file);
  } catch (err) {
    // A disk that filled mid-write leaves part of it: never a file of ours left behind.
    await rm(temp, { force: true }).catch(() => {});
    throw err;
  }
}
