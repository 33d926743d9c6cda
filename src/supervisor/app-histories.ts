// The history of each app the registry knows, kept across restarts of the gateway: read from
// the app's history file when the registry first meets the app (what the last run left there,
// shown as it was), and written back as it changes (history-writer.ts). An app whose directory
// went away keeps its file (its `removed` event is its last): added again, or at the next start,
// it goes on from there. Added again while its old copy still drains, it goes on in a history of
// its own: what the old copy does after its removal is that removed app's, not the new one's.
// `uninstall` removes the file with the rest of the app's state.
import type { HistoryEvent } from '../admin/status-types.js';
import { AppHistory } from './app-history.js';
import { historyFile, readHistoryFile } from './history-file.js';
import { HistoryWriter } from './history-writer.js';

export interface AppHistoriesOptions {
  /** The state root (`--state-dir`, else the default root). */
  stateDir?: string;
  /** The gateway's log: a history file that cannot be used is said there, once. */
  say: (line: string) => void;
}

interface Kept {
  history: AppHistory;
  writer: HistoryWriter;
  /** Its app's directory went away: an app added again under the name gets a history of its own. */
  removed: boolean;
}

export class AppHistories {
  private readonly kept = new Map<string, Kept>();
  /** close() was called: a stopped gateway writes nothing more under its state root. */
  private closed = false;

  constructor(private readonly opts: AppHistoriesOptions) {}

  /**
   * The history of `name`. Removed and back before it was released (its old copy still drains,
   * its `removed` event maybe not written yet), a new one that begins with the old one's events:
   * the old copy keeps its own for what it does after (its workers' deaths, a start it had under
   * way), which no longer reaches the file. Else the file's.
   */
  of(name: string): AppHistory {
    const known = this.kept.get(name);
    if (known !== undefined && !known.removed) return known.history;
    const file = historyFile(this.opts.stateDir, name);
    if (known !== undefined) {
      // The old writer's last write lands before the new one's first: the file is the new one's from here.
      return this.keep(name, file, known.history.list(), known.writer.close());
    }
    const read = readHistoryFile(file);
    if (read.problem !== null) {
      this.opts.say(`${name}: its history in ${file} was not read: ${read.problem}; the app's history starts empty, and the file is replaced at its next event`);
    }
    return this.keep(name, file, read.events, null);
  }

  /** `name`'s directory went away: an app added again under the name gets a history of its own (of()). */
  removed(name: string): void {
    const known = this.kept.get(name);
    if (known !== undefined) known.removed = true;
  }

  private keep(name: string, file: string, events: HistoryEvent[], after: Promise<void> | null): AppHistory {
    // The history and its writer refer to each other: the writer reads the events, the history tells it of each change.
    let writer: HistoryWriter | null = null;
    const history = new AppHistory(events, () => writer?.changed());
    writer = new HistoryWriter({ app: name, file, events: () => history.list(), say: this.opts.say, after });
    this.kept.set(name, { history, writer, removed: false });
    return history;
  }

  /**
   * `name` is gone from the apps and its processes too: what is pending is written, and it
   * leaves memory unless `isBack()` says it came back meanwhile (then it goes on).
   */
  async release(name: string, isBack: () => boolean): Promise<void> {
    const known = this.kept.get(name);
    if (known === undefined || this.closed) return;
    await known.writer.flush();
    if (!isBack() && this.kept.get(name) === known) this.kept.delete(name);
  }

  /** Writes every app's pending events, then none after: the gateway stops. */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.kept.values()].map((k) => k.writer.close()));
  }
}
