// What Node's HTTP parser lets through but RFC 9112 says a server must refuse, checked once
// per request head before it is routed: a refused head never reaches an app
// (test/reliability/client-input.test.ts).
import type { IncomingMessage } from 'node:http';

/** reg-name or IP-literal, then an optional port (RFC 9110 §7.2, RFC 3986 §3.2.2). */
const HOST_VALUE = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]*)(?::\d*)?$/;

/** Chunked last (RFC 9112 §6.3 item 4); codings before it are the app's to undo. */
const CHUNKED_LAST = /(?:^|,)[ \t]*chunked[ \t]*$/i;

/**
 * Why the request head must be answered 400 (and the connection closed), or null when it may
 * be routed. Cheap on the common path: one version check, one pass over the raw header names.
 */
export function requestHeadProblem(req: IncomingMessage): string | null {
  // llhttp takes `GET /path` with no version as HTTP/0.9 and parses `HTTP/2.0`; neither is an
  // HTTP/1.x message, and answering either as one would be a guess (RFC 9112 §2.3).
  if (req.httpVersionMajor !== 1) return `HTTP/${req.httpVersion} is not spoken here: send HTTP/1.1`;
  let hosts = 0;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i];
    if (name.length !== 4 || name.toLowerCase() !== 'host') continue;
    // Node keeps the first Host and drops the rest; which one the app would see is not the
    // client's choice to make. RFC 9112 §3.2: more than one Host, or an invalid one, is a 400.
    if (++hosts > 1) return 'more than one Host header';
    if (!HOST_VALUE.test(raw[i + 1])) return 'the Host header is not a host[:port]';
  }
  // Node answers a Transfer-Encoding whose last coding is not chunked with 400, but only after
  // it has handed the head to us: refuse it before an app is given a request with no framing.
  const te = req.headers['transfer-encoding'];
  if (te !== undefined && !CHUNKED_LAST.test(te)) return 'Transfer-Encoding must end with chunked';
  return null;
}
