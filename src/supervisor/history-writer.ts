// One app's history written back to its file (history-file.ts) as it changes, at most once a
// second whatever the rate of its events: a crash loop adds one at each exit, several a second
// with many workers, and each would have been a file written. The events of a second go
// together in one write. Never on the request path: an event (a failed wake is one, met by a
// request) only arms a timer; the write runs from it, without blocking. What is pending when the
// gateway stops is written by its stop (flush).
import { performance } from 'node:perf_hooks';
import type { HistoryEvent } from '../admin/status-types.js';
import { systemErrorReason } from '../errors.js';
import { writeHistoryFile } from './history-file.js';

/** The least time between two writes of one app's history. */
export const HISTORY_WRITE_INTERVAL_MS = 1000;

export interface HistoryWriterOptions {
  app: string;
  file: string;
  /** The events to write, as they are when the write begins. */
  events: () => HistoryEvent[];
  /** The gateway's log. */
  say: (line: string) => void;
  /**
   * The write of another writer of the same file that this one takes over from (an app added
   * again while its old copy drains, app-histories.ts): this one's first write waits for it.
   */
  after?: Promise<void> | null;
}

export class HistoryWriter {
  private timer: NodeJS.Timeout | null = null;
  private writing: Promise<void> | null = null;
  /** A change not written yet. */
  private dirty = false;
  /** performance.now() when the last write began: a step of the wall clock must not hold the next one. */
  private lastWrite = -Infinity;
  /** Why the last write failed (said once, not at every second of a full disk); null after a success. */
  private failure: string | null = null;
  private closed = false;

  constructor(private readonly opts: HistoryWriterOptions) {
    if (opts.after) {
      this.writing = opts.after.finally(() => {
        this.writing = null;
        if (this.dirty) this.schedule();
      });
    }
  }

  /** The history changed: written within a second, with whatever else changes meanwhile. */
  changed(): void {
    this.dirty = true;
    this.schedule();
  }

  /** Writes what is pending now, without waiting out the second (the app's processes are gone). */
  async flush(): Promise<void> {
    // A loop: two callers at once (an app's release as the gateway stops) each return only once
    // the other's write is done too, and what came during a write is written after it.
    for (;;) {
      if (this.timer !== null) {
        clearTimeout(this.timer);
        this.timer = null;
      }
      if (this.writing !== null) await this.writing;
      else if (this.dirty) await this.write();
      else return;
    }
  }

  /** flush(), then nothing more is written: the gateway stops. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  private schedule(): void {
    if (this.closed || this.timer !== null || this.writing !== null) return;
    const wait = Math.max(0, this.lastWrite + HISTORY_WRITE_INTERVAL_MS - performance.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.dirty) void this.write();
    }, wait);
    // A library user's process is not kept alive for it; Gateway.stop() writes what is pending.
    this.timer.unref();
  }

  private write(): Promise<void> {
    this.dirty = false;
    this.lastWrite = performance.now();
    const written = writeHistoryFile(this.opts.file, this.opts.events()).then(
      () => {
        this.failure = null;
      },
      (err: unknown) => this.failed(err),
    );
    this.writing = written.finally(() => {
      this.writing = null;
      // Events that came during the write: the next write, a second after this one began.
      if (this.dirty) this.schedule();
    });
    return this.writing;
  }

  private failed(err: unknown): void {
    // The app's state directory is not there: it never ran on this state root, or `uninstall`
    // removed it after its directory went away. Nothing is made for it: uninstall's removal stands.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    const reason = systemErrorReason(err);
    if (reason === this.failure) return;
    this.failure = reason;
    this.opts.say(`${this.opts.app}: its history could not be written to ${this.opts.file} (${reason}): it is kept in memory, and written at its next event; a restart of the gateway now would lose what is not written`);
  }
}
