// Whether this host is a Debian one, as /etc/os-release says (ID, ID_LIKE): SPEC 1.1 gives
// `rpm:` to rpm hosts and `deb:` to Debian hosts. Debian packages rpm itself (for alien and
// package builders), with an empty database of its own in the user's home: where it is installed,
// asking it about `rpm:` would fail every package the host was never meant to have, and make
// that database (~/.rpmdb) as it asks.
import { readFile } from 'node:fs/promises';

export const OS_RELEASE = '/etc/os-release';

const DEBIAN_FAMILY = new Set(['debian', 'ubuntu']);

/**
 * The os-release word (`debian`, `ubuntu`, or the ID_LIKE of a derivative: Mint, Raspbian) that
 * makes this a Debian host; null for another family, or where the file is absent or unreadable.
 */
export async function debianFamily(file = OS_RELEASE): Promise<string | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    return null;
  }
  const words: string[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*(ID|ID_LIKE)\s*=\s*(.*?)\s*$/.exec(line);
    if (!m) continue;
    const value = m[2].replace(/^(["'])(.*)\1$/, '$2');
    words.push(...value.toLowerCase().split(/\s+/).filter(Boolean));
  }
  return words.find((w) => DEBIAN_FAMILY.has(w)) ?? null;
}
