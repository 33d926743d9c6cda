// What Node's HTTP parser lets through but RFC 9112/9110 say a server must refuse or read
// otherwise, checked once per request head before it is routed: a refused head never reaches
// an app, and an absolute-form target reaches it as the origin-form it means
// (test/reliability/client-input.test.ts, test/reliability/rfc-heads.test.ts, docs/reliability.md R6).
import type { IncomingMessage } from 'node:http';
import { chunkSizeLineProblem } from './chunk-size-lines.js';
import { TRAILERS_TOO_LONG } from './chunked-body.js';
import { BODY_IN_HANDSHAKE } from './handshake-body.js';
import { versionAsSent } from './request-line-version.js';

/** reg-name or IP-literal, then an optional port (RFC 9110 §7.2, RFC 3986 §3.2.2). */
const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::\d*)?$/;

/** Chunked last (RFC 9112 §6.3 item 4); codings before it are the app's to undo. */
const CHUNKED_LAST = /(?:^|,)[ \t]*chunked[ \t]*$/i;
/** chunked and no other coding (empty list elements allowed, RFC 9110 §5.6.1). */
const ONLY_CHUNKED = /^[ \t,]*chunked[ \t,]*$/i;

/**
 * Fields RFC 9110 defines as one value, not a list: a second line of one is a sender error
 * (§5.3), and the gateway would otherwise hand the app "a, b" (the CGI join of repeats), a
 * value no definition allows. A second line that repeats the first exactly says nothing new:
 * it is dropped (requestHeadProblem) and the request served, as nginx and gunicorn serve
 * it (a client's doubled User-Agent; nginx passes both lines on); lines that disagree are a
 * 400, since which one the sender meant is a guess. Host and Content-Length have rules of their
 * own (below; Node), where even identical repeats are refused: they frame and route the request.
 */
const SINGLETONS = new Set([
  'content-type', // §8.3
  'authorization', // §11.6.2
  'proxy-authorization', // §11.7.2
  'if-modified-since', // §13.1.3
  'if-unmodified-since', // §13.1.4
  'if-range', // §13.1.5
  'range', // §14.2
  'max-forwards', // §7.6.2
  'referer', // §10.1.3
  'user-agent', // §10.1.5
  'from', // §10.1.2
  'content-location', // §8.7
  'content-range', // §14.4 (a partial PUT)
  'date', // §6.6.1
  // RFC 6454 §7.3: one at most. What a CSRF check compares with its allowed origins: given
  // "a, b" (a WSGI app) or whichever line its framework takes (an ASGI app gets both), it would
  // judge a value the client did not send as the request's one origin.
  'origin',
]);

