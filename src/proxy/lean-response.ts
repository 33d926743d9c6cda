// The response to a plain request (net/plain-head.ts, lean-request.ts) on the lean lane
// (lean-lane.ts): the part of ServerResponse the way to a Python worker uses (forward-wsgi.ts,
// wsgi-exchange.ts, the dispatcher's queue, error-response.ts, the access log) and a static
// file's (static-response.ts), and nothing else. The lane only gives the proxy requests that go
// those ways, or that the gateway answers itself (error-response.ts sendError: a 404, a 503); a
// request for a process's route goes to node:http instead. What
// goes on the wire is what node:http would write for the same calls: the app's fields, Date,
// Connection and Keep-Alive, chunked framing when the app gave no Content-Length (to an
// HTTP/1.0 client: none, the body ends with the connection), no body for HEAD, 204 and 304.

import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { QuietEmitter, type LeanRequest } from './lean-request.js';
import { kServedBy, type ResponseTally } from './served-by.js';
import { kTracked, type InFlightRequest } from './requests-in-flight.js';
import { saysClose } from '../net/connection-close.js';
import { isHttpToken } from '../net/http-token.js';
import type { WriteCallback, WriteListener } from '../net/socket-writes.js';
import { putLatin1 } from '../net/latin1-bytes.js';

/** What the response writes through: its connection, which keeps pipelined responses in order. */
export interface ResponseOutput {
  /** Bytes of `res`, in order; `done` once they are in the kernel's hands (with an error: never). */
  send(res: LeanResponse, data: string | Buffer, done?: WriteCallback): void;
  /** `res` wrote its last bytes (`end()`): the next response may write. */
  ended(res: LeanResponse): void;
  /** `res`'s last bytes are in the kernel's hands. */
  finished(res: LeanResponse): void;
  /** Cuts the connection (a response that cannot be finished must not look complete). */
  destroy(): void;
  /** Seconds for the Keep-Alive field. */
  readonly keepAliveSeconds: number;
  /**
   * The gateway stops and `res` is the last thing the connection has to answer: it says
   * Connection: close. One with a request behind it keeps the connection for that one.
   */
  closesAfter(res: LeanResponse): boolean;
}

export type { WriteCallback } from '../net/socket-writes.js';

type HeaderInput = readonly string[] | Record<string, string | number> | undefined;

/**
 * The fields, rendered once per distinct array or object: wsgi-exchange.ts shares an array per
 * head, static-response.ts an object per version of a file.
 */
interface Fields {
  lines: string;
  contentLength: boolean;
  /** Its value, when it is one number: where the body ends (LeanResponse.complete). */
  length: number | null;
  date: boolean;
  /** The app's own Connection field: undefined when it gave none. */
  connection: string | undefined;
  /** The last head made with these fields (headText): the next response's, most of the time. */
  last: RenderedHead | null;
}

/** A whole response head and what it was made of. */
interface RenderedHead {
  code: number;
  reason: string;
  /** The Date line it has ('' when the app gave its own): the same string all through a second. */
  date: string;
  keepAlive: boolean;
  keepAliveSeconds: number;
  chunked: boolean;
  text: string;
}

const renderedFields = new WeakMap<object, Fields>();
const NO_FIELDS: Fields = { lines: '', contentLength: false, length: null, date: false, connection: undefined, last: null };

const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

function invalid(code: string, message: string): Error {
  return Object.assign(new TypeError(message), { code });
}

function renderFields(headers: HeaderInput): Fields {
  if (headers === undefined) return NO_FIELDS;
  const cached = renderedFields.get(headers);
  if (cached !== undefined) return cached;
  const flat: string[] = Array.isArray(headers) ? (headers as string[]) : Object.entries(headers).flatMap(([n, v]) => [n, String(v)]);
  const fields: Fields = { lines: '', contentLength: false, length: null, date: false, connection: undefined, last: null };
  for (let i = 0; i < flat.length; i += 2) {
    const name = flat[i];
    const value = flat[i + 1];
    // As node:http's writeHead: a field it would refuse is refused here too (the exchange answers 502).
    if (!isHttpToken(name)) throw invalid('ERR_INVALID_HTTP_TOKEN', `Header name must be a valid HTTP token ["${name}"]`);
    if (BAD_VALUE.test(value)) throw invalid('ERR_INVALID_CHAR', `Invalid character in header content ["${name}"]`);
    const lower = name.toLowerCase();
    if (lower === 'content-length') {
      fields.contentLength = true;
      fields.length = /^\s*\d+\s*$/.test(value) ? Number(value) : null;
    }
    else if (lower === 'date') fields.date = true;
    else if (lower === 'connection') fields.connection = value;
    fields.lines += `${name}: ${value}\r\n`;
  }
  renderedFields.set(headers, fields);
  return fields;
}

let dateSecond = -1;
let dateField = '';
/** The Date field, made once a second. */
function dateLine(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateField = `Date: ${new Date(now).toUTCString()}\r\n`;
  }
  return dateField;
}

