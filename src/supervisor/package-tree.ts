// What a package directory holds, as a deploy sees it: a signature of every file (path, size,
// mtime) and when the newest change inside it happened. A version is judged only once its
// directory has settled (a `cp -r` writes app.yaml seconds before the code), and a refused
// version is retried when any file in it changes, not only app.yaml (issue 13).
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';

export interface PackageTree {
  /** Differs whenever a file is added, removed, resized or rewritten. */
  signature: string;
  /** The newest mtime or ctime of anything inside (ms since the epoch); 0 when empty. */
  newestChangeMs: number;
}

// Python writes these while importing the app (a refused import too): they are the app's
// output, not a deploy, and must not make a refused version look changed.
const SKIPPED = new Set(['__pycache__', '.git']);
const isSkipped = (name: string): boolean => SKIPPED.has(name) || name.endsWith('.pyc');

/**
 * Walks `dir` (its symlink resolved; symlinks inside are read, not followed). The directory's
 * own times are left out: renaming a finished copy into --apps changes them, and that rename
 * is the atomic way to deploy, which needs no waiting.
 */
export function readPackageTree(dir: string): PackageTree {
  const parts: string[] = [];
  let newest = 0;
  let root: string;
  try {
    root = realpathSync(dir);
  } catch {
    return { signature: 'gone', newestChangeMs: 0 };
  }
  const walk = (abs: string, rel: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(abs).sort();
    } catch {
      parts.push(`${rel}:unreadable`);
      return;
    }
    for (const name of entries) {
      if (isSkipped(name)) continue;
      const path = join(abs, name);
      const relPath = rel ? `${rel}/${name}` : name;
      try {
        const st = lstatSync(path);
        newest = Math.max(newest, st.mtimeMs, st.ctimeMs);
        if (st.isDirectory()) {
          // By name only: a directory's mtime moves when Python adds its __pycache__ (a module
          // first imported at a request, long after the deploy), which is no change of the
          // package; what its mtime would tell, an entry added or removed, its entries tell.
          parts.push(`${relPath}/`);
          walk(path, relPath);
        } else {
          parts.push(`${relPath}:${st.size}:${st.mtimeMs}`);
        }
      } catch {
        parts.push(`${relPath}:gone`); // removed while we looked: a change in progress
        newest = Date.now();
      }
    }
  };
  walk(root, '');
  return { signature: `${root}\n${parts.join('\n')}`, newestChangeMs: newest };
}

/**
 * How long until nothing in the tree has changed for `settleMs` (0: it has): by its files'
 * times, or by how long the gateway has itself seen it unchanged (`unchangedForMs`), whichever
 * comes first. The files' times alone made a version whose times lie ahead of this host's
 * clock (unpacked from a host whose clock was ahead, or this clock stepped back since) wait,
 * `settling`, until the clock reached them: an hour ahead, an hour.
 */
export function settleWaitMs(tree: PackageTree, settleMs: number, unchangedForMs: number, now = Date.now()): number {
  return Math.max(0, Math.min(tree.newestChangeMs + settleMs - now, settleMs - unchangedForMs));
}

/**
 * A tree's signature as a digest, what is kept of it between looks: a signature lists every
 * file, and is long for a package with many.
 */
export function signatureDigest(signature: string): string {
  return createHash('sha256').update(signature).digest('base64');
}

/**
 * A short digest of `dir`'s signature, kept in installed.json: a version moved out and back
 * (`mv`, `cp -a`) keeps it; one copied anew (`cp -r`) or edited does not.
 */
export function treeDigest(dir: string): string {
  return createHash('sha256').update(readPackageTree(dir).signature).digest('hex').slice(0, 32);
}
