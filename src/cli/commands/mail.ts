// `apppkg-gateway mail retry ID...` / `mail retry --all [APP]`: asks the running gateway to put
// dead letters back into its mail queue, tried now with their delivery ids (docs/mail.md,
// "Retries and dead letters"), as Postfix's `postsuper -r` requeues a message. `mail delete
// ID...` / `mail delete --all [APP]`: removes them for good, as `postsuper -d`. Like `restart`,
// through the admin listener, under its rules: they change something.
import { createInterface } from 'node:readline/promises';
import { ADMIN_OPTION_HELP, ADMIN_OPTIONS, AdminClient } from '../admin-client.js';
import { commandLineAgain, type CommandSpec, type ParsedCommand } from '../args.js';
import { MAIL_RETRY_MAX_WAIT_S, type MailDeleteDone, type MailRetryDone, type MailRetryOutcome } from '../../admin/admin-server.js';
import { countOf } from '../../count.js';
import { GatewayError } from '../../errors.js';
import { shellLine } from '../../shell-words.js';

/**
 * How long `retry --wait` waits by default: an attempt may take the app's `timeout` (60 s by
 * default) and 10 s, and a failed one is tried again after `retry[0]` (60 s by default).
 */
const DEFAULT_WAIT_S = 300;
/** What the client adds to the wait for the gateway's answer to come. */
const ANSWER_SLACK_MS = 30_000;

export const spec: CommandSpec = {
  name: 'mail',
  summary:
    'Dead letters of a running gateway\'s incoming mail (listed by `status`). retry: put them back into the\n' +
    'queue, tried now with the same delivery id, the retry schedule and give_up counted anew; --all\n' +
    'retries every one (of APP alone, given: with the postmaster mail kept for no app when APP is the\n' +
    'app mail.postmaster names), leaving those that cannot be delivered, each said why;\n' +
    '--wait returns once each is delivered or a dead letter again (exit status 1 unless all were\n' +
    'delivered, naming each that was not), or at --timeout, naming those still waiting and why.\n' +
    'delete: remove them for good; --all (of APP alone, given: the postmaster mail kept for no app\n' +
    'with it when APP is the app mail.postmaster names, as for retry) asks first when stdin is a\n' +
    'terminal, saying how many of each it deletes (--yes does not ask); without one, as in a\n' +
    'script, it goes ahead.',
  usage:
    'apppkg-gateway mail retry ID... [--wait [--timeout SECONDS]] [--admin ADDR] [--admin-token FILE] [--state-dir DIR]\n' +
    '       apppkg-gateway mail retry --all [APP] [--wait [--timeout SECONDS]] [--admin ADDR] [--admin-token FILE] [--state-dir DIR]\n' +
    '       apppkg-gateway mail delete ID... [--admin ADDR] [--admin-token FILE] [--state-dir DIR]\n' +
    '       apppkg-gateway mail delete --all [APP] [--yes] [--admin ADDR] [--admin-token FILE] [--state-dir DIR]',
  optionHelp: [
    ['--all', 'every dead letter, or every one of APP (and the postmaster mail kept for no app, when APP is the app mail.postmaster names)'],
    ['--wait', 'retry: return once each is delivered or a dead letter again; exit status 1 unless every one was delivered'],
    ['--timeout SECONDS', `retry --wait: give up waiting after this long (default ${DEFAULT_WAIT_S}, at most ${MAIL_RETRY_MAX_WAIT_S}); those left stay in the queue`],
    ['-y, --yes', 'delete --all: do not ask on a terminal either'],
    ...ADMIN_OPTION_HELP,
  ],
  options: { ...ADMIN_OPTIONS, all: { type: 'boolean' }, yes: { type: 'boolean', short: 'y' }, wait: { type: 'boolean' }, timeout: { type: 'string' } },
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
  const waitS = waitSeconds(args.values, verb);
  const query = new URLSearchParams(all ? { all: '1', ...(rest[0] === undefined ? {} : { app: rest[0] }) } : rest.map((id) => ['id', id]));
  if (waitS !== null) query.set('wait', String(waitS));
  const client = AdminClient.fromOptions(args.values, shellLine(['mail', verb, ...(all ? ['--all'] : []), ...rest]), commandLineAgain(spec.name, args, ['admin-token']));
  try {
    if (verb === 'delete' && all && args.values.yes !== true) await confirmDeleteAll(client, rest[0] ?? null);
    const done = await client.post<MailRetryDone | MailDeleteDone>(`/mail/${verb}?${query}`, waitS === null ? {} : { timeoutMs: waitS * 1000 + ANSWER_SLACK_MS });
    process.stdout.write(`${done.message}\n`);
    if ('waited' in done && done.waited !== undefined) sayOutcomes(done.waited);
    return 0;
  } finally {
    await client.close();
  }
}

