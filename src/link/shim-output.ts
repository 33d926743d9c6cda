// Reading a shim's stderr: lines for the app log, and the marker line the shim writes
// before it exits 4 (`APPPKG-IMPORT-ERROR {json}`), turned into a GatewayError. The marker is
// protocol, not output: it never reaches the log; the traceback it carries does, in its place.

import type { Writable } from 'node:stream';
import { GatewayError } from '../errors.js';
import { eachLine, wholeCharacters } from '../log/byte-lines.js';

export const EXIT_STARTUP_FAILED = 3;
export const EXIT_APP_LOAD_FAILED = 4;
export const IMPORT_ERROR_MARKER = 'APPPKG-IMPORT-ERROR ';
export const NOT_CALLABLE_MARKER = 'APPPKG-APP-NOT-CALLABLE ';
/** An ASGI app's lifespan startup failed (docs/protocol.md §8): the version is refused. */
export const LIFESPAN_FAILED_MARKER = 'APPPKG-LIFESPAN-FAILED ';
/** The app's import monkey-patched Python's threads (gevent, eventlet): the version is refused. */
export const PATCHED_MARKER = 'APPPKG-APP-PATCHED ';
/**
 * Before exit 3: the shim speaks another link protocol than this gateway (docs/protocol.md §1).
 * Written by another version's shim, so its name and fields never change.
 */
export const LINK_MISMATCH_MARKER = 'APPPKG-LINK-MISMATCH ';
const PROTOCOL_MARKERS = [IMPORT_ERROR_MARKER, NOT_CALLABLE_MARKER, LIFESPAN_FAILED_MARKER, PATCHED_MARKER, LINK_MISMATCH_MARKER];

const NEWLINE = 0x0a;
/** How long a line without its newline waits for it before the log gets it, ended by UNENDED_MARK. */
const UNENDED_LINE_MS = 250;
/**
 * Ends in the log a piece its worker had not ended when it went out (after UNENDED_LINE_MS, past
 * LONGEST_HELD_LINE, at the worker's exit): the workers share the log, and the next line
 * written there may be another's, which would otherwise be spliced onto it.
 */
export const UNENDED_MARK = ' [no newline]\n';

/** Where a child's output goes: a stream (raw bytes), or a function called once per line. */
export type OutputSink = Writable | ((line: string) => void);

/**
 * Splits a stream into lines for a per-line sink; keeps the last lines for error reports. Lines
 * are split on the bytes and decoded whole (log/byte-lines.ts).
 */
/** A line not ended past this many bytes is passed on in pieces, not held whole. */
const LONGEST_HELD_LINE = 64 * 1024;
/** How much of a worker's latest output a LineTap keeps. */
const LAST_OUTPUT_BYTES = 8 * 1024;

export class LineTap {
  /** The bytes after the last newline, waiting for theirs. */
  private held: Buffer | null = null;
  private heldTimer: NodeJS.Timeout | null = null;
  /** What went out last ended with UNENDED_MARK: the newline that comes after it is said already. */
  private markedLast = false;
  readonly recent: string[] = [];
  /** The last LAST_OUTPUT_BYTES or so of what passed, for a 502's body in development (lastOutput). */
  private readonly last: Buffer[] = [];
  /** When each of `last` came (performance.now()): what came before a request is no output of its. */
  private readonly lastAt: number[] = [];
  private lastBytes = 0;
  /** When it last wrote anything (performance.now(), as the exit it may explain), 0 before it has: how old lastLine() is. */
  lastOutputAt = 0;
  importError: Record<string, unknown> | null = null;
  notCallable: Record<string, unknown> | null = null;
  lifespanFailed: Record<string, unknown> | null = null;
  patched: Record<string, unknown> | null = null;
  linkMismatch: Record<string, unknown> | null = null;
  /**
   * Where the traceback of a load failure goes (an import's or a lifespan startup's; the marker
   * carries it): by default into the sink with the rest of the output; a worker's pool may take
   * it (folded on serve's terminal).
   */
  onLoadFailure: ((traceback: string) => void) | null = null;

