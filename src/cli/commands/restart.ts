// `apppkg-gateway restart NAME`: asks the running gateway to replace the app's serving version
// with a fresh instance of itself, as a deploy does (new workers start and pass their probe,
// then the old ones drain: no failed request), and prints what it did (issue 14).
import { ACTION_OPTION_HELP, ACTION_OPTIONS, runAppAction } from '../admin-client.js';
import type { CommandSpec, ParsedCommand } from '../args.js';

export const spec: CommandSpec = {
  name: 'restart',
  summary: "Replace an app's workers and processes with fresh ones, as a deploy does: no request fails.",
  usage: 'apppkg-gateway restart NAME [--room-wait S] [--admin ADDR] [--admin-token FILE] [--state-dir DIR]',
  optionHelp: ACTION_OPTION_HELP,
  options: ACTION_OPTIONS,
  allowPositionals: 1,
};

export function run(args: ParsedCommand): Promise<number> {
  return runAppAction(args, 'restart');
}
