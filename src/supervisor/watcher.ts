// Notices changes under --apps: a new package directory, a removed one, a symlink switched,
// an app.yaml edited. fs.watch answers fast but misses some changes (symlink swaps, network
// filesystems), so a cheap poll of the same signature backs it up.
import { readdirSync, realpathSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';

/** What must differ for the apps directory to count as changed. */
export function appsSignature(appsDir: string): string {
  const parts: string[] = [];
  let entries: string[];
  try {
    entries = readdirSync(appsDir).sort();
  } catch {
    return 'unreadable';
  }
  for (const entry of entries) {
    if (entry.startsWith('.')) continue;
    const dir = join(appsDir, entry);
    try {
      const target = realpathSync(dir);
      const st = statSync(join(target, 'app.yaml'));
      parts.push(`${entry}>${target}:${st.size}:${st.mtimeMs}`);
    } catch {
      parts.push(`${entry}:-`);
    }
  }
  return parts.join('\n');
}

export class AppsWatcher {
  private fsWatcher: FSWatcher | null = null;
  private poll: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private signature: string;

  constructor(
    private readonly appsDir: string,
    private readonly onChange: () => void,
    private readonly pollMs = 2000,
    private readonly debounceMs = 300,
  ) {
    this.signature = appsSignature(appsDir);
  }

  start(): void {
    try {
      this.fsWatcher = watch(this.appsDir, () => this.check());
      this.fsWatcher.on('error', () => {
        // The poll still runs; fs.watch is only the fast path.
      });
    } catch {
      this.fsWatcher = null;
    }
    this.poll = setInterval(() => this.check(), this.pollMs);
    this.poll.unref();
  }

  /** Debounced: a deploy writes many files; one reconcile after they settle. */
  private check(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = null;
      const now = appsSignature(this.appsDir);
      if (now === this.signature) return;
      this.signature = now;
      this.onChange();
    }, this.debounceMs);
  }

  stop(): void {
    this.fsWatcher?.close();
    if (this.poll) clearInterval(this.poll);
    if (this.debounce) clearTimeout(this.debounce);
  }
}
