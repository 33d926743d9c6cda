// node:http's parser of a connection, started over where it stopped at an error the gateway
// reads past (net/raw-target.ts: octets >= 0x80 in a target; net/trailer-end.ts: fields
// forbidden in a chunked trailer). The parser object stays the connection's, so node:http's
// queue of requests and answers on it keeps its order; only llhttp's state starts anew. Where
// in the connection's bytes to start it over, llhttp does not say: ReadLog keeps what is needed.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { ChunkSizeLines } from './chunk-size-lines.js';
import { EMPTY_LINE, endsWithSimpleRequest, rememberSocketVersion } from './request-line-version.js';

export interface NodeParser {
  constructor: {
    REQUEST: number; kOnMessageBegin: number; kOnHeadersComplete: number; kOnBody: number; kOnMessageComplete: number; kOnExecute: number;
    kLenientVersion?: number;
  };
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number, connections: unknown): void;
  execute(data: Buffer): number | Error;
  finish(): undefined | Error;
  getCurrentBuffer(): Buffer;
  headersCompleted?(): boolean;
  unconsume?(): void;
  _consumed?: boolean;
  _headers?: unknown[];
  _url?: string;
  incoming?: IncomingMessage | null;
  socket?: Socket | null;
}

/**
 * What the gateway knows of where node:http's parser is in a connection's bytes, by reads (each
 * execute of the parser is one: a read it takes from the socket itself, or bytes node:http gives
 * it from JS, those given back among them). llhttp tells no offsets, only, in order, when a
 * message began, its head ended, a piece of its body came, it ended: with the reads they came in,
 * enough to find where a request line began when llhttp refuses it at an octet
 * (requestLineFrom). A few numbers per request; bytes are kept only while a head is split across
 * reads, and a body's last piece (node:http's copy) until the next head ends.
 */
interface ReadLog {
  /** The read under way, or the last one. */
  read: number;
  /** That read is over: the next takes read + 1. */
  done: boolean;
  /** The read in which the request node:http reads last (or now) began; null after a restart with nothing to read. */
  began: number | null;
  /** The read in which the last head ended. */
  headEnded: number;
  /** The read in which the last message ended; -1: none since the parser (re)started, which was at a message's start. */
  ended: number;
  /** No message begun since the last ended, or since the parser (re)started: llhttp's next octet, past empty lines, begins one. */
  between: boolean;
  /** The read of the last body piece of the last message with a body, and that body's bytes in it. */
  bodyRead: number;
  bodyInRead: number;
  /** That piece. */
  lastPiece: Buffer | null;
  /**
   * The read the request now read began in, and those after it as one, while its head is not
   * all in and its request line may not be (keepSplitHead); the last of them, -1 once a read
   * with an LF after the first ended the line (then kept for the access log: headLineFrom).
   */
  pending: Buffer[];
  pendingRead: number;
  /**
   * The bytes a restart rewrote (restartParser), as sent: the request line of the message read
   * from them (`next` until it begins), for the access log of a refusal of that message.
   */
  sent: { bytes: Buffer; next: boolean } | null;
  /** Bytes kept from the parser (holdBytes), and what decides when it reads them. */
  held: { bytes: Buffer; take: TakeHeld } | null;
  /** The bytes held when the client's FIN cut them (finish), for that head's access-log line. */
  cut: Buffer | null;
  /** Each chunked body's size lines, read beside llhttp (net/chunk-size-lines.ts). */
  sizeLines: ChunkSizeLines;
}

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const kLog = Symbol('apppkg.readLog');
const kLogged = Symbol('apppkg.logged');

export type ParsedSocket = Socket & { parser?: NodeParser | null; [kLog]?: ReadLog };
type Callbacks = NodeParser & Record<number, ((this: NodeParser, ...args: unknown[]) => unknown) | null> & { [kLogged]?: true };

const logOf = (parser: NodeParser): ReadLog | undefined => (parser.socket as ParsedSocket | null | undefined)?.[kLog];

/** The read `log` is in: a new one if the last is over (a read the parser takes itself says so at its first event). */
function enter(log: ReadLog): ReadLog {
  if (log.done) {
    log.read++;
    log.done = false;
  }
  return log;
}

