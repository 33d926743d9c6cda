// `apppkg-gateway mail delete` (docs/mail.md, "Retries and dead letters"): dead letters removed
// for good, as Postfix's `postsuper -d` removes a message. Before it, a dead letter the
// administrator had read, or that was spam, stayed listed in status and counted in /metrics
// until two files were removed by hand and the gateway restarted. Named ids are all checked
// before any is removed: a typo in one of three deletes none.
import type { MailDeleteAsk, MailDeleteDone } from '../admin/admin-server.js';
import { countOf } from '../count.js';
import { GatewayError } from '../errors.js';
import { chosenByIds, deadLetterLine, lettersOfApp } from './mail-retry.js';
import type { MailSpool } from './mail-spool.js';
import type { MailWords } from './mail-words.js';

/**
 * `postmaster`: the app mail.postmaster names (null: none), whose `--all` takes the postmaster
 * mail kept for no app too. `words`: what a refusal names, the asker's.
 */
export async function deleteDeadLetters(spool: MailSpool, ask: MailDeleteAsk, postmaster: string | null, say: (line: string) => void, words: MailWords): Promise<MailDeleteDone> {
  const letters = spool.deadLetters();
  // Any name, an app removed from --apps included: its dead letters are what is left of it.
  const wanted = 'ids' in ask ? chosenByIds(letters, [...new Set(ask.ids)], 'deleted', words) : ask.app === null ? letters : lettersOfApp(letters, ask.app, postmaster);
  const deleted: MailDeleteDone['deleted'] = [];
  const skipped: MailDeleteDone['skipped'] = [];
  for (const letter of wanted) {
    try {
      await spool.deleteDead(letter);
      deleted.push({ id: letter.id, app: letter.app });
      // As Postfix logs each `postsuper -d`: the log says what went, and whose it was.
      say(deadLetterLine(letter, letter.app, `deleted (${words.deleteAsked})`));
    } catch (err) {
      skipped.push({ id: letter.id, app: letter.app, why: `it could not be deleted: ${(err as Error).message}` });
    }
  }
  const message = doneMessage(deleted, skipped, 'ids' in ask ? null : ask.app);
  if (skipped.length > 0) {
    throw new GatewayError('APPPKG_MAIL_CANNOT_DELETE', { reason: message, hint: `mend what the error names (ls -l STATE/mail/dead/) and ${words.deleteAgain} for those left` });
  }
  return { deleted, skipped, message };
}

function doneMessage(deleted: MailDeleteDone['deleted'], skipped: MailDeleteDone['skipped'], app: string | null): string {
  if (deleted.length === 0 && skipped.length === 0) return `mail: no dead letter${app === null ? '' : ` of ${app}`} to delete`;
  const parts = [deleted.length > 0
    ? `mail: ${countOf(deleted.length, 'dead letter')} deleted: ${deleted.map((d) => `${d.id} (${d.app || 'no app'})`).join(', ')}`
    : 'mail: no dead letter deleted'];
  for (const s of skipped) parts.push(`left as a dead letter: ${s.id}: ${s.why}`);
  return parts.join('\n');
}
