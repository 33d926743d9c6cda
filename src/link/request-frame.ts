// The REQUEST frame's payload (docs/protocol.md §3), written in this one place: the proxy sends
// every client request with it (and a websocket's WS_CONNECT, §8, which has the same payload),
// the supervisor's health probe a synthetic GET. The worker's reader
// (python-shim/apppkg_shim/environ.py) takes the fields in this order.
import { Frame, encodeLatin1Frame } from './frames.js';

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
  const payload =
    `${line.method}\0${line.scheme}\0${line.serverName}\0${line.serverPort}\0${line.remoteAddr}\0${line.remotePort}\0` +
    `${line.scriptName}\0${line.pathInfo}\0${line.queryString}\0${line.requestUri}\0${line.protocol}\0${line.body}${pairs}`;
  return encodeLatin1Frame(type, id, payload);
}
