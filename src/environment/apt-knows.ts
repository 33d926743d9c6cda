// Whether this host's apt lists have a package: what a fix may tell a user to apt-get install.
import { programOutput } from '../program-output.js';

/**
 * True when apt has a version of `pkg`, false when it has none (a misspelt name, lists not
 * updated), null where there is no apt-cache. `--no-all-versions`: a purely virtual name fails.
 */
export async function aptKnows(pkg: string, timeoutMs = 15_000): Promise<boolean | null> {
  const answer = await programOutput('apt-cache', ['show', '--no-all-versions', pkg], { timeoutMs });
  if (answer.startError === 'ENOENT') return null;
  return answer.status === 0 && /^Package: /m.test(answer.stdout);
}
