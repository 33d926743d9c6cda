// The plainest request heads, read without Node's HTTP machinery: a method of capital letters
// (GET, POST, ..., WebDAV's PROPFIND, or one of the app's own: RFC 9110 §9.1 leaves the methods
// open, and llhttp refuses those it does not know: net/unknown-method.ts; CONNECT is node:http's), an origin-form target, HTTP/1.1 (or 1.2-1.9, read as 1.1) with a Host, or
// HTTP/1.0 with or without one, a body framed by Content-Length, by `Transfer-Encoding: chunked`
// alone (net/chunked-body.ts; HTTP/1.1 only), or none, no upgrade, no continue, every header once. That is nearly every request a browser,
// a form, an API client, a load balancer's probe or a load test sends, and the front's lean
// lane (proxy/lean-lane.ts) answers them without building an IncomingMessage. Anything else, down
// to a repeated header or a byte outside the plain ranges, is not refused here: it is given to
// node:http, which reads it as it always has (and refuses what the RFCs refuse, R6).

export interface PlainHead {
  method: string;
  /**
   * The request target as sent: starts with `/`, octets 0x21-0x7e and 0x80-0xff (one latin-1
   * char each; SPEC 5.8: they reach the app as PEP 3333's latin-1, where node:http refuses them).
   */
  url: string;
  /** [name, value, ...] as sent (values without their surrounding whitespace), as Node's rawHeaders. */
  rawHeaders: string[];
  /** Lower-case name -> value, as Node's headers (every name occurs once here). */
  headers: Record<string, string>;
  /** The client did not say `Connection: close`. */
  keepAlive: boolean;
  /** Its Content-Length: 0 when it gave none (or the body is chunked). */
  bodyLength: number;
  /** The body is in the chunked coding (and there is no Content-Length). */
  chunked: boolean;
  /** The version sent when it is not 1.1 (`1.2`-`1.9`, served as 1.1), for the access log. */
  higherVersion: string | undefined;
  /** HTTP/1.0: served as such (lean-request.ts, lean-response.ts), as node:http serves it. */
  http10: boolean;
}

/**
 * The whole head in one test: request line (a target of visible ASCII and octets >= 0x80),
 * then field lines (token, colon, a value of HTAB/SP/VCHAR/obs-text: RFC 9110 §5.5; no
 * obs-fold, no bare CR or LF).
 */
// HTTP/1.2 to 1.9: a server treats a higher minor version as the highest it speaks (RFC 9110
// §2.5, RFC 9112 §2.3), and the lean request says 1.1 (lean-request.ts) as its answer does.
const PLAIN = /^[A-Z][A-Z_-]{0,31} \/[\x21-\x7e\x80-\xff]* HTTP\/1\.[0-9](?:\r\n[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[\t\x20-\x7e\x80-\xff]*)+$/;

/** Fields that make a request more than plain: a continue, a protocol switch. */
const NOT_PLAIN = new Set(['expect', 'upgrade', 'http2-settings']);

/** A Content-Length the lane frames a body by: digits, one value, well within a safe integer. */
const LENGTH = /^\d{1,15}$/;

/** Index of the first character of `s` from `from` to `to` that is not SP or HTAB. */
function skipSpace(s: string, from: number, to: number): number {
  while (from < to) {
    const c = s.charCodeAt(from);
    if (c !== 32 && c !== 9) break;
    from++;
  }
  return from;
}

/**
 * Whether an HTAB is among `s`'s characters from `from` to `to` (a value's trailing whitespace).
 * RFC 9110 §5.5 lets a value end in SP or HTAB, but llhttp refuses a Content-Length or
 * Transfer-Encoding that ends in HTAB (not in SP): a framing field two readers read apart is how
 * requests are smuggled, so such a head goes to node:http, which refuses it as it does
 * whichever reader has it.
 */
function hasTab(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) === 9) return true;
  return false;
}

/** The field lines of `head` after its request line, which ends at `eol`. */
function fieldCount(head: string, eol: number): number {
  let count = 0;
  while (eol !== -1) {
    count++;
    eol = head.indexOf('\r\n', eol + 2);
  }
  return count;
}

/**
 * The head (latin-1, without its final CRLF CRLF) as a plain request, or null: then it is
 * node:http's to read. Never throws.
 */
export function parsePlainHead(head: string): PlainHead | null {
  // CONNECT asks for a tunnel: node:http's to read (front.ts answers it 501).
  if (!PLAIN.test(head) || head.startsWith('CONNECT ')) return null;
  const method = head.slice(0, head.indexOf(' '));
  let eol = head.indexOf('\r\n');
  const url = head.slice(method.length + 1, eol - 9);
  const minor = head.charCodeAt(eol - 1);
  const http10 = minor === 0x30;
  const higherVersion = minor <= 0x31 ? undefined : head.slice(eol - 3, eol);
  // Made at its size: grown by push from empty, V8 gave the array room for 17 at the first
  // field and 41 past the eighth, the largest thing a head's parse allocated (docs/performance.md, 2026-12-06).
  const rawHeaders: string[] = new Array(2 * fieldCount(head, eol));
  let field = 0;
  // A plain object, as Node's: a name that is also a property of Object.prototype (`constructor`,
  // `__proto__`) reads as present below, and such a head goes to node:http.
  const headers: Record<string, string> = {};
  // RFC 9112 §9.3: an HTTP/1.0 connection persists only when the client asks it to.
  let keepAlive = !http10;
  let hasHost = false;
  let bodyLength = 0;
  let chunked = false;
  while (eol !== -1) {
    const start = eol + 2;
    eol = head.indexOf('\r\n', start);
    const end = eol === -1 ? head.length : eol;
    const colon = head.indexOf(':', start);
    const name = head.slice(start, colon);
    let last = end;
    while (last > colon + 1 && (head.charCodeAt(last - 1) === 32 || head.charCodeAt(last - 1) === 9)) last--;
    const value = head.slice(skipSpace(head, colon + 1, last), last);
    const lower = name.toLowerCase();
    if (headers[lower] !== undefined || NOT_PLAIN.has(lower)) return null;
    if (lower === 'host') hasHost = true;
    else if (lower === 'content-length') {
      // A list (`5, 5`), a sign, a space inside or an HTAB after (hasTab) is node:http's to judge (and refuse).
      if (!LENGTH.test(value) || hasTab(head, last, end)) return null;
      bodyLength = Number(value);
    } else if (lower === 'transfer-encoding') {
      // Another coding, or a list (`gzip, chunked`), is node:http's to judge; in HTTP/1.0 any
      // is a 400 that closes (RFC 9112 §6.1, front.ts route), which node:http gives.
      if (http10 || value.toLowerCase() !== 'chunked' || hasTab(head, last, end)) return null;
      chunked = true;
    } else if (lower === 'connection') {
      // A list naming other fields is hop-by-hop bookkeeping node:http and cgi-request.ts do.
      const token = value.toLowerCase();
      if (token === 'close') keepAlive = false;
      else if (token === 'keep-alive') keepAlive = true;
      else return null;
    }
    headers[lower] = value;
    rawHeaders[field++] = name;
    rawHeaders[field++] = value;
  }
  // Both framings at once is refused (RFC 9112 §6.1, SPEC 5.8): by node:http, with the rest.
  // An HTTP/1.1 request without Host is a 400 (RFC 9112 §3.2); an HTTP/1.0 one is served.
  if ((!hasHost && !http10) || (chunked && headers['content-length'] !== undefined)) return null;
  return { method, url, rawHeaders, headers, keepAlive, bodyLength, chunked, higherVersion, http10 };
}
