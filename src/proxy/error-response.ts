// Every answer the gateway gives for the app, and the one table that maps each kind of failure
// to its status, so that the same failure always looks the same to a client (caddy's
// statusError): a request that waits in vain, an app that does not answer, one that goes away.
import { STATUS_CODES, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { CLI_COMMAND_WORDS } from '../command-words.js';
import { endLingering } from '../net/lingering-close.js';
import { markCut } from './gateway-cut.js';
import { invalidAnswer } from './invalid-answer.js';

export const REASONS: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  412: 'Precondition Failed',
  413: 'Content Too Large',
  414: 'URI Too Long',
  416: 'Range Not Satisfiable',
  417: 'Expectation Failed',
  431: 'Request Header Fields Too Large',
  499: 'Client Closed Request',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
  505: 'HTTP Version Not Supported',
};

/** The body of every short answer the gateway gives: its status, then why in one line. */
export function shortBody(status: number, detail?: string): string {
  return `${status} ${REASONS[status] ?? 'Error'}\n${detail ? `${detail}\n` : ''}`;
}

/**
 * The detail of a body shortBody made for `status` (its second line, '' if none), or null for
 * any other body: how a client of the gateway's own (the mail deliverer) tells the gateway's
 * answer (a 504 at the app's timeout, a 503 with its queue full) from the app's. Only as sure as
 * an app that never writes this shape itself, with the fields sendError gives it (`isShortAnswer`).
 */
export function shortBodyDetail(status: number, body: string): string | null {
  const [first, detail = ''] = body.split('\n', 2);
  return first === `${status} ${REASONS[status] ?? 'Error'}` ? detail : null;
}

/** Whether a response's fields are sendError's: plain UTF-8 text, never cached, this short at most. */
export function isShortAnswer(headers: Record<string, string | string[] | undefined>, maxBytes: number): boolean {
  const length = Number(headers['content-length']);
  return headers['content-type'] === 'text/plain; charset=utf-8' && headers['cache-control'] === 'no-store' && length > 0 && length <= maxBytes;
}

/**
 * The whole answer to a message that cannot be parsed (a head node:http refuses, a broken
 * chunked body on the lean lane): `body` (shortBody's, which says why) or none, the close, and a
 * Date (an origin server with a clock sends it on every answer, 4xx too: RFC 9110 §6.6.1); its
 * fields as sendError's, in their order, so that a refusal looks the same whichever part of the
 * gateway gives it (the parser's, or the front's of a head parsed whole: two Hosts).
 * `headOnly`: the answer to a HEAD, its head as a GET's and no body (RFC 9110 §9.3.2).
 */
export function unparsableAnswer(status: number, body = '', headOnly = false): string {
  const type = body === '' ? '' : 'Content-Type: text/plain; charset=utf-8\r\n';
  // Its callers write it as latin1 (raw sockets, endLingering): the body's UTF-8 bytes as one
  // char each, else a `§` went out as one byte, a byte short of its Content-Length (curl: 18).
  const bytes = Buffer.from(body, 'utf8');
  return (
    `HTTP/1.1 ${status} ${REASONS[status]}\r\n${type}Content-Length: ${bytes.length}\r\nCache-Control: no-store\r\n` +
    `Connection: close\r\nDate: ${new Date().toUTCString()}\r\n\r\n${headOnly ? '' : bytes.toString('latin1')}`
  );
}

/** What went wrong on the way to the app or back (SPEC §4 names each answer). */
export type Failure =
  /** The app's queue is full: try again. */
  | 'busy'
  /** Nothing runs that could take it (stopping, restarting): try again. */
  | 'unavailable'
  /** The upstream refused the connection, or went away before its response head. */
  | 'upstream-gone'
  /** The upstream answered with a head Node refuses. */
  | 'bad-response'
  /** No response head within the app's `timeout`. */
  | 'timeout'
  /** The client stopped sending its body; the connection is not worth keeping. */
  | 'client-timeout'
  /** The body is larger than `max_body`; the rest is not worth reading. */
  | 'too-large'
  /** The app raised before its response began. */
  | 'app-error'
  /** The path cannot go to the app (a NUL in it). */
  | 'bad-path'
  /** A trusted proxy's X-Forwarded-Host names no host to give the app. */
  | 'bad-forwarded-host'
  /** The app cannot take this kind of request (an Upgrade to WSGI). */
  | 'not-implemented';

const FAILURES: Record<Failure, { status: number; headers?: Record<string, string> }> = {
  busy: { status: 503, headers: { 'Retry-After': '1' } },
  unavailable: { status: 503, headers: { 'Retry-After': '1' } },
  'upstream-gone': { status: 502 },
  'bad-response': { status: 502 },
  timeout: { status: 504 },
  'client-timeout': { status: 408, headers: { Connection: 'close' } },
  'too-large': { status: 413, headers: { Connection: 'close' } },
  'app-error': { status: 500 },
  'bad-path': { status: 400 },
  'bad-forwarded-host': { status: 400 },
  'not-implemented': { status: 501 },
};

export function failureStatus(failure: Failure): number {
  return FAILURES[failure].status;
}

export interface ErrorResponseOptions {
  /** One line for the client, e.g. "no app is mounted at /nope". */
  detail?: string;
  /** Shown only in development (SPEC §4): a Python traceback, say. */
  debug?: string;
  development?: boolean;
  headers?: Record<string, string>;
}

