// `apppkg-gateway mail retry` (docs/mail.md, "Retries and dead letters"): which dead letters go
// back into the queue, and the refusals. Delivering one again took swaks and two files removed
// by hand, where a user of Postfix types `postsuper -r`. Named ids are all checked before any is
// put back: a typo in one of three retries none, and says which ids there are.
import { access } from 'node:fs/promises';
import type { MailRetryAsk, MailRetryDone } from '../admin/admin-server.js';
import { countOf, listOf } from '../count.js';
import { GatewayError } from '../errors.js';
import type { DeadLetter, MailSpool, SpooledDelivery } from './mail-spool.js';
import type { MailWords } from './mail-words.js';

/** The dead letters a refusal of an unknown id names, the newest: status lists ten. */
const IDS_NAMED = 10;

export interface MailRetryContext {
  spool: MailSpool;
  /** Whether the name is an app under --apps now (a package that does not load included). */
  isApp: (app: string) => boolean;
  /** The apps under --apps now, for a refusal naming one that is not. */
  appNames: () => string[];
  /**
   * The app `mail.postmaster` names (null: none), which postmaster mail kept as a dead letter
   * (no app took it when it came) is delivered to.
   */
  postmaster: string | null;
  /** Hands the deliveries put back to the deliverer: tried now. */
  deliver: (deliveries: SpooledDelivery[]) => void;
  /** The gateway's log: a line for each letter put back or left. */
  say: (line: string) => void;
  /** What the refusals and the answer name: the asker's (the CLI's, a program's). */
  words: MailWords;
}

type Problem = 'no-postmaster' | 'postmaster-gone' | 'app-gone' | 'file-missing';

export async function retryDeadLetters(ctx: MailRetryContext, ask: MailRetryAsk): Promise<MailRetryDone> {
  const letters = ctx.spool.deadLetters();
  const wanted = 'ids' in ask ? chosenByIds(letters, [...new Set(ask.ids)], 'retried', ctx.words) : chosenByApp(ctx, letters, ask.app);
  const checked = await Promise.all(wanted.map(async (letter) => ({ letter, problem: await problemOf(ctx, letter) })));
  const refused = checked.filter((c) => c.problem !== null) as Array<{ letter: DeadLetter; problem: Problem }>;
  if ('ids' in ask && refused.length > 0) {
    throw new GatewayError('APPPKG_MAIL_CANNOT_RETRY', {
      reason: `${refused.map(({ letter, problem }) => `cannot retry ${letter.id}: ${whyNot(ctx, letter, problem)}`).join('; ')}; nothing was retried`,
      hint: fixFor(refused.map((r) => r.problem), ctx.words),
    });
  }
  const retried: MailRetryDone['retried'] = [];
  const skipped: MailRetryDone['skipped'] = [];
  // As `mail delete` logs each: the log says what went back (or was left, and why), and whose.
  const leave = (letter: DeadLetter, why: string) => {
    skipped.push({ id: letter.id, app: letter.app, why });
    ctx.say(deadLetterLine(letter, letter.app, `left as a dead letter (${ctx.words.retryAsked}): ${why}`));
  };
  for (const { letter, problem } of refused) leave(letter, whyNot(ctx, letter, problem));
  const back: SpooledDelivery[] = [];
  for (const { letter } of checked.filter((c) => c.problem === null)) {
    try {
      const delivery = await ctx.spool.requeue(letter, appFor(ctx, letter));
      back.push(delivery);
      retried.push({ id: letter.id, app: delivery.app });
      ctx.say(deadLetterLine(letter, delivery.app, `put back in the queue, tried now (${ctx.words.retryAsked})`));
    } catch (err) {
      leave(letter, `it could not be put back: ${(err as Error).message}`);
    }
  }
  ctx.deliver(back);
  const done = { retried, skipped, message: doneMessage(retried, skipped, 'ids' in ask ? null : ask.app, ctx.words) };
  if ('ids' in ask && skipped.length > 0) {
    throw new GatewayError('APPPKG_MAIL_CANNOT_RETRY', { reason: done.message, hint: `free what the error names (df -h STATE/mail for a full disk) and ${ctx.words.again} for those left` });
  }
  return done;
}

/** A dead letter's line in the gateway's log: `done` to it, on its way to `app` ('' for none). */
export function deadLetterLine(letter: DeadLetter, app: string, done: string): string {
  return `mail: dead letter ${letter.id} (queued as ${letter.messageId}) to ${app || 'no app'} from ${letter.from || '<>'} ${done}`;
}

/**
 * The dead letters `ids` name, in their order; one that is none refuses them all, naming the
 * newest there are, with `words`' fix. `done`: what would have been done to them (`retried`, `deleted`).
 */
export function chosenByIds(letters: DeadLetter[], ids: string[], done: string, words: MailWords): DeadLetter[] {
  const byId = new Map(letters.map((l) => [l.id, l]));
  const unknown = ids.filter((id) => !byId.has(id));
  if (unknown.length > 0) {
    const newest = letters.slice(-IDS_NAMED).reverse().map((l) => `${l.id} (${l.app || 'no app'})`);
    const there = letters.length === 0 ? 'it keeps none' : `it keeps ${letters.length}${letters.length > IDS_NAMED ? `, the newest ${IDS_NAMED}` : ''}: ${newest.join(', ')}`;
    throw new GatewayError('APPPKG_MAIL_NO_DEAD_LETTER', {
      reason: `no dead letter ${listOf(unknown)} in this gateway (${there}); nothing was ${done}`,
      ...words.fixDetails,
    });
  }
  return ids.map((id) => byId.get(id)!);
}

