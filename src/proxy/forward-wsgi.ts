// Node's http request/response <-> link frames, for one request to a WSGI worker.
// Node has parsed the request already: it goes on pre-parsed, as one REQUEST frame of
// NUL-separated latin-1 fields (docs/protocol.md), the body as REQUEST_BODY frames within a
// window the worker credits back as the app reads. The response comes back as one
// RESPONSE_FULL frame in the common case, or streams (RESPONSE, RESPONSE_BODY..., RESPONSE_END)
// within a window we credit back as the client takes it.

import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import {
  CREDIT_STEP,
  Frame,
  REQUEST_WINDOW,
  encodeLatin1Frame,
  encodeU32Frame,
  frameHeader,
} from '../link/frames.js';
import type { LinkExchange, WorkerLink } from '../link/worker-link.js';

/** Where the request is going, as the router and the forwarded-headers rules decided. */
export interface WsgiRoute {
  /** The mount, percent-decoded (bytes as latin-1), '' for the root; never '/'. */
  scriptName: string;
  /** The rest of the path, percent-decoded (bytes as latin-1), starting with '/' (or ''). */
  pathInfo: string;
  remoteAddr: string;
  remotePort: number;
  scheme: 'http' | 'https';
  serverName: string;
  serverPort: number;
  /** The raw query (after '?'); taken from req.url when absent. */
  queryString?: string;
}

export interface ForwardOptions {
  /** Put the Python traceback in the body of a 500 (serve / APPPKG_ENV=development). */
  development?: boolean;
}

const EMPTY_FRAME_SIZE = 9;
const cgiNames = new Map<string, string | null>();

/** A client header name as a CGI variable name; null for names we never pass on. */
function cgiName(raw: string): string | null {
  let name = cgiNames.get(raw);
  if (name !== undefined) return name;
  const upper = raw.toUpperCase();
  if (raw.includes('_')) {
    // X_Forwarded_For would become HTTP_X_FORWARDED_FOR, the same as X-Forwarded-For:
    // a client could spoof what a proxy in front of us set. nginx and Apache drop these too.
    name = null;
  } else if (upper === 'CONTENT-TYPE' || upper === 'CONTENT-LENGTH') {
    name = upper === 'CONTENT-TYPE' ? 'CONTENT_TYPE' : 'CONTENT_LENGTH';
  } else if (upper === 'PROXY') {
    name = null; // httpoxy: HTTP_PROXY must never reach the app
  } else {
    name = `HTTP_${upper.replaceAll('-', '_')}`;
  }
  if (cgiNames.size >= 4096) cgiNames.clear();
  cgiNames.set(raw, name);
  return name;
}