/** `http://authority/path?query` (RFC 9112 §3.2.2): scheme, authority, and the rest. */
const ABSOLUTE_FORM = /^https?:\/\/([^/?#]*)([^#]*)$/i;
/** A percent-encoded octet (RFC 3986 §2.1), or a `%` that begins none. */
const PERCENT = /%(?:[0-9A-Fa-f]{2})?/g;
/** Unreserved characters (RFC 3986 §2.3): encoding them changes nothing (§6.2.2.2). */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/;
/** An absolute URI of another scheme (RFC 3986 §3.1: a letter, then letters, digits, `+-.`). */
const OTHER_SCHEME = /^([A-Za-z][A-Za-z0-9+.-]{0,31}):\/\//;

/**
 * Why the request head must be answered 400 (and the connection closed), or null when it may
 * be routed. Cheap on the common path: one version check, one pass over the raw header names.
 * A singleton line that repeats its first exactly is dropped from `req.rawHeaders` on the way
 * (the app gets the value once, not "a, a"): the pass that finds it is this one.
 */
export function requestHeadProblem(req: IncomingMessage): string | null {
  // llhttp takes `GET /path` with no version as HTTP/0.9 and parses `HTTP/2.0`; neither is an
  // HTTP/1.x message, and answering either as one would be a guess (RFC 9112 §2.3). A line
  // without a version is given to llhttp alone, HTTP/0.9's whole request (net/node-parser.ts);
  // one that fields still follow came pipelined in the read of a request before it, where
  // node:http's reader cannot tell where it begins: an HTTP/1.x line that lacks its version.
  if (req.httpVersionMajor !== 1) return req.rawHeaders.length > 0 && versionAsSent(req) === '' ? NO_VERSION : `HTTP/${req.httpVersion} is not spoken here: send HTTP/1.1`;
  // llhttp refuses PRI at its request line; a plain head that says it (`PRI /p HTTP/1.1` with a
  // Host) the lean lane reads itself, and would serve to the app.
  if (req.method === 'PRI') return NOT_A_PREFACE;
  let hosts = 0;
  let seen: Map<string, string> | null = null;
  let repeats: number[] | null = null;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    if (lower === 'host') {
      // Node keeps the first Host and drops the rest; which one the app would see is not the
      // client's choice to make. RFC 9112 §3.2: more than one Host, or an invalid one, is a 400.
      if (++hosts > 1) return 'more than one Host header (RFC 9112 §3.2): send it once';
      if (!HOST_VALUE.test(raw[i + 1])) return 'the Host header is not a host[:port]';
      // `:80` (or `:`) is a host[:port] whose host is empty: the target URI made from it
      // (RFC 9112 §3.3) is `http://:80/...`, which RFC 9110 §4.2.1 says to reject, as the
      // absolute form is (toOriginForm). Taken, it reached the app as HTTP_HOST `:80`. An empty
      // Host is another case: §3.3 lets the server name itself then.
      if (raw[i + 1].charCodeAt(0) === 58 /* : */) return EMPTY_HOST_FIELD;
      if (raw[i + 1].charCodeAt(raw[i + 1].length - 1) === 58 /* : */) req.headers.host = raw[i + 1] = withoutEmptyPort(raw[i + 1]);
    } else if (SINGLETONS.has(lower)) {
      seen ??= new Map();
      const first = seen.get(lower);
      if (first === undefined) seen.set(lower, raw[i + 1]);
      else if (first === raw[i + 1]) (repeats ??= []).push(i);
      else return `more than one ${raw[i]} header, with different values: it takes one value (RFC 9110 §5.3); send it once`;
    }
  }
  // RFC 9112 §3.2: a server must answer 400 to an HTTP/1.1 request without Host (absolute-form
  // too). node:http's own check (requireHostHeader) answered before the gateway saw the request:
  // no reason in the answer, no line in the access log.
  if (hosts === 0 && req.httpVersionMinor >= 1) return 'an HTTP/1.1 request without a Host header (RFC 9112 §3.2)';
  // RFC 9112 §6.1: an HTTP/1.0 message with Transfer-Encoding must be treated as badly framed
  // (HTTP/1.0 has no chunked coding; a proxy before us may have framed it by Content-Length).
  if (req.httpVersionMinor === 0 && req.headers['transfer-encoding'] !== undefined) {
    return 'Transfer-Encoding in an HTTP/1.0 request: its framing cannot be trusted (RFC 9112 §6.1); send the request as HTTP/1.1, or its body with Content-Length';
  }
  // Node answers a Transfer-Encoding whose last coding is not chunked with 400, but only after
  // it has handed the head to us: refuse it before an app is given a request with no framing.
  const te = req.headers['transfer-encoding'];
  if (te !== undefined && !CHUNKED_LAST.test(te)) return 'Transfer-Encoding must end with chunked (RFC 9112 §6.1): send the body chunked, or with Content-Length alone';
  if (repeats !== null) {
    const dropped = new Set(repeats);
    req.rawHeaders = raw.filter((_, at) => !dropped.has(at - (at % 2)));
  }
  return null;
}

/**
 * A websocket handshake whose head says it has content (RFC 6455 §4.1: a GET, its content with
 * no meaning and nowhere to go): node:http switches at the head whatever its framing, the body
 * becoming the websocket's first bytes (a 101, then frames the client never sent). A
 * Content-Length past 0 is refused here, as is a coding other than chunked alone; a chunked body
 * is read by readEmptyChunkedBody (handshake-body.ts), which takes it when it is empty, as
 * `Content-Length: 0` is taken. 400, and the connection closed, as the plain request's.
 */
export function handshakeFramingProblem(req: IncomingMessage): string | null {
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) return ONLY_CHUNKED.test(te) ? null : 'Transfer-Encoding other than chunked in a websocket handshake: send the handshake (a GET) without a body';
  const length = req.headers['content-length'];
  return length !== undefined && !/^0+$/.test(length) ? BODY_IN_HANDSHAKE : null;
}

