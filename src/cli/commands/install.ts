import type { CommandSpec, ParsedCommand } from '../args.js';

export const spec: CommandSpec = {
  name: 'install',
  summary: 'Set up dependencies (virtualenv + pip, apt with --system), then commands.install.',
  usage: 'apppkg-gateway install [APP_DIR] [--system]',
  optionHelp: [],
  options: { to: { type: 'string' }, from: { type: 'string' }, system: { type: 'boolean' }, yes: { type: 'boolean' }, admin: { type: 'string' } },
  allowPositionals: 1,
};

export async function run(_args: ParsedCommand): Promise<number> {
  process.stderr.write('apppkg-gateway: install is not available in this version yet\n');
  return 1;
}
