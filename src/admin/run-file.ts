// A file a running gateway keeps in its state root for as long as it runs (admin.address,
// admin.key): written whole or not at all, removed at stop, and removed at an exit that skipped
// the stop, unless a later start has written it since (then it is that gateway's, not ours).
import { readFileSync, unlinkSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { writeFileAtomic } from '../write-file-atomic.js';

/** What removes the file again: at stop, and at an exit that skipped the stop. */
export interface RunFileRecord {
  remove(): Promise<void>;
}

export async function recordRunFile(file: string, content: string, mode: number): Promise<RunFileRecord> {
  await writeFileAtomic(file, content, mode);
  const onExit = (): void => {
    try {
      if (readFileSync(file, 'utf8') === content) unlinkSync(file);
    } catch {
      // gone already
    }
  };
  process.on('exit', onExit);
  return {
    async remove() {
      process.off('exit', onExit);
      await unlink(file).catch(() => {});
    },
  };
}
