// `apppkg-gateway mail retry ID...` and `mail retry --all [APP]`: asks the running gateway to put
// dead letters back into its mail queue, tried now with their delivery ids (docs/mail.md,
// "Retries and dead letters"), as Postfix's `postsuper -r` requeues a message. Like `restart`,
// through the admin listener, under its rules: it changes something.
import { ADMIN_OPTION_HELP, ADMIN_OPTIONS, AdminClient } from '../admin-client.js';
import type { CommandSpec, ParsedCommand } from '../args.js';
import type { MailRetryDone } from '../../admin/admin-server.js';
import { GatewayError } from '../../errors.js';
import { shellLine } from '../../shell-words.js';

export const spec: CommandSpec = {
  name: 'mail',
  summary:
    'Incoming mail of a running gateway. retry: put dead letters (listed by `status`) back into the queue,\n' +
    'tried now with the same delivery id, the retry schedule and give_up counted anew; --all retries\n' +
    'every one (of APP alone, given), leaving those that cannot be delivered, each said why.',
  usage:
    'apppkg-gateway mail retry ID... [--admin ADDR] [--admin-token FILE]\n' +
    '       apppkg-gateway mail retry --all [APP] [--admin ADDR] [--admin-token FILE]',
  optionHelp: [
    ['--all', 'every dead letter, or every one of APP'],
    ...ADMIN_OPTION_HELP,
  ],
  options: { ...ADMIN_OPTIONS, all: { type: 'boolean' } },
  allowPositionals: Infinity,
};

function usage(reason: string): GatewayError {
  return new GatewayError('APPPKG_USAGE', { reason, command: 'mail' });
}

export async function run(args: ParsedCommand): Promise<number> {
  const [verb, ...rest] = args.positionals;
  if (verb !== 'retry') throw usage(`expected retry after mail, found ${verb === undefined ? 'nothing' : JSON.stringify(verb)}`);
  const all = args.values.all === true;
  if (all && rest.length > 1) throw usage(`mail retry --all takes one APP at most, found ${rest.length} (${rest.join(' ')})`);
  if (!all && rest.length === 0) throw usage('expected the ids of the dead letters to retry (`apppkg-gateway status` lists them), or --all');
  const query = new URLSearchParams(all ? { all: '1', ...(rest[0] === undefined ? {} : { app: rest[0] }) } : rest.map((id) => ['id', id]));
  const client = AdminClient.fromOptions(args.values, shellLine(['mail', 'retry', ...(all ? ['--all'] : []), ...rest]));
  try {
    const done = await client.post<MailRetryDone>(`/mail/retry?${query}`);
    process.stdout.write(`${done.message}\n`);
    return 0;
  } finally {
    await client.close();
  }
}
