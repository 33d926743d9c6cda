// fs.protected_hardlinks set to 0 for a test's span, and set back whatever happens: then the
// app's user may hard-link a file it does not own (a root-only one) into what root then reads,
// copies or chowns. The setting is the whole host's: held as briefly as the test allows.
import { accessSync, constants, readFileSync, writeFileSync } from 'node:fs';

const PROTECTED_HARDLINKS = '/proc/sys/fs/protected_hardlinks';

/** Whether we may change the setting (root, and /proc/sys writable: not in every container). */
export const canUnprotectHardlinks = ((): boolean => {
  try {
    accessSync(PROTECTED_HARDLINKS, constants.W_OK);
    return true;
  } catch {
    return false;
  }
})();

export const UNPROTECT_REASON = `needs root, and ${PROTECTED_HARDLINKS} writable, to let the app's user hard-link a file it does not own`;

/** `during()` with fs.protected_hardlinks=0, set back to what it was once it settles. */
export async function withUnprotectedHardlinks<T>(during: () => Promise<T>): Promise<T> {
  const before = readFileSync(PROTECTED_HARDLINKS, 'utf8').trim();
  try {
    writeFileSync(PROTECTED_HARDLINKS, '0');
    return await during();
  } finally {
    writeFileSync(PROTECTED_HARDLINKS, before);
  }
}