/**
 * From now on, where each request node:http reads on `socket` began and ended is kept (ReadLog),
 * for headBegunAt and requestLineFrom. Call it once node:http has given it a parser.
 */
export function watchRequestStarts(socket: Socket): void {
  const watched = socket as ParsedSocket;
  const parser = watched.parser as Callbacks | null | undefined;
  if (parser == null) return;
  const log: ReadLog = { read: 0, done: true, began: -1, headEnded: -1, ended: -1, between: true, bodyRead: -1, bodyInRead: 0, lastPiece: null, pending: [], pendingRead: -1, sent: null, held: null, cut: null, sizeLines: new ChunkSizeLines() };
  watched[kLog] = log;
  // Every read through execute() below, not by the parser from the handle, whose reads no JS
  // sees: a chunked body's size lines are read beside llhttp (net/chunk-size-lines.ts).
  readFromStream(parser);
  const k = parser.constructor;
  parser[k.kOnMessageBegin] = () => {
    log.began = enter(log).read;
    log.between = false;
    log.pending = [];
    if (log.sent?.next === true) log.sent.next = false;
    else log.sent = null;
  };
  // node:http sets these once per parser, and its pool hands a parser to other connections (and
  // to clients): wrapped once, each finds the log of the socket it reads now, if that has one.
  if (parser[kLogged] !== true) {
    parser[kLogged] = true;
    const headEnded = parser[k.kOnHeadersComplete]!;
    const body = parser[k.kOnBody]!;
    const ended = parser[k.kOnMessageComplete]!;
    const execute = parser.execute;
    const finish = parser.finish;
    parser[k.kOnHeadersComplete] = function (this: NodeParser, ...args: unknown[]) {
      const at = logOf(this);
      if (at !== undefined) {
        at.headEnded = enter(at).read;
        at.lastPiece = null;
        // llhttp's 0.9 is a line without a version, or one that says HTTP/0.9: which, only the bytes tell.
        if (args[0] === 0 && args[1] === 9) markWrittenHttp09(this, at, (args[4] as string | undefined) || this._url || '');
      }
      const skip = headEnded.apply(this, args);
      if (at !== undefined) at.sizeLines.headEnded(this.incoming, skip);
      return skip;
    };
    parser[k.kOnBody] = function (this: NodeParser, piece: unknown) {
      const at = logOf(this);
      if (at !== undefined) {
        if (at.bodyRead !== enter(at).read) at.bodyInRead = 0;
        at.bodyRead = at.read;
        at.bodyInRead += (piece as Buffer).length;
        at.lastPiece = piece as Buffer;
      }
      return body.call(this, piece);
    };
    parser[k.kOnMessageComplete] = function (this: NodeParser) {
      const at = logOf(this);
      if (at !== undefined) {
        at.ended = enter(at).read;
        at.between = true;
      }
      return ended.call(this);
    };
    // A read node:http gives its parser from JS: its error, if any, is handled after this
    // returns, in this read.
    parser.execute = function (this: NodeParser, data: Buffer) {
      const at = logOf(this);
      if (at === undefined) return execute.call(this, data);
      if (at.held !== null) {
        const bytes = Buffer.concat([at.held.bytes, data]);
        const taken = at.held.take(bytes);
        if (taken === undefined) at.held.bytes = bytes;
        else if (taken === null) at.held = { bytes: Buffer.alloc(0), take: () => null };
        else {
          at.held = null;
          if (taken.length > 0) giveBack(this.socket!, taken);
        }
        return data.length;
      }
      at.done = true;
      enter(at);
      // An HTTP/0.9 request line (no version) is the request whole, whatever the client sent
      // after it or how its bytes were split into reads (RFC 9112 Appendix C): llhttp, which
      // would read the lines after it as its fields, is given the line alone. sizeLines gives
      // llhttp a read in pieces cut where a message may begin (a head's end, a body's), so a
      // line begun in this read is at a piece's start, after empty lines: looked for there
      // when llhttp is between messages, the first of the read's or one pipelined after others.
      let simpleEnded = false;
      const run = (piece: Buffer): number | Error => {
        if (simpleEnded) return 0;
        const lineEnd = at.between ? simpleRequestLineEnd(piece) : 0;
        if (lineEnd === 0) return execute.call(this, piece);
        const ret = execute.call(this, piece.subarray(0, lineEnd));
        // Refused (after a message that closed the connection, llhttp reads none): as without the cut.
        if (ret instanceof Error || this.headersCompleted?.() !== false) return ret;
        simpleEnded = true;
        const ended = endSimpleRequest(at, (bytes) => execute.call(this, bytes));
        return ended instanceof Error ? ended : lineEnd;
      };
      const parse = (bytes: Buffer) => at.sizeLines.execute(bytes, run);
      // A line begun in the reads before, ended in this one with fields after it.
      const lineEnd = splitLinePending(at) ? data.indexOf(LF) + 1 : 0;
      let ret: number | Error;
      if (lineEnd > 0 && lineEnd < data.length && endsWithSimpleRequest(Buffer.concat([...at.pending, data.subarray(0, lineEnd)]))) {
        ret = parse(data.subarray(0, lineEnd));
        if (!(ret instanceof Error) && this.headersCompleted?.() === false && endsSimpleRequest(at, data.subarray(0, lineEnd))) {
          ret = endSimpleRequest(at, parse);
          at.done = true;
          if (!(ret instanceof Error)) letPriRequestWait(this);
          return ret instanceof Error ? ret : data.length;
        }
        if (!(ret instanceof Error)) {
          const rest = parse(data.subarray(lineEnd));
          ret = rest instanceof Error ? rest : lineEnd + rest;
        }
      } else {
        ret = parse(data);
        if (simpleEnded) {
          at.done = true;
          if (!(ret instanceof Error)) letPriRequestWait(this);
          return ret instanceof Error ? ret : data.length;
        }
      }
      // A read that ends an HTTP/0.9 request line, begun in it or in the reads before: llhttp,
      // waiting for fields, would wait until --header-timeout (net/request-line-version.ts).
      if (!(ret instanceof Error) && data[data.length - 1] === LF && this.headersCompleted?.() === false && endsSimpleRequest(at, data)) {
        const ended = endSimpleRequest(at, parse);
        if (ended instanceof Error) ret = ended;
      }
      if (!(ret instanceof Error)) keepSplitHead(this, at, data);
      at.done = true;
      if (!(ret instanceof Error)) letPriRequestWait(this);
      return ret;
    };
    // node:http asks at the client's FIN (socketOnEnd) whether a message was cut. Bytes held
    // back are one begun (a request line not all in, a trailer section): cut, as llhttp says of
    // one it holds itself, so that the client gets its 400 rather than a close without a word.
    parser.finish = function (this: NodeParser) {
      const at = logOf(this);
      // As llhttp's own finish after its error: nothing more (a cut message's 400 would take the refusal's place).
      if (at?.sizeLines.refusedOne === true) return undefined;
      if (at === undefined || at.held === null || at.held.bytes.length === 0) return finish.call(this);
      at.cut = at.held.bytes;
      at.held = { bytes: Buffer.alloc(0), take: () => null };
      return Object.assign(new Error('Parse Error: Invalid EOF state'), { code: 'HPE_INVALID_EOF_STATE', reason: 'Invalid EOF state' });
    };
  }
  // A read the parser took from the socket itself: node:http hears of it after, its error, if
  // any, handled within.
  const onExecute = parser[k.kOnExecute];
  if (typeof onExecute === 'function') {
    parser[k.kOnExecute] = function (this: NodeParser, ...args: unknown[]) {
      enter(log);
      if (!(args[0] instanceof Error)) letPriRequestWait(this);
      const ret = onExecute.apply(this, args);
      if (!(args[0] instanceof Error) && logOf(this) === log) keepSplitHead(this, log, null);
      log.done = true;
      return ret;
    };
  }
}

