// Notices changes under --apps: a new package directory, a removed one, a symlink switched,
// an app.yaml edited, and any file of a version that was refused, is still being copied (issue
// 13: touching the module retries it) or was rolled back from (a fix to it redeploys it).
// fs.watch answers fast but misses some changes (symlink swaps, network filesystems, files
// deeper than DIR), so a poll of the same signature backs it up.
import { readdirSync, realpathSync, statSync, watch, type Dirent, type FSWatcher } from 'node:fs';
import { basename, join } from 'node:path';
import { readPackageTree, signatureDigest } from './package-tree.js';

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

/** `dev:ino` of the directory at `path`, or null when there is none. */
function dirIdentity(path: string): string | null {
  try {
    const st = statSync(path);
    return st.isDirectory() ? `${st.dev}:${st.ino}` : null;
  } catch {
    return null;
  }
}

export class AppsWatcher {
  private fsWatcher: FSWatcher | null = null;
  private poll: NodeJS.Timeout | null = null;
  private debounce: NodeJS.Timeout | null = null;
  /** appsSignature at the last check. */
  private signature: string;
  /** Each watched directory's tree (signatureDigest) at the last check. */
  private trees = new Map<string, string>();
  /** The watched directory's device and inode (dirIdentity); null while there is none. */
  private watchedDir: string | null = null;
  /** The directory itself was removed, moved or changed: watched again at the next poll. */
  private selfChanged = false;
  /** fs.watch refused the directory for a reason other than its absence (said in the log). */
  private refused = false;

  constructor(
    private readonly appsDir: string,
    private readonly onChange: () => void,
    private readonly pollMs = 2000,
    private readonly debounceMs = 300,
    /**
     * Package directories whose every file counts (the registry's refused, settling and
     * rolled-back-from versions), each with the digest of its tree as the registry judged it
     * (signatureDigest; null: none kept).
     */
    private readonly watchedDirs: () => ReadonlyMap<string, string | null> = () => new Map(),
    /** The gateway's log: a watch refused is said there, with what is seen without it. */
    private readonly say: (line: string) => void = () => {},
    /** What the caller calls the scan's interval (the CLI's --watch-interval, the library's watchIntervalMs). */
    private readonly pollKey = '--watch-interval',
  ) {
    this.signature = appsSignature(this.appsDir);
    this.changedSinceLastCheck();
  }

  /**
   * Whether appsSignature, or the whole tree of a watched directory (only these are walked),
   * differs from the last check. A directory walked for the first time (a version just refused,
   * found settling or rolled back from) is compared with its tree as the registry judged it, not
   * taken as new: the scan that judged it saw it so, and one more scan found nothing changed.
   * Nor is a tree that differs from the last check but is as the registry judged it since (a
   * SIGHUP's scan retried it first) a change. A directory no longer watched is none either.
   */
  private changedSinceLastCheck(): boolean {
    const apps = appsSignature(this.appsDir);
    let changed = apps !== this.signature;
    this.signature = apps;
    const trees = new Map<string, string>();
    for (const [dir, judged] of this.watchedDirs()) {
      const now = signatureDigest(readPackageTree(dir).signature);
      trees.set(dir, now);
      const before = this.trees.get(dir) ?? judged ?? now;
      if (now !== before && now !== judged) changed = true;
    }
    this.trees = trees;
    return changed;
  }

  start(): void {
    this.watchAppsDir();
    // A poll never postpones a pending check: polling more often than the debounce would
    // otherwise put the check off for ever (--watch-interval 0.2).
    this.poll = setInterval(() => {
      this.watchAgainIfReplaced();
      this.check(false);
    }, this.pollMs);
    this.poll.unref();
  }

  private watchAppsDir(): void {
    this.watchedDir = dirIdentity(this.appsDir);
    try {
      this.fsWatcher = watch(this.appsDir, (_event, filename) => {
        // An event with no name of a child is the directory's own (Node names it by its
        // basename): removed or moved, its watch ends or follows it elsewhere.
        if (filename === basename(this.appsDir)) this.selfChanged = true;
        this.check(true);
      });
      this.fsWatcher.on('error', () => {
        // The poll still runs; fs.watch is only the fast path.
      });
    } catch (err) {
      this.fsWatcher = null;
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      // Gone at the start: watched once it is there (watchAgainIfReplaced), nothing to say.
      if (code === 'ENOENT') return;
      // The poll still runs, but a deploy is then seen up to a scan later, and a host whose
      // inotify watches ran out (ENOSPC: every `fs.watch` of the user's processes counts) should know.
      this.refused = true;
      const why = code === 'ENOSPC' ? 'ENOSPC: the inotify watches of this user are used up; raise fs.inotify.max_user_watches with sysctl' : code;
      this.say(`cannot watch ${this.appsDir} for changes (${why}); changes under it are seen by the scan every ${this.pollMs / 1000} s (${this.pollKey})`);
    }
  }

  /**
   * An inotify watch holds the directory's inode, not its path: once the apps directory is
   * removed (or renamed away) and made again, the watch sees nothing of the new one, and
   * changes waited for the scan for good. A directory with another inode at the path, or one
   * whose own event was seen (a new one may reuse the inode), is watched anew; a refused
   * watch is not retried (it was said once).
   */
  private watchAgainIfReplaced(): void {
    if (this.refused) return;
    const now = dirIdentity(this.appsDir);
    if (now === this.watchedDir && !this.selfChanged) return;
    this.selfChanged = false;
    this.fsWatcher?.close();
    this.fsWatcher = null;
    if (now === null) {
      this.watchedDir = null;
      return;
    }
    this.watchAppsDir();
  }