/**
 * A transfer coding the gateway does not undo (`gzip, chunked`): RFC 9112 §6.1's 501. Passed on,
 * the app would read still-coded bytes with nothing saying so (the field is hop-by-hop).
 */
export function unknownTransferCoding(req: IncomingMessage): string | null {
  const te = req.headers['transfer-encoding'];
  if (te === undefined || ONLY_CHUNKED.test(te)) return null;
  return `Transfer-Encoding: ${te.replace(/[^\x20-\x7e]/g, '?').slice(0, 100)}: the gateway decodes chunked only (RFC 9112 §6.1); send the body with Transfer-Encoding: chunked alone (a compressed body's coding goes in Content-Encoding, for the app)`;
}

const kSentTarget = Symbol('apppkg.sentTarget');

/**
 * The request target as the client sent it: an absolute-form one before toOriginForm rewrote
 * it, for the access log's request line (the combined format's %r is the line as sent).
 */
export function targetAsSent(req: IncomingMessage): string | undefined {
  return (req as IncomingMessage & { [kSentTarget]?: string })[kSentTarget] ?? req.url;
}

/**
 * RFC 9112 §3.2.2: a server must accept an absolute-form target (`GET http://host/path`, as a
 * proxy-minded client sends it) and take the host from it, ignoring the Host header. Rewrites
 * `req` into the origin-form request it means (url, Host, rawHeaders) so that routing, the
 * environ and the scope see one request (the target as sent stays for targetAsSent); returns a problem when the authority is not a host.
 */
export function toOriginForm(req: IncomingMessage): string | null {
  const url = req.url ?? '/';
  if (url.charCodeAt(0) === 47 /* / */) return null;
  const m = ABSOLUTE_FORM.exec(url);
  if (m === null) {
    // `ftp://host/p` is no path either, but the router's NOT_A_PATH would not say what to send.
    const other = OTHER_SCHEME.exec(url);
    if (other !== null) return `the target's scheme is ${other[1]}: this gateway serves http and https; send the path (GET /path, with a Host header) or http://host/path`;
    return null; // `*` and the rest: the router's NOT_A_PATH
  }
  const [, authority, rest] = m;
  // Credentials in the target (RFC 9110 §4.2.4: a recipient should treat userinfo as an error),
  // which the answer does not repeat.
  if (authority.includes('@')) return 'the target\'s authority has userinfo (user@host), which an http URI may not carry (RFC 9110 §4.2.4): send the host alone (http://host/path) and any credentials in an Authorization header';
  // RFC 9110 §4.2.1: a recipient must reject an http URI whose host is empty, and `http://:80/p`
  // has one as surely as `http:///p`; routed by its path, it reached the app with Host `:80`.
  if (authority === '' || authority.charCodeAt(0) === 58 /* : */) return EMPTY_HOST;
  if (!HOST_VALUE.test(authority)) return 'the target\'s authority is not a host[:port]';
  const decoded = authority.includes('%') ? decodedHost(authority) : authority;
  if (decoded === null) return ENCODED_HOST;
  const host = withoutEmptyPort(decoded);
  (req as IncomingMessage & { [kSentTarget]?: string })[kSentTarget] ??= url; // dropFragment may have kept it
  req.url = rest === '' ? '/' : rest.startsWith('?') ? `/${rest}` : rest;
  req.headers.host = host;
  const raw = req.rawHeaders;
  const at = raw.findIndex((name, i) => i % 2 === 0 && name.toLowerCase() === 'host');
  if (at === -1) raw.push('Host', host);
  else raw[at + 1] = host;
  return null;
}