/**
 * node:http destroys the socket, without a word, after any read that leaves its parser on a
 * request whose method is PRI (HTTP/2's preface, which llhttp otherwise stops at: a line with a
 * version), and llhttp reads `PRI /x` (no version) as an HTTP/0.9 request. Pipelined behind a
 * request whose answer was not out yet, that answer was lost with the connection (seed 38 case
 * 298 of lean-differential). The request was read whole (net/request-line-version.ts) and given
 * to the front, which answers it 400 in its turn and closes the connection; node:http lets go
 * of its parser's request so once it is answered, and now earlier.
 */
function letPriRequestWait(parser: NodeParser): void {
  if (parser.incoming?.method === 'PRI') parser.incoming = null;
}

/**
 * Whether `data`, the read just parsed, ends a request line without a version that began in it
 * or, its line not yet ended, in the reads kept before it (keepSplitHead: a client that sent
 * `GE`, then `T /` CRLF).
 */
function endsSimpleRequest(log: ReadLog, data: Buffer): boolean {
  if (log.began === log.read) return endsWithSimpleRequest(data);
  if (!splitLinePending(log) || data.indexOf(LF) !== data.length - 1) return false;
  return endsWithSimpleRequest(Buffer.concat([...log.pending, data]));
}

/** The reads before this one hold a request line begun and not ended (keepSplitHead). */
function splitLinePending(log: ReadLog): boolean {
  return log.pending.length > 0 && log.pendingRead === log.read - 1;
}

