import type { CommandSpec, ParsedCommand } from '../args.js';

export const spec: CommandSpec = {
  name: 'restore',
  summary: 'Run commands.restore from a backup (default: copy it back into the data directory).',
  usage: 'apppkg-gateway restore APP_DIR --from DIR',
  optionHelp: [],
  options: { to: { type: 'string' }, from: { type: 'string' }, system: { type: 'boolean' }, yes: { type: 'boolean' }, admin: { type: 'string' } },
  allowPositionals: 1,
};

export async function run(_args: ParsedCommand): Promise<number> {
  process.stderr.write('apppkg-gateway: restore is not available in this version yet\n');
  return 1;
}