  /** Debounced: a deploy writes many files; one reconcile after they settle. */
  private check(event: boolean): void {
    if (this.debounce) {
      if (!event) return;
      clearTimeout(this.debounce);
    }
    this.debounce = setTimeout(() => {
      this.debounce = null;
      if (this.changedSinceLastCheck()) this.onChange();
    }, this.debounceMs);
  }

  stop(): void {
    this.fsWatcher?.close();
    if (this.poll) clearInterval(this.poll);
    if (this.debounce) clearTimeout(this.debounce);
  }
}

/** Directories serve --reload never watches: caches, version control, dependencies. */
const UNWATCHED_DIRS = new Set(['__pycache__', 'node_modules']);
/** inotify watches are a per-user kernel resource (fs.inotify.max_user_watches). */
const MAX_WATCHED_DIRS = 2000;

/**
 * serve --reload: calls `onChange` (debounced, never two at once) when a .py file, a .pth file
 * or app.yaml under `dir` changes.
 *
 * A change seen while onChange runs (a restart: the new workers import) may be a save made
 * meanwhile, or the app writing into its own directory as it imports (a generated settings
 * module): onChange runs once more for it, as --apps tries a version once more for files changed
 * while it started (version-judge.ts). That run writing the same files again, and nothing saved
 * besides, is the app's own doing: told to `ownWrites` (once per file), not run for, or each
 * import restarted the app for ever.
 *
 * Every directory of the tree is watched, not its files: an editor that saves by writing a new
 * file and renaming it over the old one (`sed -i`, vim, most IDEs' safe write) replaces the
 * inode a file watch holds, and Node 20's `recursive` watch on Linux watches files, so it went
 * deaf to a file after its first such save. A directory's watch sees its children's writes
 * and renames alike.
 */
export class SourceWatcher {
  private readonly watchers = new Map<string, FSWatcher>();
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private isStopped = false;
  /** Files changed, not yet acted on: while no run was under way (saves), and while one was. */
  private changedIdle = new Set<string>();
  private changedDuring = new Set<string>();
  /** The files changed during the run before it, when the run under way (or last) was only for those. */
  private retryFor: ReadonlySet<string> | null = null;
  /**
   * Files found to be the app's own writes: changed during a run, they run nothing from then on
   * (a save's restart would otherwise be made twice). Saved while no run is under way, they do.
   */
  private readonly own = new Set<string>();

  constructor(
    private readonly dir: string,
    private readonly onChange: () => Promise<void>,
    private readonly debounceMs = 250,
    private readonly ownWrites: (files: string[]) => void = () => {},
  ) {}

  /**
   * `start` (the app's first start, begun before the watch) counts as a run: a change seen
   * during it is acted on once it has ended, by the same rule as one seen during a restart.
   */
  runningUntil(start: Promise<void>): void {
    this.run(start);
  }

  start(): void {
    this.watchTree(this.dir);
  }

  private watchTree(dir: string): void {
    if (this.isStopped || this.watchers.has(dir) || this.watchers.size >= MAX_WATCHED_DIRS) return;
    let watcher: FSWatcher;
    try {
      watcher = watch(dir, (_event, filename) => {
        if (filename) this.changed(join(dir, filename.toString()));
      });
    } catch {
      return; // gone already, or unreadable: nothing there to reload for
    }
    // A removed directory's watch ends with an error; a new one of that name is watched anew.
    watcher.on('error', () => this.unwatch(dir));
    this.watchers.set(dir, watcher);
    let entries: Dirent[];
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const entry of entries) {
      if (entry.isDirectory() && !entry.name.startsWith('.') && !UNWATCHED_DIRS.has(entry.name)) this.watchTree(join(dir, entry.name));
    }
  }

  private unwatch(dir: string): void {
    this.watchers.get(dir)?.close();
    this.watchers.delete(dir);
  }

  private changed(path: string): void {
    const name = path.slice(path.lastIndexOf('/') + 1);
    if (!name.startsWith('.') && !UNWATCHED_DIRS.has(name) && !this.watchers.has(path)) {
      // A directory made (or moved in) after the start: its files count too.
      try {
        if (statSync(path).isDirectory()) this.watchTree(path);
      } catch {
        // removed again: nothing to watch
      }
    }
    if (!(name.endsWith('.py') || name === 'app.yaml' || name.endsWith('.pth'))) return;
    // Told apart when it happens, not when the debounce ends: a run may end in between.
    (this.running ? this.changedDuring : this.changedIdle).add(path);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.fire(), this.debounceMs);
  }

  private fire(): void {
    this.timer = null;
    if (this.running) {
      this.again = true;
      return;
    }
    const saved = this.changedIdle;
    const during = this.changedDuring;
    this.changedIdle = new Set();
    this.changedDuring = new Set();
    // Acted on already (a run's `again` and the debounce both ended on the same change).
    if (saved.size === 0 && during.size === 0) return;
    const retried = this.retryFor;
    if (saved.size === 0 && [...during].every((file) => this.own.has(file) || retried?.has(file))) {
      this.retryFor = null;
      const found = [...during].filter((file) => !this.own.has(file));
      for (const file of found) this.own.add(file);
      if (found.length > 0) this.ownWrites(found);
      return;
    }
    this.retryFor = saved.size === 0 ? during : null;
    this.run(this.onChange());
  }

  private run(work: Promise<void>): void {
    this.running = work.finally(() => {
      this.running = null;
      if (this.again) {
        this.again = false;
        this.fire();
      }
    });
  }

  /** Whether stop() was called: an onChange that waited since has nothing to act for. */
  get stopped(): boolean {
    return this.isStopped;
  }

  stop(): void {
    this.isStopped = true;
    for (const dir of [...this.watchers.keys()]) this.unwatch(dir);
    if (this.timer) clearTimeout(this.timer);
  }
}