/** Answers `failure` (its status and headers), or cuts the connection once a response began. */
export function answerFailure(res: ServerResponse, failure: Failure, opts: ErrorResponseOptions = {}): void {
  const { status, headers } = FAILURES[failure];
  sendError(res, status, headers ? { ...opts, headers: { ...headers, ...opts.headers } } : opts);
}

/** Undici's and the socket's error codes that mean "no answer in time"; the rest are gone. */
const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT', 'ETIMEDOUT']);

/** The failure an error of a proxied request before its response head is. */
export function proxyFailure(err: unknown): 'timeout' | 'upstream-gone' {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  return code !== undefined && TIMEOUT_CODES.has(code) ? 'timeout' : 'upstream-gone';
}

/**
 * One line for the client on why `label` gave no answer. `interim`: the last 1xx status the
 * process sent before the failure (undici's onInfo), which names an answer undici fails by an
 * assert of its own (invalid-answer.ts).
 */
export function proxyFailureDetail(err: unknown, label: string, interim: number | null = null): string {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (proxyFailure(err) === 'timeout') return `${label} did not answer in time`;
  if (code === 'ECONNREFUSED') return `${label} is not accepting connections`;
  // It answered, with a head undici refuses: said as what it did (a head that is not HTTP/1.1,
  // in llhttp's words; a Content-Length that frames nothing; a 101 or a 100 unasked).
  const invalid = invalidAnswer(err, interim);
  return invalid === null ? `${label} went away before it answered` : `${label} ${invalid.did}`;
}

/**
 * Why an app does not serve, for a public client: the code only, and where to read the rest.
 * The error's message may quote the app (an exception's message can hold a connection string),
 * which only the admin side shows (SPEC 5.4); a refused version and a failed wake alike.
 * `status`: what shows the rest to the gateway's operator (FrontOptions.statusCall).
 */
export function notServingDetail(app: string, code: string, status = CLI_COMMAND_WORDS.status): string {
  return `${app} is not serving: it was refused (${code}); ${status} says why`;
}

/**
 * When an idle app whose wake failed is woken again (`retryAt`, Date.now() ms; null: the next
 * request may): no refusal for good, which "it was refused" read as, but a back-off that the
 * first request after it ends, whatever changed meanwhile (README, "Many apps").
 */
export function wakeRetryWords(retryAt: number | null | undefined, now = Date.now()): string {
  if (retryAt === null || retryAt === undefined || retryAt <= now) return 'the next request wakes it again';
  return `the first request after ${new Date(retryAt).toISOString()} (in ${Math.max(1, Math.ceil((retryAt - now) / 1000))} s) wakes it again`;
}

/**
 * Why an idle app's wake failed, for a public client: the code only, as notServingDetail, and
 * when it is tried again, as its Retry-After says.
 */
export function wakeFailedDetail(app: string, code: string, retryAt: number | null | undefined, status = CLI_COMMAND_WORDS.status): string {
  return `${app} could not be woken from idle (${code}); ${wakeRetryWords(retryAt)}; ${status} says why`;
}

/** A short plain-text answer; a response that began already is cut instead. */
export function sendError(res: ServerResponse, status: number, opts: ErrorResponseOptions = {}): void {
  if (res.destroyed || res.writableEnded) return; // the client left, or an answer went already
  if (res.headersSent) {
    // Too late for a status: cut the connection so a partial body never looks complete.
    markCut(res);
    res.destroy();
    return;
  }
  let body = shortBody(status, opts.detail);
  if (opts.development && opts.debug) body += `\n${opts.debug}\n`;
  const payload = Buffer.from(body, 'utf8');
  // Said in the header alone, node:http would close after it all the same, but a request
  // pipelined behind would be read as one to serve (front.ts nodeRequest).
  if (opts.headers?.Connection === 'close') res.shouldKeepAlive = false;
  // The status line says what the body says: Node's own phrase for 413 is still RFC 7231's
  // 'Payload Too Large', where RFC 9110 §15.5.14 and the body say 'Content Too Large'.
  res.writeHead(status, REASONS[status] ?? STATUS_CODES[status] ?? 'Error', {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': String(payload.length),
    'Cache-Control': 'no-store',
    ...opts.headers,
  });
  res.end(res.req?.method === 'HEAD' ? undefined : payload);
}

/**
 * The same short answer on a socket that asked to upgrade (there is no ServerResponse for
 * it), with the Date and Cache-Control sendError's carry (RFC 9110 §6.6.1: a 404 without a
 * Date is no answer an origin server with a clock may give); the connection then closes
 * lingering. node:http hands an upgrade's socket over paused, and a plain end() left it open
 * for good once the client had written after its head (a websocket's first frame): the unread
 * bytes held its FIN, so no 'close', no access-log line, and a descriptor lost per refusal.
 */
export function refuseUpgrade(socket: Socket, status: number, detail: string, headers: Record<string, string> = {}): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const body = Buffer.from(shortBody(status, detail), 'utf8');
  const extra = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join('');
  endLingering(
    socket,
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${body.length}\r\nCache-Control: no-store\r\n${extra}Date: ${new Date().toUTCString()}\r\nConnection: close\r\n\r\n${body.toString('latin1')}`,
  );
}

/** `failure` on an upgrade's raw socket; `extra` headers over its own, as answerFailure's. */
export function refuseUpgradeFor(socket: Socket, failure: Failure, detail: string, extra?: Record<string, string>): void {
  const { status, headers } = FAILURES[failure];
  refuseUpgrade(socket, status, detail, { ...headers, ...extra });
}