  /** `keepsLast`: keep the stream's latest output for lastOutput() (stderr: where a dying worker says why). */
  constructor(private readonly sink: OutputSink, private readonly scan: () => boolean, private readonly keepsLast = false) {}

  push(chunk: Buffer): void {
    if (this.keepsLast) this.keepLast(chunk);
    const sink = this.sink;
    if (typeof sink !== 'function' && !this.scan()) {
      this.wholeLines(sink, chunk); // serving: the app's output goes to the log, a whole line at a time
      return;
    }
    // Scanning holds a partial line until its newline or the end (or until it is too long).
    this.held = eachLine(this.held, chunk, (line) => this.line(line, true));
    if (this.held !== null && this.held.length >= LONGEST_HELD_LINE) {
      // Cut after its last whole character, as hold() does: a character split here would be two
      // U+FFFD in the log (and in a start error's output).
      const long = this.held;
      const whole = wholeCharacters(long);
      this.held = whole === long.length ? null : Buffer.from(long.subarray(whole));
      this.line(long.toString('utf8', 0, whole), false);
    }
  }

  /**
   * Writes the complete lines of `chunk`, and holds what follows its last newline until the
   * newline comes: an app's workers write into one log, and an unbuffered print writes its text
   * and its newline apart, so two workers printing at once would splice their lines. A held
   * piece that no newline follows (a prompt, a progress bar) goes out after UNENDED_LINE_MS,
   * ended by UNENDED_MARK.
   */
  private wholeLines(sink: Writable, chunk: Buffer): void {
    const held = this.held;
    this.held = null;
    const lastNewline = chunk.lastIndexOf(NEWLINE);
    if (lastNewline === -1) {
      this.hold(sink, held === null ? chunk : Buffer.concat([held, chunk]));
      return;
    }
    let lines = lastNewline === chunk.length - 1 ? chunk : chunk.subarray(0, lastNewline + 1);
    const rest = lines === chunk ? null : chunk.subarray(lastNewline + 1);
    // The newline of a line the mark ended already: a blank line in the log would say nothing.
    if (held === null && this.markedLast && lines[0] === NEWLINE) lines = lines.subarray(1);
    this.markedLast = false;
    if (held !== null || lines.length > 0) sink.write(held === null ? lines : Buffer.concat([held, lines]));
    if (rest !== null) this.hold(sink, rest);
  }

  private hold(sink: Writable, piece: Buffer): void {
    // A line this long goes out as far as it came (to its last whole character): holding it
    // whole meant copying it again at every read (a 40 MB print took the gateway 100 s, and its
    // heartbeats with it).
    if (piece.length >= LONGEST_HELD_LINE) {
      const whole = wholeCharacters(piece);
      this.writeUnended(sink, piece.subarray(0, whole));
      if (whole === piece.length) return;
      piece = piece.subarray(whole);
    }
    // A copy: the chunk's buffer is the stream's, and the piece may wait.
    this.held = Buffer.from(piece);
    if (this.heldTimer !== null) {
      this.heldTimer.refresh();
      return;
    }
    this.heldTimer = setTimeout(() => {
      this.heldTimer = null;
      if (this.held === null) return;
      const unended = this.held;
      this.held = null;
      this.writeUnended(sink, unended);
    }, UNENDED_LINE_MS).unref();
  }

  private writeUnended(sink: Writable, piece: Buffer): void {
    if (piece.length === 0) return;
    sink.write(Buffer.concat([piece, Buffer.from(UNENDED_MARK)]));
    this.markedLast = true;
  }

  private keepLast(chunk: Buffer): void {
    this.lastOutputAt = performance.now();
    this.last.push(Buffer.from(chunk)); // its own bytes: a stream's chunk is not ours to keep
    this.lastAt.push(this.lastOutputAt);
    this.lastBytes += chunk.length;
    while (this.last.length > 1 && this.lastBytes - this.last[0].length >= LAST_OUTPUT_BYTES) {
      this.lastBytes -= this.last.shift()!.length;
      this.lastAt.shift();
    }
  }

