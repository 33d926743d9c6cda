// What the registry does when the serving version's app.yaml is edited into one that no
// longer loads: that version runs on, and its app's history says so, once per breakage.
import type { GatewayError } from '../errors.js';
import { countOf } from '../count.js';
import type { AppRecord } from './app-record.js';
import { label } from './version-judge.js';

/**
 * The serving version's app.yaml no longer loads: it runs on as it was started, which the
 * gateway's log said once but the app's history did not, so its status looked fine. Recorded
 * before converge, which may yet switch to another version.
 */
export function noteBrokenDescription(record: AppRecord, brokenDirs: Map<string, GatewayError>): void {
  const error = record.serving ? brokenDirs.get(record.serving.desc.dir) : undefined;
  if (!record.serving || error === undefined) {
    record.brokenDescription = null;
    return;
  }
  const seen = error.format();
  const before = record.brokenDescription?.seen;
  record.brokenDescription = { seen, error };
  if (before === seen) return;
  const { first, at } = firstProblem(error);
  const more = error.problems.length > 1 ? ` (and ${countOf(error.problems.length - 1, 'more problem')})` : '';
  const desc = record.serving.desc;
  record.history.add('broken', `app.yaml of ${label(desc)} no longer loads: ${first.code}${at ? ` at ${at}` : ''}: ${first.message}${more}; ${label(desc)} runs on as it was started`, {
    version: desc.version,
    reason: brokenReason(error),
  });
}

/** The first problem, where it is: a description error lists each with its own code and line. */
function firstProblem(error: GatewayError): { first: GatewayError; at: string | null } {
  const first = error.problems[0] ?? error;
  return { first, at: first.file ? `${first.file}${first.line ? `:${first.line}:${first.column ?? 1}` : ''}` : null };
}

/** Why an app.yaml does not load, as its history event and its version in status say it: the first problem. */
export function brokenReason(error: GatewayError): { code: string; message: string; hint: string } {
  const { first, at } = firstProblem(error);
  return { code: first.code, message: at ? `${at}: ${first.message}` : first.message, hint: first.hint };
}