/**
 * Where, in `piece` (given to llhttp between messages), an HTTP/0.9 request line it begins
 * with (after empty lines, which llhttp skips) ends, past its LF; 0 when it begins with none.
 * Asked of every request node:http reads: a request line with its version is told by its
 * second run of spaces, within its first bytes, without a call into C++ or a copy.
 */
function simpleRequestLineEnd(piece: Buffer): number {
  let at = 0;
  while (at < piece.length && (piece[at] === CR || piece[at] === LF)) at++;
  // Runs of spaces: llhttp takes several before the target (`GET  /x`).
  let gaps = 0;
  let before = 0;
  for (let i = at; i < piece.length; i++) {
    const octet = piece[i];
    if (octet === SP) {
      if (before !== SP && ++gaps === 2) return 0;
    } else if (octet === LF) return gaps === 1 && endsWithSimpleRequest(piece.subarray(at, i + 1)) ? i + 1 : 0;
    before = octet;
  }
  return 0;
}

/**
 * llhttp, having read an HTTP/0.9 request line, is given the empty line that ends the request
 * (EMPTY_LINE); nothing after it is read: the front refuses the request and closes the
 * connection (net/request-head.ts), and what the client sent after it is no request of its own.
 */
function endSimpleRequest(log: ReadLog, parse: (bytes: Buffer) => number | Error): number | Error {
  const ended = parse(EMPTY_LINE);
  log.held = { bytes: Buffer.alloc(0), take: () => null };
  return ended;
}

/**
 * The head whose end llhttp read as HTTP/0.9 said `HTTP/0.9` after its target `url`: the version
 * as sent is remembered for the request (restoreSentVersion). Else its line had no version, as
 * versionAsSent takes an unmarked 0.9 to be. Its bytes: the read it ends in, when it began there;
 * else the reads kept from its first (keepSplitHead) and that one, which keepSplitHead has not
 * kept yet and which may hold the rest of its line (`POS`, then `T /x HTTP/0.9` CRLF and fields:
 * its 400 said the line had no version).
 */
function markWrittenHttp09(parser: NodeParser, log: ReadLog, url: string): void {
  const bytes = log.began === log.read ? parser.getCurrentBuffer() : Buffer.concat([...log.pending, parser.getCurrentBuffer()]);
  const line = ` ${url} HTTP/0.9`;
  for (let at = bytes.indexOf(line, 0, 'latin1'); at !== -1; at = bytes.indexOf(line, at + 1, 'latin1')) {
    const next = bytes[at + line.length];
    if (next === 0x0d || next === LF) return rememberSocketVersion(parser.socket!, '0.9');
  }
}

/**
 * After a read: its bytes are kept while the request line begun in it, or in one kept before, may
 * not be all in; the reads after the first as one, as the lean lane keeps a line it holds. A
 * later read with an LF ends the line: it is kept too, and no more, until the head ends, so that
 * a field refused in a later read is logged with the head's request line (headLineFrom), not
 * with that read's first bytes; only a target's octet needs the reads up to the refusal.
 */