function hexValue(code: number): number {
  if (code >= 48 && code <= 57) return code - 48;
  const lower = code | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

/** Percent-decode a raw path to bytes-as-latin-1 (PEP 3333's PATH_INFO); bad escapes stay. */
export function decodePath(raw: string): string {
  let i = raw.indexOf('%');
  if (i === -1) return raw;
  let out = '';
  let last = 0;
  while (i !== -1) {
    const high = hexValue(raw.charCodeAt(i + 1));
    const low = high < 0 ? -1 : hexValue(raw.charCodeAt(i + 2));
    if (low < 0) {
      i = raw.indexOf('%', i + 1);
      continue;
    }
    out += raw.slice(last, i) + String.fromCharCode(high * 16 + low);
    last = i + 3;
    i = raw.indexOf('%', last);
  }
  return out + raw.slice(last);
}

/**
 * The route of a request served at `mount` ('' = the root) when nothing else decides:
 * address and scheme from the socket, server name from Host. The router builds its own.
 */
export function routeFromRequest(req: IncomingMessage, mount = ''): WsgiRoute {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  let path = decodePath(q === -1 ? url : url.slice(0, q));
  if (mount !== '' && (path === mount || path.startsWith(`${mount}/`))) path = path.slice(mount.length);
  const socket = req.socket;
  const host = req.headers.host ?? '';
  const colon = host.lastIndexOf(':');
  const bracket = host.lastIndexOf(']');
  const serverName = colon > bracket ? host.slice(0, colon) : host;
  return {
    scriptName: mount,
    pathInfo: path,
    remoteAddr: socket.remoteAddress ?? '',
    remotePort: socket.remotePort ?? 0,
    scheme: (socket as { encrypted?: boolean }).encrypted ? 'https' : 'http',
    serverName: serverName || (socket.localAddress ?? 'localhost'),
    serverPort: socket.localPort ?? 0,
  };
}

const enum State {
  /** Waiting for RESPONSE or RESPONSE_FULL. */
  Head,
  /** Headers written, body streaming. */
  Body,
  /** Terminal frame seen, or failed: nothing more to do. */
  Done,
}

/** Bodies up to this size go to Node as latin-1 strings: header and body leave in one write. */
const STRING_BODY_LIMIT = 4096;

/** A response head as Node's writeHead wants it, parsed once per distinct head. */
interface ParsedHead {
  code: number;
  reason: string;
  /** Flat [name, value, ...]; shared between responses, never mutated. */
  headers: string[] | undefined;
}
const heads = new Map<string, ParsedHead>();

function parseHead(head: string): ParsedHead {
  let parsed = heads.get(head);
  if (parsed !== undefined) return parsed;
  const cut = head.indexOf('\0');
  const status = cut === -1 ? head : head.slice(0, cut);
  const code = (status.charCodeAt(0) - 48) * 100 + (status.charCodeAt(1) - 48) * 10 + (status.charCodeAt(2) - 48);
  parsed = {
    code,
    reason: status.length > 4 ? status.slice(4) : (STATUS_CODES[code] ?? 'Unknown'),
    headers: cut === -1 ? undefined : head.slice(cut + 1).split('\0'),
  };
  if (heads.size >= 512) heads.clear();
  heads.set(head, parsed);
  return parsed;
}

// Listeners shared by every request (no closure per request): the exchange hangs off req/res.
const kExchange = Symbol('apppkg.exchange');
type WithExchange<T> = T & { [kExchange]?: WsgiExchange };

function onResponseClose(this: WithExchange<ServerResponse>): void {
  this[kExchange]?.onClientClose();
}
function onRequestData(this: WithExchange<IncomingMessage>, chunk: Buffer): void {
  this[kExchange]?.onData(chunk);
}
function onRequestEnd(this: WithExchange<IncomingMessage>): void {
  this[kExchange]?.onEnd();
}

/** One request in flight on a link. */
class WsgiExchange implements LinkExchange {
  id = 0;
  state = State.Head;
  private bodySent = 0;
  private bodyCredited = 0;
  private paused = false;
  private flushedUncredited = 0;
  /** The client went away: ABORT sent, waiting for the worker's terminal frame. */
  private aborted = false;

  constructor(
    private readonly link: WorkerLink,
    private readonly req: WithExchange<IncomingMessage>,
    private readonly res: WithExchange<ServerResponse>,
    private readonly development: boolean,
  ) {}

  onClientClose(): void {
    if (this.state === State.Done || this.aborted) return;
    this.aborted = true;
    this.link.write(emptyFrame(Frame.ABORT, this.id));
  }

  onData(chunk: Buffer): void {
    if (this.state === State.Done || this.aborted) return;
    const link = this.link;
    link.write(frameHeader(Frame.REQUEST_BODY, this.id, chunk.length));
    link.write(chunk);
    this.bodySent += chunk.length;
    if (!this.paused && this.bodySent - this.bodyCredited >= REQUEST_WINDOW) {
      // The app reads slower than the client sends: stop reading the client (TCP pushes back).
      this.paused = true;
      this.req.pause();
    }
  }

  onEnd(): void {
    if (this.state === State.Done || this.aborted) return;
    this.link.write(emptyFrame(Frame.REQUEST_END, this.id));
  }

  onFrame(type: number, payload: Buffer): void {
    if (this.aborted) {
      if (type === Frame.RESPONSE_FULL || type === Frame.RESPONSE_END || type === Frame.ERROR) this.finish();
      return;
    }
    switch (type) {
      case Frame.RESPONSE_FULL: {
        const bodyStart = 4 + payload.readUInt32BE(0);
        const head = parseHead(payload.toString('latin1', 4, bodyStart));
        this.finish();
        if (!this.writeHead(head)) return;
        const bodyLength = payload.length - bodyStart;
        if (bodyLength === 0) this.res.end();
        else if (bodyLength <= STRING_BODY_LIMIT) this.res.end(payload.toString('latin1', bodyStart), 'latin1');
        else this.res.end(payload.subarray(bodyStart));
        return;
      }
      case Frame.RESPONSE: {
        this.state = State.Body;
        this.writeHead(parseHead(payload.toString('latin1')));
        return;
      }
      case Frame.RESPONSE_BODY: {
        const length = payload.length;
        this.res.write(payload, () => this.flushed(length));
        return;
      }
      case Frame.RESPONSE_END:
        this.finish();
        this.res.end();
        return;
      case Frame.ERROR: {
        const started = this.state === State.Body;
        this.finish();
        if (started || this.res.headersSent) {
          // A truncated body must never look complete: cut the client connection (after
          // what was written so far, which Node holds corked until the next tick).
          this.cutConnection();
        } else {
          this.respondError(500, 'Internal Server Error', this.development ? payload.toString('utf8') : '');
        }
        return;
      }
      case Frame.CONTINUE: {
        const res = this.res as ServerResponse & { _sent100?: boolean };
        if (!res.headersSent && !res._sent100) res.writeContinue();
        return;
      }
      case Frame.REQUEST_CREDIT: {
        this.bodyCredited += payload.readUInt32BE(0);
        if (this.paused && this.bodySent - this.bodyCredited < REQUEST_WINDOW) {
          this.paused = false;
          this.req.resume();
        }
        return;
      }
      default:
        return;
    }
  }

  onLinkFailed(reason: string): void {
    const started = this.state === State.Body;
    this.finish();
    if (this.aborted) return;
    if (started || this.res.headersSent) this.cutConnection();
    else this.respondError(502, 'Bad Gateway', `the worker went away: ${reason}`);
  }

  private cutConnection(): void {
    const socket = this.res.socket;
    if (socket) while (socket.writableCorked > 0) socket.uncork();
    this.res.destroy();
  }

  private flushed(length: number): void {
    if (this.state === State.Done) return;
    this.flushedUncredited += length;
    if (this.flushedUncredited >= CREDIT_STEP) {
      this.link.write(encodeU32Frame(Frame.RESPONSE_CREDIT, this.id, this.flushedUncredited));
      this.flushedUncredited = 0;
    }
  }

  private finish(): void {
    this.state = State.Done;
    this.res.removeListener('close', onResponseClose);
    this.res[kExchange] = undefined;
    this.req[kExchange] = undefined;
    if (this.paused) {
      this.paused = false;
      this.req.resume();
    }
  }

  /** False (and a 502 sent) when Node refuses the head. */
  private writeHead(head: ParsedHead): boolean {
    try {
      this.res.writeHead(head.code, head.reason, head.headers);
      return true;
    } catch (err) {
      this.state = State.Done;
      process.emitWarning(`apppkg: the app's response head was refused by Node: ${(err as Error).message}`);
      if (!this.res.headersSent) this.respondError(502, 'Bad Gateway', this.development ? (err as Error).message : '');
      else this.res.destroy();
      return false;
    }
  }

  respondError(code: number, reason: string, detail: string): void {
    const res = this.res;
    if (res.destroyed || res.writableEnded) return;
    const body = `${code} ${reason}\n${detail ? `\n${detail}\n` : ''}`;
    try {
      res.writeHead(code, reason, ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(Buffer.byteLength(body))]);
      res.end(body);
    } catch {
      res.destroy();
    }
  }
}

