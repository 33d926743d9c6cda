// The REQUEST frame's payload (docs/protocol.md §3), written in this one place: the proxy sends
// every client request with it (and a websocket's WS_CONNECT, §8, which has the same payload, and
// a REQUEST_FULL, §2, which has it as its head), the supervisor's health probe a synthetic GET.
// The worker's reader (python-shim/apppkg_shim/environ.py) takes the fields in this order.
import { Frame, HEADER_SIZE } from './frames.js';
import { putLatin1 } from '../net/latin1-bytes.js';

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
 * One REQUEST frame: the fixed fields, then `pairs` (`\0NAME\0value` for each CGI variable,
 * each pair starting with its NUL). No field may contain NUL: the caller refuses such a path.
 * `type` WS_CONNECT: the same payload asks an ASGI app to open a websocket.
 */
export function encodeRequest(id: number, line: RequestLine, pairs: string, type: typeof Frame.REQUEST | typeof Frame.WS_CONNECT = Frame.REQUEST): Buffer {
  // Written field by field into the frame: the payload as one string first (a dozen joins, then
  // the whole string again flat) was the largest thing a proxied request allocated, ~0.9 KB of
  // a hello's ~7 (docs/performance.md, 2026-12-03).
  const serverPort = String(line.serverPort);
  const remotePort = String(line.remotePort);
  const length = headLength(line, serverPort, remotePort, pairs);
  const frame = Buffer.allocUnsafe(HEADER_SIZE + length);
  frame[0] = type;
  frame.writeUInt32BE(id, 1);
  frame.writeUInt32BE(length, 5);
  putHead(frame, HEADER_SIZE, line, serverPort, remotePort, pairs);
  return frame;
}

/**
 * The largest body a REQUEST_FULL carries. A body the front has whole at dispatch came in one
 * read of the client (128 KiB, net/shared-read-buffer.ts) or a few kept ones; within a credit
 * step, it never waits on the request window, and the worker's frame buffer (256 KiB) holds it
 * without growing.
 */
export const REQUEST_FULL_BODY_MAX = 256 * 1024;

/**
 * One REQUEST_FULL frame: the head's length (u32), the head as encodeRequest's payload, then
 * `body`, the whole body (docs/protocol.md §2): the REQUEST, REQUEST_BODY and REQUEST_END a
 * body the front has whole would otherwise take, each a dispatch in the worker's Python (H270).
 * `body` is copied into the frame, so it may be a view of a read buffer reused after the call.
 */
export function encodeRequestFull(id: number, line: RequestLine, pairs: string, body: Buffer): Buffer {
  const serverPort = String(line.serverPort);
  const remotePort = String(line.remotePort);
  const head = headLength(line, serverPort, remotePort, pairs);
  const at = HEADER_SIZE + 4 + head;
  const frame = Buffer.allocUnsafe(at + body.length);
  frame[0] = Frame.REQUEST_FULL;
  frame.writeUInt32BE(id, 1);
  frame.writeUInt32BE(4 + head + body.length, 5);
  frame.writeUInt32BE(head, HEADER_SIZE);
  putHead(frame, HEADER_SIZE + 4, line, serverPort, remotePort, pairs);
  body.copy(frame, at);
  return frame;
}

function headLength(line: RequestLine, serverPort: string, remotePort: string, pairs: string): number {
  return (
    line.method.length + line.scheme.length + line.serverName.length + serverPort.length + line.remoteAddr.length + remotePort.length +
    line.scriptName.length + line.pathInfo.length + line.queryString.length + line.requestUri.length + line.protocol.length + line.body.length +
    SEPARATORS + pairs.length
  );
}

function putHead(frame: Buffer, at: number, line: RequestLine, serverPort: string, remotePort: string, pairs: string): void {
  at = putField(frame, at, line.method);
  at = putField(frame, at, line.scheme);
  at = putField(frame, at, line.serverName);
  at = putField(frame, at, serverPort);
  at = putField(frame, at, line.remoteAddr);
  at = putField(frame, at, remotePort);
  at = putField(frame, at, line.scriptName);
  at = putField(frame, at, line.pathInfo);
  at = putField(frame, at, line.queryString);
  at = putField(frame, at, line.requestUri);
  at = putField(frame, at, line.protocol);
  at = putLatin1(frame, at, line.body);
  putLatin1(frame, at, pairs);
}

/** The NULs after the first eleven fixed fields (the twelfth, body, is followed by the pairs). */
const SEPARATORS = 11;

/** `s` and the NUL that ends it; returns where the next field starts. */
function putField(frame: Buffer, at: number, s: string): number {
  at = putLatin1(frame, at, s);
  frame[at] = 0;
  return at + 1;
}
