// One app's share of the gateway's one thread for its output: every byte its workers and
// processes write is read, split into lines and written to its log there, and an app writing
// at full speed (a loop printing, a debug logger left on) took enough of it to hold every other
// app's requests (p50 0.3 ms -> 98 ms, docs/performance.md). Past a sustained rate its pipes
// are read no more until the time it took is paid back: the app then blocks on its own write,
// the backpressure a terminal or journald gives, and nothing it wrote is dropped. All of one
// app's pipes pause and resume together, so the order of its lines across them is kept.
import type { Readable } from 'node:stream';

export interface OutputThrottleOptions {
  /** Sustained bytes a second the app's output may take. */
  bytesPerSecond: number;
  /** Bytes it may write at once above the rate (a traceback, a dump at start) before the rate holds. */
  burstBytes: number;
  /** Told the first time the app is slowed, for the app log to say why its writes waited. */
  onSlowed?: () => void;
}

/**
 * 1 MiB/s after a 4 MiB burst: a Django debug log (every SQL query) writes tens of KiB per
 * request and a traceback a few; a flood writes 50+ MiB/s. At 1 MiB/s its output costs the
 * gateway about a hundredth of its thread, and its 10 MB log lasts 10 s, not a fraction of one.
 */
export const DEFAULT_OUTPUT_RATE: Omit<OutputThrottleOptions, 'onSlowed'> = { bytesPerSecond: 1024 * 1024, burstBytes: 4 * 1024 * 1024 };

export class OutputThrottle {
  private tokens: number;
  /**
   * performance.now(): a step back of the wall clock took an hour's worth of bytes from the app
   * at its next line, and its pipes were then read no more for that hour (its writes blocked).
   */
  private refilledAt = performance.now();
  private readonly streams = new Set<Readable>();
  private resumeTimer: NodeJS.Timeout | null = null;
  private said = false;

  constructor(private readonly opts: OutputThrottleOptions) {
    this.tokens = opts.burstBytes;
  }

  /** Whether the app's pipes are paused now. */
  get isPaused(): boolean {
    return this.resumeTimer !== null;
  }

  /** Counts what `stream` gives against the app's rate; listened to after its reader, which gets every byte first. */
  read(stream: Readable | null | undefined): void {
    if (!stream) return;
    this.streams.add(stream);
    stream.on('data', (chunk: Buffer) => this.took(chunk.length));
    stream.once('close', () => this.streams.delete(stream));
    if (this.resumeTimer !== null) stream.pause();
  }

  private took(bytes: number): void {
    const now = performance.now();
    this.tokens = Math.min(this.opts.burstBytes, this.tokens + ((now - this.refilledAt) * this.opts.bytesPerSecond) / 1000);
    this.refilledAt = now;
    this.tokens -= bytes;
    if (this.tokens >= 0 || this.resumeTimer !== null) return;
    for (const stream of this.streams) stream.pause();
    if (!this.said) {
      this.said = true;
      this.opts.onSlowed?.();
    }
    // Kept referenced: a stop waits for the last lines of a paused pipe, which this lets come.
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = null;
      for (const stream of this.streams) stream.resume();
    }, Math.ceil((-this.tokens * 1000) / this.opts.bytesPerSecond));
  }
}
