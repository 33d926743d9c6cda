// Why the app's virtualenv, there on disk, cannot run: its bin/python deleted, or linking to an
// interpreter that was removed (a pyenv version uninstalled), or the venv link's build gone.
// check had passed over such a venv for the interpreter itself and said "requirements not
// satisfied" (or satisfied, by the interpreter's own packages) as if none had been built.
// The build is the app's user's when root runs the app as that user: its links are followed by
// lstat within bin/ only, as venv-look.ts does, and what one names outside it is looked at only
// when `outside` allows (not as root for another user: whether a file is in a directory that user
// may not search must not change what check says).
import { lstat, readlink, stat } from 'node:fs/promises';
import path from 'node:path';

/** Links within bin/ followed before giving up (python -> python3 -> python3.11 is two). */
const MAX_LINKS_IN_BIN = 8;

/** Why the venv at `venvPath` is broken, or null when it is not there or its python is (or cannot be told). */
export async function brokenVenvReason(venvPath: string, outside: boolean): Promise<string | null> {
  if ((await lstat(venvPath).catch(() => null)) === null) return null;
  if ((await stat(venvPath).catch(() => null)) === null) {
    const target = await readlink(venvPath).catch(() => null);
    return `it links to ${target ?? 'a build'}, which is gone`;
  }
  const bin = path.join(venvPath, 'bin');
  let at = path.join(bin, 'python');
  for (let links = 0; links <= MAX_LINKS_IN_BIN; links++) {
    const st = await lstat(at).catch(() => null);
    if (st === null) return at === path.join(bin, 'python') ? 'its bin/python is gone' : `its bin/python links to ${path.relative(bin, at)}, which is gone`;
    if (!st.isSymbolicLink()) return null;
    const written = await readlink(at);
    const target = path.resolve(bin, written);
    if (path.dirname(target) !== bin) {
      if (!outside || (await stat(target).catch(() => null)) !== null) return null;
      return `its bin/python links to ${target}, which is gone`;
    }
    at = target;
  }
  return null;
}
