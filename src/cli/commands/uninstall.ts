import type { CommandSpec, ParsedCommand } from '../args.js';

export const spec: CommandSpec = {
  name: 'uninstall',
  summary: "Run commands.uninstall, then remove the app's data, tmp and logs.",
  usage: 'apppkg-gateway uninstall APP_DIR [--yes]',
  optionHelp: [],
  options: { to: { type: 'string' }, from: { type: 'string' }, system: { type: 'boolean' }, yes: { type: 'boolean' }, admin: { type: 'string' } },
  allowPositionals: 1,
};

export async function run(_args: ParsedCommand): Promise<number> {
  process.stderr.write('apppkg-gateway: uninstall is not available in this version yet\n');
  return 1;
}