/**
 * `host:` is `host` (RFC 3986 §6.2.3: an empty port is the same as none). Taken as sent, the
 * app's HTTP_HOST and X-Forwarded-Host kept the colon, which Django's host check refuses (its
 * pattern wants digits after one: DisallowedHost, a 400) and an app's own URLs repeated. A name
 * has no `:` of its own, an IP literal's are inside its brackets: a last one is the port's.
 * A trusted proxy's X-Forwarded-Host too (forwarded-headers.ts).
 */
export function withoutEmptyPort(host: string): string {
  return host.charCodeAt(host.length - 1) === 58 /* : */ ? host.slice(0, -1) : host;
}

const EMPTY_HOST_FIELD = 'the Host header\'s host is empty (RFC 9110 §4.2.1: an http URI must name one): send Host: host or host:port';

const EMPTY_HOST = 'the target\'s host is empty (RFC 9110 §4.2.1: an http URI must name one): send http://host/path, or the path alone with a Host header';

const ENCODED_HOST = 'the target\'s host has percent-encoded octets other than letters, digits and `-._~` (RFC 3986 §3.2.2): send the host name unencoded (http://host/path), a name beyond ASCII in its IDNA form (xn--...)';

/**
 * The authority of an absolute-form target with its percent-encoded unreserved octets decoded:
 * `blog%2Elocalhost` is `blog.localhost` (RFC 3986 §6.2.2.2, RFC 9110 §4.2.3), the host the
 * request is routed by and the app's Host, where taken as sent it matched no route (404). Null
 * for any other escape, or a `%` that begins none: a UTF-8 name (a DNS name is ASCII, its IDNA
 * form), a delimiter (`%3A` is no port) or garbage, which name no host the router knows; nginx
 * answers 400 to any escape there, and so does this for these.
 */
function decodedHost(authority: string): string | null {
  let refused = false;
  const host = authority.replace(PERCENT, (escape) => {
    const char = escape.length === 3 ? String.fromCharCode(parseInt(escape.slice(1), 16)) : '';
    if (UNRESERVED.test(char)) return char;
    refused = true;
    return escape;
  });
  return refused ? null : host;
}

/**
 * A `#fragment` is no part of a request target (RFC 9112 §3.2; browsers, curl and undici never
 * send one). One that comes anyway is dropped, as nginx, gunicorn and uvicorn drop it, so that
 * it reaches neither PATH_INFO nor QUERY_STRING; the access log keeps the target as sent.
 */
export function dropFragment(req: IncomingMessage): void {
  const url = req.url ?? '/';
  const hash = url.indexOf('#');
  if (hash === -1) return;
  const marked = req as IncomingMessage & { [kSentTarget]?: string };
  marked[kSentTarget] ??= url;
  req.url = url.slice(0, hash);
}

/** A request line as it begins: a method token and a space (RFC 9112 §3). */
const REQUEST_LINE_START = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ /;
/** A longer request line is a 414 (nginx's large_client_header_buffers answers so past 8k). */
export const MAX_REQUEST_LINE = 8 * 1024;

/**
 * Whether a head node:http read whole is longer than `maxHead`, measured as the lean lane
 * measures it: the bytes sent up to the blank line that ends it (README, Faults). node:http
 * counts only the target, names and values against its maxHeaderSize, so 5,000 empty fields
 * (20 KB of head) came through. Counted from what llhttp kept, which has no optional
 * whitespace: never more than was sent. 414 when the request line is past MAX_REQUEST_LINE,
 * as requestLineTooLong judges an overflow llhttp found; null within the bound.
 */
