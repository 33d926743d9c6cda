// Which of a list of Debian packages dpkg has installed: the one question `check`, serve's
// refusal and `install` all ask of a `deb:` list, so they cannot disagree.
import { programOutput } from '../program-output.js';

const DPKG_QUERY_TIMEOUT_MS = 30_000;

/**
 * The listed packages dpkg has installed (each as "NAME VERSION") and those it has not;
 * null where dpkg-query does not exist (not a Debian host).
 */
export async function queryDeb(packages: string[]): Promise<{ found: string[]; missing: string[] } | null> {
  const answers = await Promise.all(
    packages.map((p) => programOutput('dpkg-query', ['-W', '-f=${Status} ${Version}\\n', p], { timeoutMs: DPKG_QUERY_TIMEOUT_MS })),
  );
  if (answers.some((a) => a.startError === 'ENOENT')) return null;
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