function keepSplitHead(parser: NodeParser, log: ReadLog, data: Buffer | null): void {
  const inHead = log.began !== null && log.began >= 0 && parser.headersCompleted?.() === false;
  if (!inHead || (log.began !== log.read && log.pending.length === 0)) {
    log.pending = [];
    return;
  }
  if (log.began !== log.read && log.pendingRead !== log.read - 1) return; // the line is in
  const bytes = data ?? parser.getCurrentBuffer();
  log.pending = log.began === log.read ? [bytes] : [log.pending[0], Buffer.concat(log.pending.slice(1).concat(bytes))];
  log.pendingRead = log.began !== log.read && bytes.indexOf(LF) !== -1 ? -1 : log.read;
}

/**
 * The read in which the request node:http reads last (or now) began (watchRequestStarts); null
 * when none has begun since its parser started over with nothing to read: the connection is
 * idle, though node:http's clock for a head runs from that start.
 */
export function headBegunAt(socket: Socket): number | null | undefined {
  return (socket as ParsedSocket)[kLog]?.began;
}

const CRLF_CRLF = Buffer.from('\r\n\r\n', 'latin1');
/** Empty lines (llhttp skips them), a method, its spaces (one or more, as llhttp reads them), and a target up to where llhttp stopped (by default). */
const LINE_BEGUN = /^[\r\n]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+ +[\x21-\x7e]*$/;

/**
 * The bytes from the first of the request line llhttp refused at `at` in `packet` (the read it
 * failed in) to that read's end, the reads before it that hold the line's start included; null
 * when where it began is not certain. `previous` is the request node:http read before it;
 * `begunAs`, what the line up to `at` must be (by default, llhttp stopped in its target).
 */
export function requestLineFrom(socket: Socket, packet: Buffer, at: number, previous: IncomingMessage | undefined, begunAs = LINE_BEGUN): Buffer | null {
  const log = (socket as ParsedSocket)[kLog];
  if (log === undefined || log.began === null || log.began < 0) return null;
  // The read the line began in, and, when that is an earlier one (kept), the reads after it.
  let first = packet;
  let upTo = at;
  let later: Buffer[] = [];
  if (log.began !== log.read) {
    if (log.pending.length === 0 || log.pendingRead !== log.read - 1) return null;
    [first, ...later] = log.pending;
    upTo = first.length;
  }
  let start = messageStart(log, first, upTo, previous, begunAs);
  if (start < 0) return null;
  while (start < upTo && (first[start] === 0x0d || first[start] === LF)) start++;
  const begun = first === packet ? packet.subarray(start, at) : Buffer.concat([first.subarray(start), ...later, packet.subarray(0, at)]);
  if (!begunAs.test(begun.toString('latin1'))) return null;
  return first === packet ? Buffer.from(packet.subarray(start)) : Buffer.concat([first.subarray(start), ...later, packet]);
}

/** After a blank line (a head's or a chunked body's end): where a message may begin. */
const BLANK_LINE = /\n\r?\n/g;
/** A head as it begins: empty lines, a method, a space. */
const HEAD_BEGUN = /^[\r\n]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+ /;

/**
 * The head node:http reads now, from its first byte to the end of what is kept of it (its
 * request line at least), when it began in a read before `packet`, the one its parser refused
 * it in: the access log's line for a field refused in a later read is the head's, not that
 * read's first bytes. Null when the head began in `packet` (or nothing of it is kept), or where
 * it began is not certain.
 */
export function headLineFrom(socket: Socket, packet: Buffer, previous: IncomingMessage | undefined): Buffer | null {
  const log = (socket as ParsedSocket)[kLog];
  if (log === undefined || log.began === log.read) return null;
  return keptHead(log, previous, log.pendingRead === log.read - 1 ? packet : null);
}

/**
 * The head node:http refused at `at` in `packet` (the read it failed in), when it began in that
 * read right after the body, framed by Content-Length, of the message before it (`previous`),
 * which ended there too: from its first byte to the read's end. Null otherwise: a head after a
 * message without a body, or a chunked one, begins after the read's last blank line before
 * `at` (request-head.ts rejectedRequestLine), which here is that message's head's, and the
 * body's bytes began the line found (`helloHEAD / HTTP/1.1`: no HEAD's refusal, a body in it).
 */