function emptyFrame(type: number, id: number): Buffer {
  const frame = Buffer.allocUnsafe(EMPTY_FRAME_SIZE);
  frame[0] = type;
  frame.writeUInt32BE(id, 1);
  frame.writeUInt32BE(0, 5);
  return frame;
}

/**
 * Forward one request to the worker behind `link`. Answers 503 itself when the link takes
 * no more requests, and 400 for a path with %00 (NUL separates the frame's fields).
 * Returns false when the request never reached the worker.
 */
export function forwardWsgi(
  link: WorkerLink,
  req: IncomingMessage,
  res: ServerResponse,
  route: WsgiRoute,
  options: ForwardOptions = {},
): boolean {
  const exchange = new WsgiExchange(link, req, res, options.development === true);
  if (route.pathInfo.includes('\0') || route.scriptName.includes('\0')) {
    exchange.state = State.Done;
    exchange.respondError(400, 'Bad Request', 'the path contains %00');
    return false;
  }
  const id = link.open(exchange);
  if (id === 0) {
    res.writeHead(503, 'Service Unavailable', ['Content-Type', 'text/plain; charset=utf-8', 'Retry-After', '1', 'Content-Length', '24']);
    res.end('503 Service Unavailable\n');
    return false;
  }
  exchange.id = id;

  const raw = req.rawHeaders;
  let pairs = '';
  let body = '';
  for (let i = 0; i < raw.length; i += 2) {
    const name = cgiName(raw[i]);
    if (name === null) continue;
    const value = raw[i + 1];
    if (name === 'CONTENT_LENGTH') {
      if (value !== '0') body = value;
    } else if (name === 'HTTP_TRANSFER_ENCODING') {
      body = 'chunked'; // Node only accepts chunked as the final coding
    }
    pairs += `\0${name}\0${value}`;
  }
  const url = req.url ?? '/';
  let query = route.queryString;
  if (query === undefined) {
    const q = url.indexOf('?');
    query = q === -1 ? '' : url.slice(q + 1);
  }
  const head =
    `${req.method}\0${route.scheme}\0${route.serverName}\0${route.serverPort}\0${route.remoteAddr}\0${route.remotePort}\0` +
    `${route.scriptName}\0${route.pathInfo}\0${query}\0${url}\0HTTP/${req.httpVersion}\0${body}`;
  link.write(encodeLatin1Frame(Frame.REQUEST, id, head + pairs));

  if (body !== '') {
    (req as WithExchange<IncomingMessage>)[kExchange] = exchange;
    req.on('data', onRequestData);
    req.on('end', onRequestEnd);
  }
  (res as WithExchange<ServerResponse>)[kExchange] = exchange;
  res.on('close', onResponseClose);
  return true;
}
