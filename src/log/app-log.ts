// Each app's stdout/stderr (its wsgi.errors included) kept in `<log dir>/app.log`, rotated by
// size to app.log.1 .. app.log.N. A log that cannot be written (disk full, read-only) is
// reported once and its lines dropped, each tried again, until one goes in (reported too):
// logging must never stop an app from serving. A rotation that cannot rename or open (its
// directory removed while the app ran) makes the directory again and opens a new app.log, and if
// even that fails, tries again at the next rotation point, as SIGUSR1 (reopen) does at once:
// a log is never dropped until the app restarts. What is written
// through `stream('stderr')` is also kept, marked, in the app's LogTail (the status page's tail).
import { chmodSync, closeSync, constants, fstatSync, ftruncateSync, lchownSync, mkdirSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { testKnob } from '../test-knob.js';
import { GATEWAY_PREFIX, LineSplitter, LogTail, type LogStream } from './log-tail.js';

export interface AppLogOptions {
  /** Also copy every line here (the terminal, under `serve`). */
  echo?: Writable | null;
  /** Prefix for echoed lines, e.g. "[blog] ". */
  echoPrefix?: string;
  maxBytes?: number;
  keep?: number;
  /**
   * Told once when the file cannot be written. `retrying`: it was open and a write failed (a
   * full disk): each later line is tried, and onRecover tells when one goes in; false when it
   * could not be opened, and the log is then dropped for good.
   */
  onError?: (err: Error, retrying: boolean) => void;
  /** Told when a line goes in again after onError, with how many bytes were dropped meanwhile. */
  onRecover?: (droppedBytes: number) => void;
  /**
   * The log directory is another user's (the app runs as its own user under a root gateway):
   * app.log is opened without following a symlink, which that user could have put in its place
   * to have root append the app's output to whatever it names.
   */
  othersDir?: boolean;
  /**
   * The app's user, when it is not the gateway's: a log directory made again (removed under the
   * running app) is given to it, as the start made it, so that the app can go on writing its own
   * files into APPPKG_LOG_DIR.
   */
  owner?: { uid: number; gid: number };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Where app.log is rotated by default (maxBytes). */
const ROTATE_AT_BYTES = 10 * 1024 * 1024;
/**
 * Lowers ROTATE_AT_BYTES for the test suite alone (test/log/app-log-size-rotation), which would
 * otherwise have an app write 10 MB, at its output's 1 MiB/s (output-throttle.ts), per rotation
 * (test-knob.ts).
 */
const ROTATE_AT_ENV = 'APPPKG_TEST_APP_LOG_ROTATE_BYTES';

/**
 * What every AppLog writing one app.log shares: during a deploy an app's two versions each have
 * their own, and so has a hook run beside the version serving. Counted apart, one writer's
 * rotation left the other writing on into app.log.1 (then .2, ...), where neither `logs` nor
 * `logs -f` looks, and each rotated at its own bytes alone, the file growing past the size.
 */
interface SharedFile {
  /** Bytes in app.log now, whoever wrote them. */
  size: number;
  /** Times it was rotated: a writer that opened it before the last one opens it again. */
  rotations: number;
}
/** By app.log's path; one entry per app log the gateway has written, as LogTail keeps one tail. */
const sharedFiles = new Map<string, SharedFile>();

/** Distinct load failures remembered for folding their copies on serve's terminal. */
const ECHOED_FAILURES_KEPT = 16;

export class AppLog extends Writable {
  readonly file: string;
  private fd: number | null = null;
  private readonly shared: SharedFile;
  /** shared.rotations when this writer opened app.log. */
  private openedAt = 0;
  private failed = false;
  /** A rotation or a reopen could not open the file: its lines are counted to the next rotation point, where it is tried again. */
  private lost = false;
  /** Closed for good (release): its start has ended. */
  private released = false;
  /** Bytes not written since the failure said last. */
  private dropped = 0;
  private readonly maxBytes: number;
  private readonly keep: number;
  private readonly tail: LogTail;
  private readonly untagged: LineSplitter;
  /** The stderr lines the log writes itself (loadFailure), marked in the tail as a process's are. */
  private readonly failureLines: LineSplitter;
  /** The load failures it echoed, by their text: the workers of one start fail alike. */
  private readonly echoedFailures = new Set<string>();

  constructor(private readonly dir: string, private readonly opts: AppLogOptions = {}) {
    super({ decodeStrings: true });
    this.file = join(dir, 'app.log');
    this.shared = sharedFiles.get(this.file) ?? { size: 0, rotations: 0 };
    sharedFiles.set(this.file, this.shared);
    this.maxBytes = opts.maxBytes ?? testKnob(ROTATE_AT_ENV, ROTATE_AT_BYTES);
    this.keep = opts.keep ?? 5;
    this.tail = LogTail.of(this.file);
    this.untagged = new LineSplitter(this.tail, 'stdout');
    this.failureLines = new LineSplitter(this.tail, 'stderr');
    try {
      mkdirSync(dir, { recursive: true });
      this.open();
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private get size(): number {
    return this.shared.size;
  }

  private set size(bytes: number) {
    this.shared.size = bytes;
  }

  private open(): void {
    const noFollow = this.opts.othersDir === true ? constants.O_NOFOLLOW : 0;
    let fd: number;
    try {
      // O_NONBLOCK: a FIFO the app put under the log's name (its log directory is its own) held
      // this open, and the whole gateway with it, until something read the FIFO. It changes
      // nothing for a file's writes.
      fd = openSync(this.file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NONBLOCK | noFollow, 0o640);
    } catch (err) {
      // A FIFO (or a socket) nobody reads.
      if ((err as NodeJS.ErrnoException).code === 'ENXIO') throw notAFile('a FIFO or a socket');
      throw err;
    }
    const st = fstatSync(fd);
    // A FIFO with a reader opens; its writes would go to whoever reads it. A device stays
    // allowed: a log symlinked to /dev/null is a host's way of keeping none.
    if (st.isFIFO() || st.isSocket()) {
      closeSync(fd);
      throw notAFile(st.isFIFO() ? 'a FIFO' : 'a socket');
    }
    this.fd = fd;
    this.size = st.size;
    this.openedAt = this.shared.rotations;
  }

  private fail(err: Error, retrying = this.fd !== null): void {
    if (this.failed) return;
    this.failed = true;
    this.opts.onError?.(err, retrying);
  }

  // Said, so that a disk that fills again is said again: once per outage, never once per line.
  private recover(): void {
    const dropped = this.dropped;
    this.failed = false;
    this.dropped = 0;
    this.opts.onRecover?.(dropped);
  }

  private rotate(): void {
    this.close();
    try {
      rmSync(`${this.file}.${this.keep}`, { force: true });
      for (let i = this.keep - 1; i >= 1; i--) {
        try {
          renameSync(`${this.file}.${i}`, `${this.file}.${i + 1}`);
        } catch {
          // that generation does not exist yet
        }
      }
      renameSync(this.file, `${this.file}.1`);
    } catch (err) {
      // Moved away already (logrotate without SIGUSR1), or its directory removed: a new one is
      // opened. Anything else would leave a full app.log to reopen, rotated again at every line.
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'ENOTDIR') {
        this.lost = true;
        this.size = 0;
        this.fail(err as Error, true);
        return;
      }
    }
    this.shared.rotations++;
    const dirGone = !isDirectory(this.dir);
    if (this.openAgain() && dirGone) this.note(`${this.dir} was removed while the app ran: made again at the log's rotation (what the app wrote since is lost)`);
  }

  private close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  /**
   * The directory made again (it may have been removed under the running app) and app.log
   * opened under its name; a failure is said once, and the lines until the next rotation point
   * are counted as dropped, when it is tried again.
   */
  private openAgain(): boolean {
    try {
      // As state-root.ts makes it: 0750, the app's user's.
      if (mkdirSync(this.dir, { recursive: true, mode: 0o750 }) !== undefined) {
        chmodSync(this.dir, 0o750); // mkdir's mode passed through the umask
        if (this.opts.owner) lchownSync(this.dir, this.opts.owner.uid, this.opts.owner.gid);
      }
      this.open();
      this.lost = false;
      return true;
    } catch (err) {
      this.lost = true;
      this.size = 0;
      this.fail(err as Error, true);
      return false;
    }
  }

  /**
   * Opens app.log again under its name (SIGUSR1, after logrotate moved it away, or its
   * directory was removed): false when it could not be, said through onError, and tried again
   * at the next rotation point.
   */
  reopen(): boolean {
    // A start that has ended keeps its file closed (release): SIGUSR1 during its last moments in
    // the registry must not open it for good.
    if (this.released) return true;
    this.close();
    if (!this.openAgain()) return false;
    if (this.failed) this.recover();
    return true;
  }

  /** A stream into this log whose lines the tail marks as `stream`'s (a process's stdout or stderr). */
  stream(stream: LogStream): Writable {
    const lines = new LineSplitter(this.tail, stream);
    return new Writable({
      write: (chunk: Buffer, _enc, done) => {
        lines.push(chunk);
        this.append(chunk);
        done();
      },
    });
  }

  /**
   * A worker's load failure (an import's or a lifespan startup's), its traceback: into the log as
   * its stderr, each worker's (the log is the record of what each process said), but echoed once
   * per distinct text: under `serve` every worker of a start prints the same traceback, and the
   * copies buried the gateway's own line. False when it was not echoed for that reason, for the
   * caller to say so in a line.
   */
  loadFailure(traceback: string): boolean {
    const echo = !this.echoedFailures.has(traceback);
    // A log lives as long as its start; a worker failing to load over and over, a different
    // text each time (a time or a pid in it), must not grow it without end: past a few, start over.
    if (this.echoedFailures.size >= ECHOED_FAILURES_KEPT) this.echoedFailures.clear();
    if (this.opts.echo) this.echoedFailures.add(traceback);
    const chunk = Buffer.from(traceback);
    this.failureLines.push(chunk);
    this.append(chunk, echo);
    return echo;
  }

  /**
   * A line of the gateway's own about the app (a worker exited, restarts, is recycled), marked
   * as the gateway's. Not echoed: the gateway's output, where it is said too, is the terminal
   * under `serve`.
   */
  note(line: string): void {
    const text = `${GATEWAY_PREFIX}${line}`;
    this.tail.add('gateway', text);
    this.append(Buffer.from(`${text}\n`), false);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, done: (err?: Error | null) => void): void {
    this.untagged.push(chunk);
    this.append(chunk);
    done();
  }

  private append(chunk: Buffer, echo = true): void {
    if (echo && this.opts.echo) {
      const prefix = this.opts.echoPrefix ?? '';
      this.opts.echo.write(prefix ? chunk.toString('utf8').replace(/^(?=.)/gm, prefix) : chunk);
    }
    if (this.fd === null && this.lost) {
      this.size += chunk.length;
      if (this.size <= this.maxBytes || !this.openAgain()) {
        this.dropped += chunk.length;
        return;
      }
    }
    if (this.fd !== null) {
      try {
        if (this.openedAt !== this.shared.rotations) {
          // Rotated by another writer of the file: on into the new app.log.
          this.close();
          this.openAgain();
        }
        if (this.fd !== null && this.size + chunk.length > this.maxBytes && this.size > 0) this.rotate();
        if (this.fd === null) {
          this.dropped += chunk.length;
          this.size += chunk.length;
          return;
        }
        const written = writeSync(this.fd!, chunk);
        if (written < chunk.length) this.takeBack(written);
        this.size += chunk.length;
        if (this.failed) this.recover();
      } catch (err) {
        this.dropped += chunk.length;
        this.fail(err as Error, this.fd !== null || this.lost);
      }
    }
  }

  /**
   * A write that went in part way, the disk filling mid-line: its part is cut off the end again,
   * as if nothing went in (the next line would otherwise continue it), and it fails as ENOSPC.
   */
  private takeBack(written: number): never {
    ftruncateSync(this.fd!, fstatSync(this.fd!).size - written);
    throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
  }

  override _final(done: (err?: Error | null) => void): void {
    this.release();
    done();
  }

  /**
   * The file closed for good, the stream left open: what its stopped start's processes or the
   * gateway still say about it is dropped, not an error (a write after end() would be one). Each
   * deploy or restart opens the app's log anew; without this, every start that ended kept its
   * descriptor until the gateway stopped.
   */
  release(): void {
    this.released = true;
    this.lost = false;
    this.close();
  }
}

/** What open() throws for something under app.log's name that is no file, in the words onError's caller shows. */
function notAFile(kind: string): Error {
  return new Error(`${kind}, not a file: remove it`);
}