export function headAfterBodyIn(socket: Socket, packet: Buffer, at: number, previous: IncomingMessage | undefined): Buffer | null {
  const log = (socket as ParsedSocket)[kLog];
  if (log === undefined || log.began === null || log.began !== log.read || log.ended !== log.read || !(bodyLength(previous) > 0)) return null;
  const start = messageStart(log, packet, at, previous, HEAD_BEGUN);
  return start < 0 ? null : packet.subarray(start);
}

/**
 * The head node:http reads now and has not all of (the client stopped sending it, or sent a FIN
 * within it), from its first byte to the end of what is kept of it, its request line as far as
 * it came at least: the access log's line for its 408 or 400, which no parser error carries.
 * Null when no head is begun, or where it began is not certain.
 */
export function unfinishedHeadOf(socket: Socket, previous: IncomingMessage | undefined): Buffer | null {
  const log = (socket as ParsedSocket)[kLog];
  if (log === undefined) return null;
  // A request line held from the parser until its LF (restartParser), which never came; not a
  // trailer section held (its lines are fields).
  const held = log.held !== null && log.held.bytes.length > 0 ? log.held.bytes : log.cut;
  if (held !== null && HEAD_BEGUN.test(held.toString('latin1', 0, 64))) return held;
  return keptHead(log, previous, null);
}

/** The head begun in the first read `log` keeps, from its first byte, with the reads kept after it and `packet`. */
function keptHead(log: ReadLog, previous: IncomingMessage | undefined, packet: Buffer | null): Buffer | null {
  if (log.began === null || log.began < 0 || log.pending.length === 0) return null;
  const [first, ...later] = log.pending;
  let start: number;
  if (log.ended !== log.began || bodyLength(previous) === 0) {
    // Nothing of the message before is in the read, or it ended in a blank line (no body, or
    // chunked): a head not all in holds none, so the message begins after the read's last.
    start = 0;
    for (const m of first.toString('latin1').matchAll(BLANK_LINE)) start = m.index! + m[0].length;
  } else {
    start = messageStart(log, first, first.length, previous, HEAD_BEGUN);
  }
  if (start < 0) return null;
  const bytes = Buffer.concat(packet === null ? [first.subarray(start), ...later] : [first.subarray(start), ...later, packet]);
  let at = 0;
  while (at < bytes.length && (bytes[at] === 0x0d || bytes[at] === LF)) at++;
  return at < bytes.length ? bytes.subarray(at) : null;
}

/**
 * Where the message that began in read `chunk` (the log's `began`) starts in it: its bytes up to
 * `upTo` are that message's, after whatever of the one before it (`previous`) they hold. -1
 * when not certain.
 */
function messageStart(log: ReadLog, chunk: Buffer, upTo: number, previous: IncomingMessage | undefined, begunAs: RegExp): number {
  const lastLf = upTo === 0 ? -1 : chunk.lastIndexOf(LF, upTo - 1);
  // The message before ended in an earlier read (or none did since the parser started at a
  // message's start), or in this one with an LF (no body, or chunked): the line has no LF.
  if (log.ended !== log.began || bodyLength(previous) === 0) return lastLf + 1;
  const length = bodyLength(previous);
  // Its body ends in this read: the read began within it (its head ended earlier), or holds the
  // whole of it, right after its head's CRLF CRLF, with nothing but this line after it.
  if (log.headEnded !== log.began) return log.bodyRead === log.began ? log.bodyInRead : -1;
  const piece = log.lastPiece;
  if (piece === null || piece.length !== length) return -1;
  let found = -1;
  for (let i = chunk.indexOf(piece, 1); i !== -1 && i + length <= upTo; i = chunk.indexOf(piece, i + 1)) {
    if (!headEndsBefore(chunk, i) || !begunAs.test(chunk.toString('latin1', i + length, upTo))) continue;
    if (found !== -1) return -1; // two places it could be: not certain
    found = i + length;
  }
  return found;
}