/**
 * The head (status line, fields, Date, Connection, framing, the blank line), made again only
 * when something in it changed since the last response with the same fields: responses of one
 * app mostly share their fields (wsgi-exchange.ts), and a head made per response was ~0.3 KB of
 * garbage each (docs/performance.md, 2026-12-03).
 */
function headText(fields: Fields, code: number, reason: string, keepAlive: boolean, keepAliveSeconds: number, chunked: boolean): string {
  const date = fields.date ? '' : dateLine();
  const last = fields.last;
  if (
    last !== null && last.code === code && last.reason === reason && last.date === date &&
    last.keepAlive === keepAlive && last.keepAliveSeconds === keepAliveSeconds && last.chunked === chunked
  ) {
    return last.text;
  }
  let text = `HTTP/1.1 ${code} ${reason}\r\n${fields.lines}${date}`;
  if (fields.connection === undefined) {
    text += keepAlive ? `Connection: keep-alive\r\nKeep-Alive: timeout=${keepAliveSeconds}\r\n` : 'Connection: close\r\n';
  }
  if (chunked) text += 'Transfer-Encoding: chunked\r\n';
  text += '\r\n';
  fields.last = { code, reason, date, keepAlive, keepAliveSeconds, chunked, text };
  return text;
}

const LAST_CHUNK = '0\r\n\r\n';

/** `Buffer.from(s, 'latin1')` without its way through the encodings (net/latin1-bytes.ts). */
function latin1Buffer(s: string): Buffer {
  const bytes = Buffer.allocUnsafe(s.length);
  putLatin1(bytes, 0, s);
  return bytes;
}

/**
 * The prototype of a response's listener table: no Object.prototype names in it, as in
 * EventEmitter's own table, but tables made from it are ordinary objects of one shape, where
 * EventEmitter's (`{ __proto__: null }`) is a dictionary of ~0.2 KB.
 */
const LISTENER_TABLE = Object.create(null) as object;

/** A table with room for 'close', which every response is listened to for (front.ts track, wsgi-exchange.ts). */
function closeListenerTable(): object {
  const table = Object.create(LISTENER_TABLE) as { close: undefined };
  table.close = undefined;
  return table;
}

export class LeanResponse extends QuietEmitter implements WriteListener {
  // EventEmitter's methods read a listener absent when its entry is undefined, as Readable's
  // table of named entries has it (Node's own streams build theirs so).
  override _events: object | undefined = closeListenerTable();
  statusCode = 200;
  headersSent = false;
  writableEnded = false;
  writableFinished = false;
  destroyed = false;
  /** Keep the connection after this response (the client did not say close). */
  shouldKeepAlive: boolean;
  /** The connection closes after this response (the client or the app said so, or the gateway stops). */
  last = false;
  /** Bytes waiting for this response's turn on the connection (an earlier pipelined one still writes). */
  backlog: Array<{ data: string | Buffer; done: WriteCallback | undefined }> | null = null;
  /** The body's bytes given to the connection: the access log's size column. */
  bodyBytes = 0;
  /** Whether its bytes wait for the rest of its request's body was chosen, at the piece that completes it (lean-connection.ts holdForBody). */
  bodyWaitChosen = false;
  /** Who answered it (served-by.ts), declared so that marking it keeps the object's shape. */
  [kServedBy]: ResponseTally | undefined = undefined;
  /** Its request in flight (requests-in-flight.ts), declared for the same reason. */
  [kTracked]: InFlightRequest | undefined = undefined;
  private head: string | null = null;
  private hasBody: boolean;
  private chunked = false;
  /** The body's length its Content-Length gives, or null (chunked, unframed, none given). */
  private length: number | null = null;

  constructor(
    private readonly output: ResponseOutput,
    readonly req: LeanRequest,
    keepAlive: boolean,
  ) {
    super();
    this.shouldKeepAlive = keepAlive;
    this.hasBody = req.method !== 'HEAD';
  }

  get socket(): Socket {
    return this.req.socket;
  }

  writeHead(code: number, reason?: string | HeaderInput, headers?: HeaderInput): this {
    if (this.headersSent) throw invalid('ERR_HTTP_HEADERS_SENT', 'Cannot write headers after they are sent to the client');
    if (typeof reason !== 'string') {
      headers = reason;
      reason = STATUS_CODES[code] ?? 'unknown';
    } else if (BAD_VALUE.test(reason)) {
      throw invalid('ERR_INVALID_CHAR', 'Invalid character in statusMessage');
    }
    const fields = renderFields(headers);
    this.statusCode = code;
    if (code === 204 || code === 304 || code < 200) this.hasBody = false;
    const keepAlive = this.shouldKeepAlive && !this.output.closesAfter(this);
    // As node:http's _storeHeader: a body with no Content-Length and no chunking (an HTTP/1.0
    // client, lean-request.ts) ends with the connection, so the head says no keep-alive. An
    // answer with no body (HEAD, 204, 304) has nothing to delimit and keeps the connection the
    // client asked to keep, as nginx keeps it (node:http's too: net/bodiless-keep-alive.ts).
    const unframed = !fields.contentLength && !this.req.chunkedAnswers && this.hasBody;
    if (fields.connection !== undefined) this.last = !keepAlive || saysClose(fields.connection) || unframed;
    else if (!keepAlive || unframed) this.last = true;
    this.chunked = !fields.contentLength && this.hasBody && !unframed;
    this.length = fields.length;
    this.head = headText(fields, code, reason, keepAlive && !unframed, this.output.keepAliveSeconds, this.chunked);
    this.headersSent = true;
    return this;
  }

