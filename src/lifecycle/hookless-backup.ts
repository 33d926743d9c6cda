// What to do about a backup or restore asked of an app without its hook, said alike by the CLI's
// `run --command`, AppPackage.runCommand and Python's run_command: "add commands.backup to
// app.yaml" sent a user to write a hook where `apppkg-gateway backup --to DIR` needs none (it
// copies the data directory), and the CLI's "commands.backup needs its directory" spoke of a
// hook the app did not have. Neither library has a call that backs up without the hook.
import { shellWord } from '../shell-words.js';

/** The fix for `name` ('backup' or 'restore') of the app in `appDir`, which has no commands.NAME. */
export function hooklessBackupFix(name: 'backup' | 'restore', appDir: string): string {
  return name === 'backup'
    ? `run \`apppkg-gateway backup ${shellWord(appDir)} --to DIR\`, which needs no hook: it copies the app's data directory into DIR/data (with its database and Redis keys, if it has services:); or add commands.backup to app.yaml`
    : `run \`apppkg-gateway restore ${shellWord(appDir)} --from DIR\`, which needs no hook: it replaces the app's data directory with DIR/data (and loads its database and Redis keys, if it has services:); or add commands.restore to app.yaml`;
}