export function headPastBound(req: IncomingMessage, maxHead: number): 414 | 431 | null {
  // `METHOD SP TARGET SP HTTP/1.1` and its CR, as requestLineTooLong measures the line.
  const line = (req.method?.length ?? 0) + (req.url?.length ?? 0) + 11;
  const raw = req.rawHeaders;
  // The line without its CR, then each field as the CRLF before it and `NAME:VALUE`: up to the blank line.
  let head = line - 1;
  for (let i = 0; i < raw.length; i += 2) head += raw[i].length + raw[i + 1].length + 3;
  if (head <= maxHead) return null;
  return line > MAX_REQUEST_LINE ? 414 : 431;
}

const HEAD_END = Buffer.from('\r\n\r\n', 'latin1');
/** What the access log shows of a request node:http could not parse: its first line, bounded. */
const LOGGED_LINE_MAX = 2048;

/**
 * The first line of the read node:http failed in (its error's `rawPacket`), for the access
 * log's request field; null when it read nothing (a connection that timed out silent). A head
 * that failed `behindAnswered` (pipelined after requests node:http read whole) begins after
 * the last blank line before the error (`bytesParsed`, where the parser stopped), not at the
 * read's start, which is an earlier request's.
 */
export function rejectedRequestLine(err: { rawPacket?: unknown; bytesParsed?: unknown }, behindAnswered = false): string | null {
  const packet = err.rawPacket;
  if (!Buffer.isBuffer(packet) || packet.length === 0) return null;
  const from = rejectedHeadStart(packet, err.bytesParsed, behindAnswered);
  const eol = packet.indexOf(0x0a, from);
  const line = packet.toString('latin1', from, Math.min(eol === -1 ? packet.length : eol, from + LOGGED_LINE_MAX)).replace(/\r$/, '');
  return line === '' ? null : line;
}

/** Where in `packet` the head node:http failed in begins: after the last blank line before `bytesParsed` when `behindAnswered` (rejectedRequestLine). */
function rejectedHeadStart(packet: Buffer, bytesParsed: unknown, behindAnswered: boolean): number {
  const at = typeof bytesParsed === 'number' ? Math.min(bytesParsed, packet.length) : 0;
  // A blank line that ends by `at`: the failed head's own end may follow (an overflow is found there).
  const blank = behindAnswered && at >= 4 ? packet.lastIndexOf(HEAD_END, at - 4) : -1;
  return blank === -1 ? 0 : blank + 4;
}

/**
 * Whether a head node:http found too large (HPE_HEADER_OVERFLOW) is too large for its request
 * line: 414 URI Too Long then, not 431 (RFC 9112 §3, RFC 9110 §15.5.15). The parser's error
 * carries the read it failed in (`rawPacket`); a request line that does not end in it, or ends
 * past 8 KiB, is the cause. `behindAnswered`: the head is pipelined behind requests read whole,
 * whose bytes may begin the read (as for rejectedRequestLine); its own line is judged, not theirs.
 */
export function requestLineTooLong(err: { rawPacket?: unknown; bytesParsed?: unknown }, behindAnswered = false): boolean {
  const packet = err.rawPacket;
  if (!Buffer.isBuffer(packet)) return false;
  const from = rejectedHeadStart(packet, err.bytesParsed, behindAnswered);
  if (!REQUEST_LINE_START.test(packet.toString('latin1', from, from + 32))) return false;
  const eol = packet.indexOf(0x0a, from);
  return eol === -1 || eol - from > MAX_REQUEST_LINE;
}

/**
 * Why llhttp refused a request, by its error code, in the words of the other refusals' bodies;
 * a code it gives for many causes (HPE_STRICT) is left to its own reason.
 */
/** A request cut short by the client's FIN: its head or its body will never be whole. */
export const ENDED_EARLY = 'the connection ended before the whole request came';