/**
 * A head's CRLF CRLF ends at `at` in `chunk`, a read the head ended in: all of it, or, at the
 * read's start, its end (`<LF>`, `<CR><LF>`, `<LF><CR><LF>`), the rest in the read before. A
 * client's pieces fall anywhere: when a read began inside the CRLF CRLF, the whole of it was
 * looked for, the line after the body was not found, and llhttp's refusal of its method stood
 * where another split had it read again (lean-differential's seed 26 case 269).
 */
function headEndsBefore(chunk: Buffer, at: number): boolean {
  if (at >= CRLF_CRLF.length) return chunk.subarray(at - CRLF_CRLF.length, at).equals(CRLF_CRLF);
  return chunk.subarray(0, at).equals(CRLF_CRLF.subarray(CRLF_CRLF.length - at));
}

/** The length of `req`'s body, 0 when its message ended in an LF (none, or chunked), NaN when not known. */
function bodyLength(req: IncomingMessage | undefined): number {
  if (req === undefined || req.headers['transfer-encoding'] !== undefined) return 0;
  const length = req.headers['content-length'];
  return length === undefined ? 0 : Number(length);
}

/**
 * `socket`'s parser (just made by node:http's connection listener) reads a request line's version
 * as RFC 9112 §2.3 asks: HTTP/1.2 to 1.9 as the 1.1 it is to be treated as (front.ts serves it so:
 * net/request-line-version.ts restoreSentVersion), where llhttp refuses it 400 unless told to be
 * lenient there. Only that: every other check of llhttp's stays strict (no insecureHTTPParser;
 * a chunk size's BWS and extensions it is not given: net/chunk-size-lines.ts). Another major
 * version or an HTTP/0.x other than 0.9 is still refused, by the front (505, 400) rather than by
 * llhttp.
 */
export function readVersionsAsRfc(socket: Socket): void {
  const parser = (socket as ParsedSocket).parser;
  const server = (socket as Socket & { server?: { maxHeaderSize?: number } }).server;
  if (parser == null || server == null) return;
  initialize(parser, socket, server);
}

/** Started as node:http starts a connection's parser, with its limits and in its list of connections, leniently only about versions. */
function initialize(parser: NodeParser, socket: Socket, server: { maxHeaderSize?: number }): void {
  const resource = { type: 'HTTPINCOMINGMESSAGE', socket };
  const k = parser.constructor;
  parser.initialize(k.REQUEST, resource, server.maxHeaderSize ?? 0, k.kLenientVersion ?? 0, connectionsOf(server));
}

/** node:http's list of its connections' parsers, for its header and request timeouts. */
function connectionsOf(server: object): unknown {
  const key = Object.getOwnPropertySymbols(server).find((s) => s.description === 'http.server.connections');
  return key === undefined ? undefined : (server as Record<symbol, unknown>)[key];
}

/**
 * Decides what becomes of bytes held back from the parser (holdBytes), all of them so far:
 * undefined holds them on, for more; a Buffer is what the parser reads next, from a message's
 * start (empty: nothing); null drops them and all that comes after.
 */
export type TakeHeld = (bytes: Buffer) => Buffer | null | undefined;

/**
 * `socket`'s parser starts over at a message's first byte, and reads `rest` (that message, and
 * all that followed it) before any later read; with `rewriteLine`, `rest` as it makes it once
 * its first line is all in (a request line not all there yet is held until its LF comes, at
 * most as long as a head may be). False when node:http no longer reads `socket`, when the
 * rewrite changes nothing, or a line held would be longer than a head may be.
 */
export function restartParser(socket: Socket, rest: Buffer, rewriteLine?: (bytes: Buffer) => Buffer): boolean {
  if (rewriteLine === undefined) return startOver(socket, rest);
  // A line the rewrite leaves as it was, llhttp would refuse again, and again: its refusal stands.
  if (rest.indexOf(LF) !== -1) {
    const line = rewriteLine(rest);
    return line !== rest && startOver(socket, line) && noteSent(socket, rest);
  }
  if (rest.length > maxHeaderSizeOf(socket)) return false;
  // A head begun: its clock (node:http's, from the restart) runs while its line comes.
  return holdBytes(socket, rest, true, (line) => {
    if (line.indexOf(LF) !== -1) {
      noteSent(socket, line);
      return rewriteLine(line);
    }
    // Past a head's limit without an LF, llhttp reads it: its refusal stands (this holds no more).
    return line.length > maxHeaderSizeOf(socket) ? line : undefined;
  });
}

