// A state file replaced whole or not at all. `writeFileSync` truncates and then writes: a full
// disk or a crash between the two leaves an empty installed.json, which reads as "no record", and
// the next start would take the newest version for installed without its commands.update.
import { renameSync, rmSync, writeFileSync } from 'node:fs';

/** Writes `content` beside `file`, then renames it over `file`; on failure nothing of it is left. */
export function writeFileAtomicSync(file: string, content: string): void {
  const temp = `${file}.${process.pid}.tmp`;
  try {
    writeFileSync(temp, content);
    renameSync(temp, file);
  } catch (err) {
    rmSync(temp, { force: true });
    throw err;
  }
}
