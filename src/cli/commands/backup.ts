import type { CommandSpec, ParsedCommand } from '../args.js';

export const spec: CommandSpec = {
  name: 'backup',
  summary: 'Run commands.backup with APPPKG_BACKUP_DIR=DIR (default: copy the data directory).',
  usage: 'apppkg-gateway backup APP_DIR --to DIR',
  optionHelp: [],
  options: { to: { type: 'string' }, from: { type: 'string' }, system: { type: 'boolean' }, yes: { type: 'boolean' }, admin: { type: 'string' } },
  allowPositionals: 1,
};

export async function run(_args: ParsedCommand): Promise<number> {
  process.stderr.write('apppkg-gateway: backup is not available in this version yet\n');
  return 1;
}
