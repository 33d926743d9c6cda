// The last lines written to one app's log, kept in memory with the stream each came from, so
// that the status page can show them with stderr marked (the file holds both streams as they
// interleave, unmarked, as SPEC §4 has it). One tail per log file, whichever AppLog wrote the
// line (a version's workers, the next version's, a hook): the file is the app's, not a writer's.
import { closeSync, constants, fstatSync, openSync, readSync } from 'node:fs';

/** One line of an app's log as the gateway saw it written (status shows these: `log.lines`). */
export interface LogLine {
  at: string;
  /**
   * stdout | stderr of its processes, or the gateway's own note about the app; `earlier` for
   * a line the file held before this gateway started (the file does not say which stream, and
   * `at` is then the file's last change).
   */
  stream: 'stdout' | 'stderr' | 'gateway' | 'earlier';
  text: string;
}

/** Lines kept per app; /status shows the last STATUS_LINES of them. */
const KEPT_LINES = 200;
/** A line past this is cut: a tail is for reading, the file has all of it. */
const MAX_LINE_CHARS = 2000;
/** How much of a log file written before the gateway started is read for its tail. */
const EARLIER_BYTES = 64 * 1024;

export type LogStream = LogLine['stream'];

const tails = new Map<string, LogTail>();

export class LogTail {
  private readonly lines: LogLine[] = [];

  /** The tail of the log file `file` (created on first use). */
  static of(file: string): LogTail {
    let tail = tails.get(file);
    if (tail === undefined) {
      tail = new LogTail();
      tail.readEarlier(file);
      tails.set(file, tail);
    }
    return tail;
  }

  /**
   * Lets go of the tail of `file`: its app is gone from --apps and its processes have stopped.
   * Each tail holds up to KEPT_LINES lines; one kept per app ever served grew the gateway by one
   * more for every app added and removed (review apps, a host's churn). Should the app come
   * back, its tail is read from the file again, as at a start.
   */
  static release(file: string): void {
    tails.delete(file);
  }

  /** How many files' tails are kept. */
  static get kept(): number {
    return tails.size;
  }

  /**
   * The file's last lines, written before this gateway started (its previous run, a hook run
   * by `install`): the status page's tail would otherwise be empty until the app writes again.
   */
  private readEarlier(file: string): void {
    let fd: number;
    try {
      // Not through a symlink the app put in its log directory (a root-only file shown in status),
      // nor waiting on a FIFO put there (O_NONBLOCK): that open held the gateway until a writer came.
      fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    } catch {
      return; // no log yet
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) return;
      const { size, mtime } = st;
      const start = Math.max(0, size - EARLIER_BYTES);
      const buffer = Buffer.alloc(size - start);
      readSync(fd, buffer, 0, buffer.length, start);
      const lines = buffer.toString('utf8').split('\n');
      lines.pop(); // after the last newline: nothing, or a line still being written
      if (start > 0) lines.shift(); // begins inside a line
      const at = mtime.toISOString();
      for (const text of lines.slice(-KEPT_LINES)) this.push(at, text.startsWith(GATEWAY_PREFIX) ? 'gateway' : 'earlier', text);
    } catch {
      // unreadable: the tail starts empty, as before
    } finally {
      closeSync(fd);
    }
  }

  add(stream: LogStream, text: string): void {
    this.push(new Date().toISOString(), stream, text);
  }

  private push(at: string, stream: LogStream, text: string): void {
    this.lines.push({ at, stream, text: text.length > MAX_LINE_CHARS ? `${text.slice(0, MAX_LINE_CHARS)}…` : text });
    if (this.lines.length > KEPT_LINES) this.lines.splice(0, this.lines.length - KEPT_LINES);
  }

  /** The last `count` lines, oldest first. */
  last(count: number): LogLine[] {
    return this.lines.slice(-count);
  }
}

/** Splits what one stream writes into lines for a tail; the part after the last newline waits. */
export class LineSplitter {
  private partial = '';

  constructor(private readonly tail: LogTail, private readonly stream: LogStream) {}

  push(chunk: Buffer | string): void {
    const lines = (this.partial + chunk.toString()).split('\n');
    this.partial = lines.pop() ?? '';
    if (this.partial.length > MAX_LINE_CHARS) {
      lines.push(this.partial);
      this.partial = '';
    }
    for (const line of lines) this.tail.add(line.startsWith(GATEWAY_PREFIX) ? 'gateway' : this.stream, line);
  }
}

/** How the gateway's own notes in an app's log begin (AppInstance.report). */
export const GATEWAY_PREFIX = '[apppkg-gateway] ';
