// The REQUEST frame's payload (docs/protocol.md §3), written in this one place: the proxy sends
// every client request with it (and a websocket's WS_CONNECT, §8, which has the same payload),
// the supervisor's health probe a synthetic GET. The worker's reader
// (python-shim/apppkg_shim/environ.py) takes the fields in this order.
import { Frame, HEADER_SIZE } from './frames.js';

/** The twelve fixed fields, in frame order. All strings are latin-1 (bytes as chars). */
export interface RequestLine {
  method: string;
  scheme: string;
  serverName: string;
  serverPort: number | string;
  remoteAddr: string;
  remotePort: number | string;
  /** SCRIPT_NAME, percent-decoded. */
  scriptName: string;
  /** PATH_INFO, percent-decoded. */
  pathInfo: string;
  /** QUERY_STRING, raw. */
  queryString: string;
  /** REQUEST_URI, raw. */
  requestUri: string;
  /** `HTTP/1.1`. */
  protocol: string;
  /** '' = no body, a decimal Content-Length, or `chunked`. */
  body: string;
}

/**
 * One REQUEST frame in a Buffer of its own (the proxy's go into its link's turn buffer:
 * worker-link.ts writeRequest): the fixed fields, then `pairs` and `peerPairs` (`\0NAME\0value`
 * for each CGI variable, each pair starting with its NUL; two strings, written one after the
 * other, so that neither is joined to the other and flattened per request). No field may
 * contain NUL: the caller refuses such a path. `type` WS_CONNECT: the same payload asks an ASGI
 * app to open a websocket.
 */
export function encodeRequest(
  id: number,
  line: RequestLine,
  pairs: string,
  type: typeof Frame.REQUEST | typeof Frame.WS_CONNECT = Frame.REQUEST,
  peerPairs = '',
): Buffer {
  const frame = Buffer.allocUnsafe(requestFrameSize(line, pairs, peerPairs));
  putRequest(frame, 0, frame.length, id, line, pairs, peerPairs, type);
  return frame;
}

/** The bytes of the frame of `line` and its pairs, header included. */
export function requestFrameSize(line: RequestLine, pairs: string, peerPairs: string): number {
  return (
    HEADER_SIZE + line.method.length + line.scheme.length + line.serverName.length + String(line.serverPort).length + line.remoteAddr.length +
    String(line.remotePort).length + line.scriptName.length + line.pathInfo.length + line.queryString.length + line.requestUri.length +
    line.protocol.length + line.body.length + SEPARATORS + pairs.length + peerPairs.length
  );
}

/**
 * Writes the frame, of `size` bytes (requestFrameSize()), into `into` at `at`; returns where it
 * ends. Field by field: the payload as one string first (a dozen joins, then the whole
 * string again flat) was the largest thing a proxied request allocated, ~0.9 KB of a hello's ~7
 * (docs/performance.md, 2026-12-03).
 */
export function putRequest(into: Buffer, at: number, size: number, id: number, line: RequestLine, pairs: string, peerPairs: string, type: number = Frame.REQUEST): number {
  into[at] = type;
  into.writeUInt32BE(id, at + 1);
  into.writeUInt32BE(size - HEADER_SIZE, at + 5);
  at = putField(into, at + HEADER_SIZE, line.method);
  at = putField(into, at, line.scheme);
  at = putField(into, at, line.serverName);
  at = putField(into, at, String(line.serverPort));
  at = putField(into, at, line.remoteAddr);
  at = putField(into, at, String(line.remotePort));
  at = putField(into, at, line.scriptName);
  at = putField(into, at, line.pathInfo);
  at = putField(into, at, line.queryString);
  at = putField(into, at, line.requestUri);
  at = putField(into, at, line.protocol);
  at = putLatin1(into, at, line.body);
  at = putLatin1(into, at, pairs);
  return putLatin1(into, at, peerPairs);
}

/** The NULs after the first eleven fixed fields (the twelfth, body, is followed by the pairs). */
const SEPARATORS = 11;

/** `s` as latin-1 at `at`, a char per byte; returns where it ends. */
function putLatin1(frame: Buffer, at: number, s: string): number {
  return s.length === 0 ? at : at + frame.write(s, at, s.length, 'latin1');
}

/** `s` and the NUL that ends it; returns where the next field starts. */
function putField(frame: Buffer, at: number, s: string): number {
  at = putLatin1(frame, at, s);
  frame[at] = 0;
  return at + 1;
}