const PARSE_PROBLEMS: Record<string, string> = {
  HPE_INVALID_EOF_STATE: ENDED_EARLY,
  HPE_INVALID_METHOD: 'the request line does not begin with a known method in capital letters (GET, POST, ...)',
  HPE_INVALID_CONSTANT: 'the request line is not METHOD TARGET HTTP/1.1',
  HPE_INVALID_VERSION: 'the request line does not end in HTTP/1.1 (or HTTP/1.0) and CRLF',
  HPE_INVALID_URL: 'the request target is not a valid path or URL',
  HPE_INVALID_HEADER_TOKEN: 'a header field is malformed: its name is not a token, or its value holds a control character',
  HPE_INVALID_CONTENT_LENGTH: 'the Content-Length header is not a number: send the body\'s length in decimal digits alone (Content-Length: 5)',
  HPE_UNEXPECTED_CONTENT_LENGTH: 'Content-Length with Transfer-Encoding: the body\'s framing is ambiguous (RFC 9112 §6.1)',
  HPE_INVALID_TRANSFER_ENCODING: 'the Transfer-Encoding header does not end in chunked',
  HPE_INVALID_CHUNK_SIZE: 'a chunk size is not a hexadecimal number',
  HPE_CR_EXPECTED: 'a line of the request does not end in CRLF',
  HPE_LF_EXPECTED: 'a line of the request does not end in CRLF',
};

const CONTENT_LENGTH_WITH_TRANSFER_ENCODING = PARSE_PROBLEMS.HPE_UNEXPECTED_CONTENT_LENGTH;

/** A request line without a version, fields after it (requestHeadProblem). */
const NO_VERSION = 'the request line has no HTTP version (RFC 9112 §3): send METHOD TARGET HTTP/1.1';

/** PRI is no method: it begins HTTP/2's connection preface, `PRI * HTTP/2.0` (RFC 9113 §3.4). */
const NOT_A_PREFACE = 'PRI begins the HTTP/2 connection preface, which is not spoken here: send HTTP/1.1';

/**
 * llhttp's reasons where its code misleads: a Content-Length with Transfer-Encoding comes as an
 * invalid Content-Length (after it) or Transfer-Encoding (before it), two Content-Lengths as
 * Content-Length with Transfer-Encoding, and anything after chunked (`chunked, chunked`, a second
 * Transfer-Encoding line) as a Transfer-Encoding that does not end in chunked. llhttp stops at
 * the comma or the next line's first byte, before the coding after chunked has come (it may be
 * in a later read): whether that is chunked again cannot be told the same whichever reads
 * deliver it, so the answer names both.
 */
const REASON_PROBLEMS = new Map<unknown, string>([
  ["Content-Length can't be present with Transfer-Encoding", CONTENT_LENGTH_WITH_TRANSFER_ENCODING],
  ["Transfer-Encoding can't be present with Content-Length", CONTENT_LENGTH_WITH_TRANSFER_ENCODING],
  ['Invalid `Transfer-Encoding` header value', 'chunked more than once in Transfer-Encoding, or a coding after it: the body\'s framing is ambiguous (RFC 9112 §6.1); send chunked once, as the last coding'],
  ['Duplicate Content-Length', 'more than one Content-Length header: the body\'s framing is ambiguous (RFC 9112 §6.3); send it once'],
  ['Expected HTTP/2 Connection Preface', NOT_A_PREFACE],
  // A line that begins with SP or HTAB after a field line: RFC 9112 §5.2 asks a 400 that says
  // obsolete line folding is unacceptable (it said only that a field was malformed).
  ['Unexpected whitespace after header value', 'a header field is folded onto a line that begins with a space or tab (obs-fold, RFC 9112 §5.2): send each field on one line'],
]);

/**
 * A chunked body's framing refused by llhttp, in the lean lane's words for it (net/chunked-body.ts),
 * by llhttp's reason: the same 400 whichever reader has the body. Its size lines up to their CR
 * are the lane's decoder's to refuse (net/chunk-size-lines.ts), in its words; llhttp, given none
 * of their extensions, refuses what comes after. One reason stands for two of the lane's, told
 * apart by the octet before the one llhttp stopped at (`at`).
 */
