// `apppkg-gateway rollback NAME`: asks the running gateway to serve the version below the
// serving one, and to keep the one rolled back from out of rotation until it changes or a
// newer version appears (docs/admin.md); prints what it did (issue 14).
import { ACTION_OPTION_HELP, ACTION_OPTIONS, runAppAction } from '../admin-client.js';
import type { CommandSpec, ParsedCommand } from '../args.js';

export const spec: CommandSpec = {
  name: 'rollback',
  summary: 'Serve the previous version of an app (NAME.VERSION directories) instead of the current one.',
  usage: 'apppkg-gateway rollback NAME [--room-wait S] [--admin ADDR] [--admin-token FILE] [--state-dir DIR]',
  optionHelp: ACTION_OPTION_HELP,
  options: ACTION_OPTIONS,
  allowPositionals: 1,
};

export function run(args: ParsedCommand): Promise<number> {
  return runAppAction(args, 'rollback');
}
