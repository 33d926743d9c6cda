// Which of a list of Debian packages dpkg has installed: the one question `check`, serve's
// refusal and `install` all ask of a `deb:` list, so they cannot disagree.
import { programOutput, type ProgramOutput } from '../program-output.js';

const DPKG_QUERY_TIMEOUT_MS = 30_000;

/** What dpkg said of a list of packages, or why it could not say. */
export type DebAnswer = { found: string[]; missing: string[] } | { unanswered: string };

/**
 * The listed packages dpkg has installed (each as "NAME VERSION") and those it has not; null
 * where dpkg-query does not exist (not a Debian host); `unanswered` where it exists but gave no
 * answer: not started (the gateway out of open files), killed, timed out, or a fatal error. Such
 * a package is not known to be missing: told it is, a gateway near its open-files limit warned
 * to `apt-get install` a package that was installed.
 */
export async function queryDeb(packages: string[]): Promise<DebAnswer | null> {
  const answers = await Promise.all(
    packages.map((p) => programOutput('dpkg-query', ['-W', '-f=${Status} ${Version}\\n', p], { timeoutMs: DPKG_QUERY_TIMEOUT_MS })),
  );
  if (answers.some((a) => a.startError === 'ENOENT')) return null;
  const failed = answers.find((a) => !answered(a));
  if (failed !== undefined) return { unanswered: whyUnanswered(failed) };
  const found: string[] = [];
  const missing: string[] = [];
  answers.forEach((a, i) => {
    // One line per architecture; any installed one counts.
    const line = a.stdout.split('\n').find((l) => l.startsWith('install ok installed'));
    if (line) found.push(`${packages[i]} ${line.slice('install ok installed'.length).trim()}`.trim());
    else missing.push(packages[i]);
  });
  return { found, missing };
}

/** dpkg-query ran and answered: 0 with its status line, or 1 for a package it has never heard of. */
function answered(a: ProgramOutput): boolean {
  return a.startError === null && !a.timedOut && (a.status === 0 || a.status === 1);
}

function whyUnanswered(a: ProgramOutput): string {
  if (a.startError === 'EMFILE' || a.startError === 'ENFILE') return `dpkg-query could not be started (${a.startError}): the open-files limit is reached`;
  if (a.startError !== null) return `dpkg-query could not be started (${a.startError})`;
  if (a.timedOut) return `dpkg-query gave no answer in ${DPKG_QUERY_TIMEOUT_MS / 1000} s`;
  const said = a.stderr.trim().split('\n')[0];
  return a.status === null ? 'dpkg-query was killed before it answered' : `dpkg-query failed (status ${a.status})${said ? `: ${said}` : ''}`;
}