/** `--wait` and `--timeout SECONDS` as seconds to wait, or null without --wait. */
function waitSeconds(values: Record<string, unknown>, verb: string): number | null {
  const timeout = values.timeout as string | undefined;
  if (values.wait !== true) {
    if (timeout !== undefined) throw usage('--timeout is how long --wait waits: give --wait with it');
    return null;
  }
  if (verb !== 'retry') throw usage(`--wait is for mail retry; mail ${verb} is done when it answers`);
  if (timeout === undefined) return DEFAULT_WAIT_S;
  const seconds = Number(timeout);
  if (!/^\d+(\.\d+)?$/.test(timeout.trim()) || !(seconds > 0) || seconds > MAIL_RETRY_MAX_WAIT_S) {
    throw usage(`--timeout expects seconds, above 0 and at most ${MAIL_RETRY_MAX_WAIT_S}, found ${JSON.stringify(timeout)}`);
  }
  return seconds;
}

/**
 * One line each on stdout, as it ended; then, unless every one was delivered, the error that
 * names those that were not (exit status 1): a script's `mail retry --wait && ...` goes on only
 * once the mail is in.
 */
function sayOutcomes(waited: NonNullable<MailRetryDone['waited']>): void {
  const lineOf = (o: MailRetryOutcome): string => {
    if (o.outcome === 'delivered') return `delivered: ${o.id} to ${o.app}`;
    if (o.outcome === 'dead') return `a dead letter again: ${o.id} to ${o.app}: ${o.reason ?? 'no reason recorded'}`;
    const next = o.nextAttemptAt === null ? 'an attempt under way' : `the next attempt at ${o.nextAttemptAt}`;
    return `still waiting after ${waited.seconds} s: ${o.id} to ${o.app}: ${o.reason ?? 'not attempted yet'}; ${next}`;
  };
  for (const o of waited.outcomes) process.stdout.write(`${lineOf(o)}\n`);
  const failed = waited.outcomes.filter((o) => o.outcome !== 'delivered');
  if (failed.length === 0) return;
  throw new GatewayError('APPPKG_MAIL_NOT_DELIVERED', {
    reason: `${failed.length} of ${countOf(waited.outcomes.length, 'dead letter')} put back not delivered: ${failed.map((o) => (o.outcome === 'dead' ? `${o.id} to ${o.app} is a dead letter again` : `${o.id} to ${o.app} still waits (in the queue, tried on the schedule)`)).join('; ')}`,
  });
}

/**
 * As `uninstall` asks: a person at a terminal may have meant one id, or another gateway; a script
 * has no one to ask, and goes ahead. Ids named one by one are not asked about: naming them is the
 * choice (`postsuper -d ID` asks nothing either).
 */
async function confirmDeleteAll(client: AdminClient, app: string | null): Promise<void> {
  if (!process.stdin.isTTY) return;
  const whose = await deletedByAll(client, app);
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await rl.question(`delete ${whose} of the gateway at ${client.address} for good, their messages too? [y/N] `);
    if (/^\s*y(es)?\s*$/i.test(answer)) return;
  } finally {
    rl.close();
  }
  throw new GatewayError('APPPKG_NOT_CONFIRMED', { action: `mail delete --all${app === null ? '' : ` ${app}`}`, reason: 'the answer was not "y"' });
}

/**
 * What `delete --all [APP]` takes, in the question's words, counted from the gateway's status:
 * the postmaster mail kept for no app goes with the app mail.postmaster names (lettersOfApp),
 * which only the gateway knows (the environment file it read at its start). A gateway whose
 * status lacks the counts (an older one) is asked in words that name the postmaster mail anyway.
 */
async function deletedByAll(client: AdminClient, app: string | null): Promise<string> {
  const mail = (await client.status()).mail;
  const byApp = mail?.deadLettersByApp;
  if (mail !== undefined && (byApp === undefined || mail.postmaster === undefined)) {
    return app === null ? 'every dead letter' : `every dead letter of ${app} (and the postmaster mail kept for no app, if ${app} is the app mail.postmaster names)`;
  }
  const kept = byApp?.[''] ?? 0;
  const postmasterMail = (n: number) => `${n} of the postmaster mail kept for no app`;
  if (app === null) return `every dead letter (${mail?.deadLetters ?? 0}${kept > 0 ? `, ${postmasterMail(kept)} among them` : ''})`;
  const own = countOf(byApp?.[app] ?? 0, 'dead letter');
  return kept > 0 && mail?.postmaster === app ? `${own} of ${app} and ${postmasterMail(kept)} (${app} is the app mail.postmaster names)` : `${own} of ${app}`;
}