/**
 * The message read next on `socket` is read from a rewrite of `bytes`: a refusal of it is logged
 * with their request line as sent (sentHeadOf), not llhttp's rewrite (`GT /caf\xe9` read as
 * `PATCH /caf%E9`). True, for restartParser's answer.
 */
function noteSent(socket: Socket, bytes: Buffer): boolean {
  const log = (socket as ParsedSocket)[kLog];
  // A message read from a rewrite, rewritten again (its method, then its target): as first sent.
  if (log !== undefined) log.sent = { bytes: log.sent?.next === false ? log.sent.bytes : bytes, next: true };
  return true;
}

/** The bytes, as sent, from which node:http reads the message it reads now, when a restart rewrote them (restartParser); else null. */
export function sentHeadOf(socket: Socket): Buffer | null {
  const sent = (socket as ParsedSocket)[kLog]?.sent;
  return sent == null || sent.next ? null : sent.bytes;
}

/**
 * `socket`'s parser starts over with nothing to read, and `bytes`, and what comes after them,
 * are kept from it until `take` says what it reads (TakeHeld). `timed`: node:http's clock for a
 * head runs meanwhile (a request line held), else no head has begun. False when node:http no
 * longer reads `socket`.
 */
export function holdBytes(socket: Socket, bytes: Buffer, timed: boolean, take: TakeHeld): boolean {
  const log = (socket as ParsedSocket)[kLog];
  if (log === undefined || !startOver(socket, Buffer.alloc(0))) return false;
  log.held = { bytes, take };
  if (timed) log.began = log.read;
  return true;
}

function startOver(socket: Socket, rest: Buffer): boolean {
  const parser = (socket as ParsedSocket).parser;
  const server = (socket as Socket & { server?: { maxHeaderSize?: number } }).server;
  if (parser == null || server == null || !socket.writable) return false;
  // Started over as the hand-off started it (readVersionsAsRfc); the JS side's partial head is
  // dropped with it.
  initialize(parser, socket, server);
  parser._headers = [];
  parser._url = '';
  // Read from the socket's stream from now on (not by the parser from the handle), so that
  // the bytes given back are read before any that come later.
  readFromStream(parser);
  const log = (socket as ParsedSocket)[kLog];
  if (log !== undefined) {
    log.sizeLines.reset();
    // What is given back starts at a message's start: what came before is no longer the parser's.
    log.ended = -1;
    log.between = true;
    log.pending = [];
    log.held = null;
    log.cut = null;
    if (rest.length === 0) log.began = null;
  }
  if (rest.length > 0) giveBack(socket, rest);
  return true;
}

/** node:http gives `parser` each read of its socket from JS (socketOnData), through execute(). */
function readFromStream(parser: NodeParser): void {
  if (parser._consumed === true) {
    parser.unconsume?.();
    parser._consumed = false;
  }
}

export function maxHeaderSizeOf(socket: Socket): number {
  return (socket as Socket & { server?: { maxHeaderSize?: number } }).server?.maxHeaderSize ?? 16 * 1024;
}

/** `bytes` are the next the socket's reader (node:http's 'data' listener) gets, before any read later. */
function giveBack(socket: Socket, bytes: Buffer): void {
  // On the next turn, not now: unshift into a flowing socket reads them at once, within the
  // parser's error (or read) being handled, and a read of many such requests pipelined would
  // nest one restart in another until the stack ran out. Paused meanwhile, the socket reads
  // nothing else before them; it flows again unless node:http paused it for its own reasons.
  const flowing = socket.readableFlowing === true;
  socket.pause();
  socket.unshift(bytes);
  if (flowing) {
    process.nextTick(() => {
      if (!socket.destroyed && (socket as Socket & { _paused?: boolean })._paused !== true) socket.resume();
    });
  }
}
