// What the last failed install found of the app's wheels that its interpreter cannot load
// (0b747cf: read from pip's log), kept beside the venv so that `check` says it too. Without it
// check said "run install", which failed the same way again. Kept for the requirements and
// interpreter it was found with: a change to either makes it say nothing.
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';

export interface UnloadableRecord {
  /** The requirements tree's sha256 (wantedStamp's requirementsTree) when install failed. */
  requirementsSha256: string;
  /** The interpreter pip ran for (its executable). */
  executable: string;
  /** When install failed (ISO 8601). */
  at: string;
  /** APPPKG_PIP_INSTALL_FAILED's details of the wheels: unloadable, python, executable, pythonTag. */
  details: Record<string, unknown>;
}

function recordFile(venvPath: string): string {
  return path.join(path.dirname(venvPath), 'pip-unloadable.json');
}

/** Best effort: a record not written leaves check's generic fix, nothing worse. */
export async function keepUnloadableWheels(venvPath: string, record: UnloadableRecord | null): Promise<void> {
  const file = recordFile(venvPath);
  await (record === null ? rm(file, { force: true }) : writeFile(file, `${JSON.stringify(record)}\n`)).catch(() => {});
}

/** The record, when it was made with these requirements and this interpreter; else null. */
export async function readUnloadableWheels(venvPath: string, requirementsSha256: string, executable: string): Promise<UnloadableRecord | null> {
  try {
    const record = JSON.parse(await readFile(recordFile(venvPath), 'utf8')) as UnloadableRecord;
    return record.requirementsSha256 === requirementsSha256 && record.executable === executable && Array.isArray(record.details?.unloadable) ? record : null;
  } catch {
    return null;
  }
}
