// Why the app's virtualenv, there on disk, cannot run: its bin/python deleted, or linking to an
// interpreter that was removed (a pyenv version uninstalled), or the venv link's build gone.
// check had passed over such a venv for the interpreter itself and said "requirements not
// satisfied" (or satisfied, by the interpreter's own packages) as if none had been built.
import { lstat, readlink, stat } from 'node:fs/promises';
import path from 'node:path';

/** Why the venv at `venvPath` is broken, or null when it is not there or its python is. */
export async function brokenVenvReason(venvPath: string): Promise<string | null> {
  if ((await lstat(venvPath).catch(() => null)) === null) return null;
  if ((await stat(venvPath).catch(() => null)) === null) {
    const target = await readlink(venvPath).catch(() => null);
    return `it links to ${target ?? 'a build'}, which is gone`;
  }
  const python = path.join(venvPath, 'bin', 'python');
  if ((await stat(python).catch(() => null)) !== null) return null;
  const link = await lstat(python).then((st) => (st.isSymbolicLink() ? readlink(python) : null), () => null);
  return link === null ? 'its bin/python is gone' : `its bin/python links to ${link}, which is gone`;
}
