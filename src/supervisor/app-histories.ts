// The history of each app the registry knows, kept across restarts of the gateway: read from
// the app's history file when the registry first meets the app (what the last run left there,
// shown as it was), and written back as it changes (history-writer.ts). An app whose directory
// went away keeps its file (its `removed` event is its last): added again, or at the next start,
// it goes on from there. `uninstall` removes the file with the rest of the app's state.
import { AppHistory } from './app-history.js';
import { historyFile, readHistoryFile } from './history-file.js';
import { HistoryWriter } from './history-writer.js';

export interface AppHistoriesOptions {
  /** The state root (`--state-dir`, else the default root). */
  stateDir?: string;
  /** The gateway's log: a history file that cannot be used is said there, once. */
  say: (line: string) => void;
}

export class AppHistories {
  private readonly kept = new Map<string, { history: AppHistory; writer: HistoryWriter }>();
  /** close() was called: a stopped gateway writes nothing more under its state root. */
  private closed = false;

  constructor(private readonly opts: AppHistoriesOptions) {}

  /**
   * The history of `name`: the one in memory when the app was removed and came back before it
   * was released (its `removed` event may not be written yet), else its file's.
   */
  of(name: string): AppHistory {
    const known = this.kept.get(name);
    if (known !== undefined) return known.history;
    const file = historyFile(this.opts.stateDir, name);
    const read = readHistoryFile(file);
    if (read.problem !== null) {
      this.opts.say(`${name}: its history in ${file} was not read: ${read.problem}; the app's history starts empty, and the file is replaced at its next event`);
    }
    // The history and its writer refer to each other: the writer reads the events, the history tells it of each change.
    let writer: HistoryWriter | null = null;
    const history = new AppHistory(read.events, () => writer?.changed());
    writer = new HistoryWriter({ app: name, file, events: () => history.list(), say: this.opts.say });
    this.kept.set(name, { history, writer });
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