/**
 * `--all APP`: APP's dead letters, and the postmaster mail kept for no app when APP is the app
 * mail.postmaster names, since a retry delivers it there: left out, `--all` of the postmaster
 * app put back every letter but the postmaster mail that app was chosen to read.
 */
function chosenByApp(ctx: MailRetryContext, letters: DeadLetter[], app: string | null): DeadLetter[] {
  if (app === null) return letters;
  const mine = lettersOfApp(letters, app, ctx.postmaster);
  if (!ctx.isApp(app)) {
    const apps = ctx.appNames();
    const held = mine.length;
    throw new GatewayError('APPPKG_MAIL_CANNOT_RETRY', {
      reason: `${app} is no app of this gateway now${held > 0 ? `: its ${countOf(held, 'dead letter')} cannot be delivered` : ''}; nothing was retried`,
      hint: `its apps: ${apps.length > 0 ? apps.join(', ') : '(none)'}; put ${app} back under ${ctx.words.apps} (the gateway picks it up by itself) and ${ctx.words.again}`,
    });
  }
  return mine;
}

/**
 * `--all APP` of `mail retry` and `mail delete` alike: APP's dead letters, and the postmaster
 * mail kept for no app when APP is the app `postmaster` (mail.postmaster) names, the letters a
 * retry delivers to APP. Taken by retry alone, `delete --all` of the postmaster app left the
 * postmaster mail that `retry --all` of it puts back.
 */
export function lettersOfApp(letters: DeadLetter[], app: string, postmaster: string | null): DeadLetter[] {
  return letters.filter((l) => (l.app === '' ? postmaster ?? '' : l.app) === app);
}

/** The app a dead letter goes to: its own, or for postmaster mail (app ''), the one mail.postmaster names. */
function appFor(ctx: MailRetryContext, letter: DeadLetter): string {
  return letter.app === '' ? ctx.postmaster ?? '' : letter.app;
}

async function problemOf(ctx: MailRetryContext, letter: DeadLetter): Promise<Problem | null> {
  if (letter.app === '' && ctx.postmaster === null) return 'no-postmaster';
  if (letter.app === '' && !ctx.isApp(ctx.postmaster!)) return 'postmaster-gone';
  if (!ctx.isApp(appFor(ctx, letter))) return 'app-gone';
  if (letter.file === null) return 'file-missing';
  // Removed by hand since: its record alone would be put back, and tried for nothing until give_up.
  return access(ctx.spool.deadMessageFile(letter)).then(() => null, () => 'file-missing' as const);
}

function whyNot(ctx: MailRetryContext, letter: DeadLetter, problem: Problem): string {
  switch (problem) {
    case 'no-postmaster':
      return `it is postmaster mail, and mail.postmaster names no app to deliver it to (kept: ${letter.reason}); the message is in ${ctx.spool.deadMessageFile(letter)}`;
    case 'postmaster-gone':
      return `it is postmaster mail, and mail.postmaster names ${ctx.postmaster}, which is no app of this gateway now (removed from ${ctx.words.apps}?)`;
    case 'app-gone':
      return `its app ${letter.app} is no app of this gateway now (removed from ${ctx.words.apps}?)`;
    case 'file-missing':
      return `its message file is missing (${ctx.spool.deadMessageFile(letter)}): only its record is kept, ${ctx.spool.deadRecord(letter)}`;
  }
}

function fixFor(problems: Problem[], words: MailWords): string {
  const fixes: string[] = [];
  if (problems.includes('app-gone')) fixes.push(`put the app back under ${words.apps} (the gateway picks it up by itself) and ${words.again}`);
  if (problems.includes('file-missing')) fixes.push('a dead letter without its message cannot be delivered: its record names the sender (from, to), who can send it again');
  if (problems.includes('no-postmaster')) fixes.push(`set mail.postmaster: APP in the environment file (${words.environment}) to the app that reads the host's postmaster mail, restart the gateway (the mail: block is read at its start) and ${words.again}; or read the message where it is kept`);
  if (problems.includes('postmaster-gone')) fixes.push(`put the app mail.postmaster names back under ${words.apps} (the gateway picks it up by itself), or name another in the environment file and restart the gateway, and ${words.again}`);
  return `leave ${problems.length === 1 ? 'it' : 'those'} out, or: ${fixes.join('; ')}`;
}

function doneMessage(retried: MailRetryDone['retried'], skipped: MailRetryDone['skipped'], app: string | null, words: MailWords): string {
  if (retried.length === 0 && skipped.length === 0) return `mail: no dead letter${app === null ? '' : ` of ${app}`} to retry`;
  const parts: string[] = [];
  if (retried.length > 0) {
    parts.push(`mail: ${countOf(retried.length, 'dead letter')} put back in the queue and tried now, with ${retried.length === 1 ? 'its delivery id' : 'their delivery ids'}: ${retried.map((r) => `${r.id} to ${r.app}`).join(', ')}; ${words.status} shows what is not delivered, waiting with its reason`);
  } else {
    parts.push(`mail: no dead letter${app === null ? '' : ` of ${app}`} put back`);
  }
  for (const s of skipped) parts.push(`left as a dead letter: ${s.id}: ${s.why}`);
  return parts.join('\n');
}
