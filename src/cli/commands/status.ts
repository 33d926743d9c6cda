import type { CommandSpec, ParsedCommand } from '../args.js';

export const spec: CommandSpec = {
  name: 'status',
  summary: 'Apps, versions, workers, restarts, requests, from a running gateway.',
  usage: 'apppkg-gateway status [--admin ADDR]',
  optionHelp: [],
  options: { to: { type: 'string' }, from: { type: 'string' }, system: { type: 'boolean' }, yes: { type: 'boolean' }, admin: { type: 'string' } },
  allowPositionals: 1,
};

export async function run(_args: ParsedCommand): Promise<number> {
  process.stderr.write('apppkg-gateway: status is not available in this version yet\n');
  return 1;
}
