// Whether the environment file is open to the apps' users. It holds every app's settings and the
// services' admin URLs with their passwords; as root the apps run as other users of this host
// (SPEC 2.1: one app's settings are never visible to another; 5.2: no app reaches another's
// database), so a file left 0644 gave each app all of it, whatever the kernel kept apart.
import { statSync } from 'node:fs';

/** The warning to log when users other than the file's owner (and root's group) may read `file`; null when none may. */
export function environmentFileExposure(file: string): string | null {
  let stat;
  try {
    stat = statSync(file);
  } catch {
    return null; // read a moment ago; its loading says what is wrong with it
  }
  // A device's mode is not the settings' (/dev/null is 0666 for every user to write to, and
  // holds none): its chmod, the fix this gives, would break the host. A FIFO's is (another
  // user could read the stream first).
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return null;
  // The apps run without root's groups: a group bit for gid 0 opens it to no app.
  const open = (stat.mode & 0o004) !== 0 || ((stat.mode & 0o040) !== 0 && stat.gid !== 0);
  if (!open) return null;
  const mode = (stat.mode & 0o777).toString(8).padStart(4, '0');
  return `WARNING: the environment file ${file} (mode ${mode}) can be read by users other than its owner, the apps' among them: it holds every app's settings and the services' admin passwords; chmod 600 ${file}`;
}