  /**
   * Its last lines of output: faulthandler's whole report of a crash when there is one (it
   * lists every thread), else the last `lines` (a traceback). Only what came from `since` on
   * (performance.now()): a 502's body would show the traceback of an earlier request, answered
   * 500 by the same worker, as the cause of a death that printed nothing.
   */
  lastOutput(lines = 30, since = 0): string {
    const first = this.lastAt.findIndex((at) => at >= since);
    const kept = first === -1 ? [] : this.last.slice(first);
    const text = Buffer.concat(kept).toString('utf8').replace(/\n$/, '');
    const crash = text.lastIndexOf('Fatal Python error: ');
    if (crash !== -1) return text.slice(crash);
    return text.split('\n').slice(-lines).join('\n');
  }

  /**
   * The last line of its latest output with something in it, the protocol's markers aside: a
   * dying worker's last words (a traceback ends with the exception), for status's exit reason.
   */
  lastLine(): string | null {
    const lines = Buffer.concat(this.last).toString('utf8').split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      const line = lines[i].trim();
      if (line !== '' && !PROTOCOL_MARKERS.some((marker) => line.startsWith(marker))) return line;
    }
    return null;
  }

  /** The last line, even without its newline. Scanning usually stops here (READY, or exit). */
  end(): void {
    if (this.heldTimer !== null) clearTimeout(this.heldTimer);
    this.heldTimer = null;
    const last = this.held;
    this.held = null;
    if (last === null) return;
    const sink = this.sink;
    if (typeof sink !== 'function' && !this.scan()) this.writeUnended(sink, last);
    else this.line(last.toString('utf8'), false);
  }

  /**
   * The traceback a load failure's marker carries (an import's, or a lifespan startup's): output of
   * the worker's, as if it had written it.
   */
  private loadFailed(traceback: unknown): void {
    if (typeof traceback !== 'string' || traceback === '') return;
    const text = traceback.endsWith('\n') ? traceback : `${traceback}\n`;
    if (this.keepsLast) this.keepLast(Buffer.from(text));
    if (this.onLoadFailure !== null) {
      this.onLoadFailure(text);
      return;
    }
    const sink = this.sink;
    if (typeof sink === 'function') for (const line of text.slice(0, -1).split('\n')) sink(line);
    else {
      sink.write(text);
      this.markedLast = false;
    }
  }

  private line(line: string, newline: boolean): void {
    let marker = false;
    if (this.scan()) {
      if (line.startsWith(IMPORT_ERROR_MARKER)) {
        this.importError = parseMarker(line, IMPORT_ERROR_MARKER);
        marker = true;
        this.loadFailed(this.importError?.traceback);
      } else if (line.startsWith(NOT_CALLABLE_MARKER)) {
        this.notCallable = parseMarker(line, NOT_CALLABLE_MARKER);
        marker = true;
      } else if (line.startsWith(LIFESPAN_FAILED_MARKER)) {
        this.lifespanFailed = parseMarker(line, LIFESPAN_FAILED_MARKER);
        marker = true;
        this.loadFailed(this.lifespanFailed?.traceback);
      } else if (line.startsWith(PATCHED_MARKER)) {
        this.patched = parseMarker(line, PATCHED_MARKER);
        marker = true;
      } else if (line.startsWith(LINK_MISMATCH_MARKER)) {
        this.linkMismatch = parseMarker(line, LINK_MISMATCH_MARKER);
        marker = true;
      } else {
        this.recent.push(line);
        if (this.recent.length > 40) this.recent.shift();
      }
    }
    if (marker) return;
    const sink = this.sink;
    if (typeof sink === 'function') sink(line);
    else if (newline) {
      sink.write(`${line}\n`);
      this.markedLast = false;
    } else this.writeUnended(sink, Buffer.from(line));
  }
}