const CHUNK_PROBLEMS = new Map<unknown, string | ((packet: Buffer, at: number) => string)>([
  ['Expected LF after chunk size', 'a chunk-size line does not end in CRLF'],
  ['Missing expected CR after chunk data', 'chunk data does not end in CRLF'],
  ['Expected LF after chunk data', (packet, at) => (packet[at - 1] === 0x0d ? 'chunk data does not end in CRLF' : 'chunk data is longer than its size')],
]);

/** A chunked body's trailer section refused by llhttp, in the lane's words, as CHUNK_PROBLEMS. */
const TRAILER_PROBLEMS = new Map<unknown, string | ((packet: Buffer, at: number) => string)>([
  ['Missing expected CR after header value', 'a trailer field line does not end in CRLF'],
  // A CR inside a trailer field's value (`X-T: a<CR>b`): its line ends there without its LF.
  ['Missing expected LF after header value', 'a trailer field line does not end in CRLF'],
  ['Invalid header value char', 'a trailer field line has a control character'],
  ['Invalid header field char', 'the chunked body does not end in CRLF'],
  // The CR of the body's last CRLF, then not its LF.
  ['Expected LF after headers', 'the chunked body does not end in CRLF'],
  // obs-fold (a line that begins with SP or HTAB), or an octet of the name: one answer, since
  // the octet before it, which told them apart, may have come in an earlier read.
  ['Invalid header token', 'a trailer field line is malformed'],
  // A fold after a field line of the trailer (its value's line, then SP): the same fault.
  ['Unexpected whitespace after header value', 'a trailer field line is malformed'],
]);

/**
 * A `#` where the target's path should begin: `http://host#frag`, `#frag`. llhttp stops at it
 * (HPE_INVALID_URL); anywhere after a path or a query it takes it, and dropFragment drops what
 * follows. Refused, not read as `http://host/`: an absolute-URI has no fragment (RFC 9112
 * §3.2.2, RFC 3986 §4.3), RFC 9112 §3 asks a 400 for an invalid request-line, and nginx 1.22
 * refuses the same targets; serving them would mean rewriting the line before llhttp reads it.
 * No browser, curl or undici sends one.
 */
function fragmentForPath(err: { code?: string; rawPacket?: unknown; bytesParsed?: unknown }): boolean {
  const packet = err.rawPacket;
  const at = err.bytesParsed;
  return err.code === 'HPE_INVALID_URL' && Buffer.isBuffer(packet) && typeof at === 'number' && packet[at] === 0x23 /* # */;
}

const FRAGMENT_FOR_PATH = 'a #fragment in the request target where its path should begin (RFC 9112 §3.2: a fragment is no part of a request target): send the target without it, /path or http://host/path';

/**
 * What the 400 to a message node:http cannot parse says (error-response.ts shortBody's detail),
 * from its parser error: the code's reason, else llhttp's own words. `inBody`: its head was read
 * whole, and the error is in its chunked body or that body's trailer section.
 */
export function parseErrorProblem(err: { code?: string; reason?: unknown; rawPacket?: unknown; bytesParsed?: unknown }, inBody = false): string {
  // The only fields of a body are its trailer section's (431 for it past the bound, as a head's).
  if (inBody && err.code === 'HPE_HEADER_OVERFLOW') return TRAILERS_TOO_LONG;
  const sizeLine = chunkSizeLineProblem(err);
  if (sizeLine !== undefined) return sizeLine;
  const chunk = CHUNK_PROBLEMS.get(err.reason) ?? (inBody ? TRAILER_PROBLEMS.get(err.reason) : undefined);
  if (typeof chunk === 'string') return chunk;
  if (chunk !== undefined && Buffer.isBuffer(err.rawPacket) && typeof err.bytesParsed === 'number') return chunk(err.rawPacket, err.bytesParsed);
  if (fragmentForPath(err)) return FRAGMENT_FOR_PATH;
  const known = REASON_PROBLEMS.get(err.reason) ?? (err.code === undefined ? undefined : PARSE_PROBLEMS[err.code]);
  if (known !== undefined) return known;
  return `the request cannot be parsed${typeof err.reason === 'string' && err.reason !== '' ? ` (${err.reason.toLowerCase()})` : ''}`;
}
