// `apppkg-gateway mail retry ID...` / `mail retry --all [APP]`: asks the running gateway to put
// dead letters back into its mail queue, tried now with their delivery ids (docs/mail.md,
// "Retries and dead letters"), as Postfix's `postsuper -r` requeues a message. `mail delete
// ID...` / `mail delete --all [APP]`: removes them for good, as `postsuper -d`. Like `restart`,
// through the admin listener, under its rules: they change something.
import { createInterface } from 'node:readline/promises';
import { ADMIN_OPTION_HELP, ADMIN_OPTIONS, AdminClient } from '../admin-client.js';
import type { CommandSpec, ParsedCommand } from '../args.js';
import type { MailDeleteDone, MailRetryDone } from '../../admin/admin-server.js';
import { GatewayError } from '../../errors.js';
import { shellLine } from '../../shell-words.js';

export const spec: CommandSpec = {
  name: 'mail',
  summary:
    'Dead letters of a running gateway\'s incoming mail (listed by `status`). retry: put them back into the\n' +
    'queue, tried now with the same delivery id, the retry schedule and give_up counted anew; --all\n' +
    'retries every one (of APP alone, given), leaving those that cannot be delivered, each said why.\n' +
    'delete: remove them for good; --all (of APP alone, given) asks first when stdin is a terminal\n' +
    '(--yes does not ask); without one, as in a script, it goes ahead.',
  usage:
    'apppkg-gateway mail retry ID... [--admin ADDR] [--admin-token FILE]\n' +
    '       apppkg-gateway mail retry --all [APP] [--admin ADDR] [--admin-token FILE]\n' +
    '       apppkg-gateway mail delete ID... [--admin ADDR] [--admin-token FILE]\n' +
    '       apppkg-gateway mail delete --all [APP] [--yes] [--admin ADDR] [--admin-token FILE]',
  optionHelp: [
    ['--all', 'every dead letter, or every one of APP'],
    ['-y, --yes', 'delete --all: do not ask on a terminal either'],
    ...ADMIN_OPTION_HELP,
  ],
  options: { ...ADMIN_OPTIONS, all: { type: 'boolean' }, yes: { type: 'boolean', short: 'y' } },
  allowPositionals: Infinity,
};

const VERBS = ['retry', 'delete'] as const;
type Verb = (typeof VERBS)[number];

function usage(reason: string): GatewayError {
  return new GatewayError('APPPKG_USAGE', { reason, command: 'mail' });
}

export async function run(args: ParsedCommand): Promise<number> {
  const [verb, ...rest] = args.positionals;
  if (!VERBS.includes(verb as Verb)) throw usage(`expected retry or delete after mail, found ${verb === undefined ? 'nothing' : JSON.stringify(verb)}`);
  const all = args.values.all === true;
  if (all && rest.length > 1) throw usage(`mail ${verb} --all takes one APP at most, found ${rest.length} (${rest.join(' ')})`);
  if (!all && rest.length === 0) throw usage(`expected the ids of the dead letters to ${verb} (\`apppkg-gateway status\` lists them), or --all`);
  if (args.values.yes === true && verb !== 'delete') throw usage(`--yes is for mail delete; mail ${verb} asks nothing`);
  const query = new URLSearchParams(all ? { all: '1', ...(rest[0] === undefined ? {} : { app: rest[0] }) } : rest.map((id) => ['id', id]));
  const client = AdminClient.fromOptions(args.values, shellLine(['mail', verb, ...(all ? ['--all'] : []), ...rest]));
  try {
    if (verb === 'delete' && all && args.values.yes !== true) await confirmDeleteAll(client.address, rest[0] ?? null);
    const done = await client.post<MailRetryDone | MailDeleteDone>(`/mail/${verb}?${query}`);
    process.stdout.write(`${done.message}\n`);
    return 0;
  } finally {
    await client.close();
  }
}

/**
 * As `uninstall` asks: a person at a terminal may have meant one id, or another gateway; a script
 * has no one to ask, and goes ahead. Ids named one by one are not asked about: naming them is the
 * choice (`postsuper -d ID` asks nothing either).
 */
async function confirmDeleteAll(address: string, app: string | null): Promise<void> {
  if (!process.stdin.isTTY) return;
  const whose = app === null ? 'every dead letter' : `every dead letter of ${app}`;
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`delete ${whose} of the gateway at ${address} for good, their messages too? [y/N] `);
    if (/^\s*y(es)?\s*$/i.test(answer)) return;
  } finally {
    rl.close();
  }
  throw new GatewayError('APPPKG_NOT_CONFIRMED', { action: `mail delete --all${app === null ? '' : ` ${app}`}`, reason: 'the answer was not "y"' });
}