  /**
   * Do the bytes given to the connection so far make the whole response, as its reader frames
   * it: ended, a head with no body (HEAD, 204, 304), or its Content-Length's worth of body. Read
   * by the lane as each piece goes (lean-connection.ts holdForBody): only the piece that completes the
   * answer waits for the request's body.
   */
  get complete(): boolean {
    return this.writableEnded || (this.headersSent && !this.hasBody) || (this.length !== null && this.bodyBytes >= this.length);
  }

  /** Sends the head now, without waiting for the first piece of the body. */
  flushHeaders(): void {
    if (this.head === null) return;
    const head = this.head;
    this.head = null;
    this.output.send(this, head);
  }

  write(chunk: string | Buffer, encodingOrDone?: BufferEncoding | (() => void), done?: () => void): boolean {
    const callback = typeof encodingOrDone === 'function' ? encodingOrDone : done;
    if (this.writableEnded || this.destroyed) return false;
    if (!this.headersSent) this.writeHead(this.statusCode);
    if (!this.hasBody || chunk.length === 0) {
      this.flushHeaders();
      if (callback) process.nextTick(callback);
      return true;
    }
    this.sendBody(chunk, callback, '');
    return true;
  }

  end(chunk?: string | Buffer | (() => void), encoding?: BufferEncoding | (() => void)): this {
    if (typeof chunk === 'function' || typeof encoding === 'function') throw new TypeError('LeanResponse.end takes no callback');
    if (this.writableEnded || this.destroyed) return this;
    if (!this.headersSent) this.writeHead(this.statusCode);
    this.writableEnded = true;
    const trailer = this.chunked ? LAST_CHUNK : '';
    // Told by written(), below.
    if (chunk !== undefined && chunk.length > 0 && this.hasBody) this.sendBody(chunk, this, trailer);
    else {
      const head = this.head ?? '';
      this.head = null;
      this.output.send(this, head + trailer, this);
    }
    this.output.ended(this);
    return this;
  }

  /** One piece of the body (with the head before it, the first time), framed for the wire. */
  private sendBody(chunk: string | Buffer, done: WriteCallback | undefined, trailer: string): void {
    let before = this.head ?? '';
    this.head = null;
    this.bodyBytes += chunk.length; // a string here is latin-1: a char per byte
    if (this.chunked) before += `${chunk.length.toString(16)}\r\n`;
    const after = this.chunked ? `\r\n${trailer}` : trailer;
    if (typeof chunk === 'string') {
      // Strings here are latin-1 (wsgi-exchange.ts): head, body and framing leave in one write,
      // copied into one Buffer (from Node's pool, outside V8's heap): joined as a string, V8
      // made a flat copy of the whole answer in the young generation as it was written.
      const bytes = Buffer.allocUnsafe(before.length + chunk.length + after.length);
      putLatin1(bytes, putLatin1(bytes, putLatin1(bytes, 0, before), chunk), after);
      this.output.send(this, bytes, done);
      return;
    }
    // Head, body and framing in one writev, not a system call each; as Buffers, which the
    // socket's writev takes without asking each piece for its encoding and copying strings.
    const socket = this.socket;
    socket.cork();
    if (before !== '') this.output.send(this, latin1Buffer(before));
    if (after === '') this.output.send(this, chunk, done);
    else {
      this.output.send(this, chunk);
      this.output.send(this, latin1Buffer(after), done);
    }
    socket.uncork();
  }

  /** Its last bytes are in the kernel's hands, or (`err`) never will be. */
  written(err?: Error | null): void {
    if (err) this.closedUnfinished();
    else this.finished();
  }

  private finished(): void {
    if (this.destroyed) return;
    this.writableFinished = true;
    this.output.finished(this);
    this.emit('close');
  }

  /** The connection closed before this response was in the kernel's hands (the client left, or it was cut). */
  closedUnfinished(): void {
    if (this.writableFinished || this.destroyed) return;
    this.destroyed = true;
    this.emit('close');
  }

  destroy(): this {
    this.output.destroy();
    return this;
  }

  /** A plain request never says Expect: nothing to continue. */
  writeContinue(): void {}
}