function parseMarker(line: string, marker: string): Record<string, unknown> | null {
  try {
    return JSON.parse(line.slice(marker.length)) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** A marker's `file` and `line` (the app's own line it names), and the two as `file:line`. */
function markerPlace(d: Record<string, unknown>): { file?: string; line?: number; where?: string } {
  const file = typeof d.file === 'string' ? d.file : undefined;
  const line = typeof d.line === 'number' ? d.line : undefined;
  return { file, line, where: file ? (line ? `${file}:${line}` : file) : undefined };
}

/**
 * Why a worker exited before READY, from its exit status and the marker line on stderr. `whose`:
 * the app's name and directory, which a failure that is not the import's names first.
 */
export function startError(app: string, code: number | null, signal: NodeJS.Signals | null, tap: LineTap, whose: { name?: string; dir?: string } = {}): GatewayError {
  const kind = tap.notCallable?.kind;
  if (code === EXIT_APP_LOAD_FAILED && (kind === 'asgi' || kind === 'wsgi' || kind === 'command')) {
    const said = tap.notCallable!.declared;
    const declared = said === 'asgi' || said === 'wsgi' ? said : kind === 'asgi' ? 'wsgi' : 'asgi';
    // An aiohttp app's async factory: its command names the function, not `app:`'s call of it.
    const target = typeof tap.notCallable!.target === 'string' ? { target: tap.notCallable!.target } : {};
    // The server of an app that runs under its own: which command its fix shows.
    const server = tap.notCallable!.server === 'tornado' ? { server: 'tornado' } : {};
    return new GatewayError('APPPKG_APP_OTHER_KIND', { app, found: String(tap.notCallable!.found ?? ''), kind, declared, ...target, ...server });
  }
  if (code === EXIT_APP_LOAD_FAILED && tap.notCallable) {
    return new GatewayError('APPPKG_APP_NOT_CALLABLE', { app, found: String(tap.notCallable.found ?? 'not callable') });
  }
  if (code === EXIT_APP_LOAD_FAILED && tap.patched) {
    const d = tap.patched;
    return new GatewayError('APPPKG_APP_MONKEY_PATCHED', {
      app,
      kind: d.kind === 'asgi' ? 'asgi' : 'wsgi',
      by: String(d.by ?? 'a library'),
      replaced: Array.isArray(d.replaced) ? d.replaced.join(', ') : '',
      where: markerPlace(d).where,
    });
  }
  if (code === EXIT_APP_LOAD_FAILED && tap.lifespanFailed) {
    const d = tap.lifespanFailed;
    const said = typeof d.message === 'string' && d.message !== '' ? d.message : undefined;
    return new GatewayError('APPPKG_APP_LIFESPAN_FAILED', {
      app,
      reason: said ?? 'it sent lifespan.startup.failed with no message',
      appOutput: said,
      silent: said === undefined ? true : undefined,
      traceback: typeof d.traceback === 'string' ? d.traceback : undefined,
      hung: d.hung === true ? true : undefined,
      blocked: d.blocked === true ? true : undefined,
    });
  }
  if (code === EXIT_APP_LOAD_FAILED && tap.importError) {
    const d = tap.importError;
    const { file, line, where } = markerPlace(d);
    return new GatewayError('APPPKG_APP_IMPORT_FAILED', {
      app,
      where,
      reason: `${String(d.type)}: ${String(d.message)}`,
      appOutput: String(d.message) || undefined,
      traceback: typeof d.traceback === 'string' ? d.traceback : undefined,
      appFile: file,
      appLine: line,
      meant: typeof d.meant === 'string' ? d.meant : undefined,
      environ: typeof d.environ === 'string' ? d.environ : undefined,
    });
  }
  const how = code !== null ? `exit status ${code}` : `signal ${signal}`;
  if (code === EXIT_STARTUP_FAILED && tap.linkMismatch) {
    // The gateway's own words, not the app's output: status shows them to every reader, and its
    // fix is a restart, not `check` (which would run the new shim with the new gateway code).
    const d = tap.linkMismatch;
    return new GatewayError('APPPKG_WORKER_START_FAILED', {
      ...whose,
      app,
      reason: `${how}: the Python shim in ${String(d.dir)} speaks link protocol ${String(d.shim)}, this gateway ${String(d.gateway)}`,
      exitCode: code,
      linkMismatch: true,
      output: tap.recent.join('\n'),
    });
  }
  const last = tap.recent.filter((l) => l.trim() !== '').slice(-1)[0];
  return new GatewayError('APPPKG_WORKER_START_FAILED', {
    ...whose,
    app,
    reason: last ? `${how}: ${last.trim()}` : how,
    appOutput: last?.trim(),
    exitCode: code,
    output: tap.recent.join('\n'),
  });
}

