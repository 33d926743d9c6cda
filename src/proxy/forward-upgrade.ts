// An Upgrade request (a websocket, or any other protocol switch) to a process that speaks HTTP
// itself, carried both ways by http-proxy: the handshake goes with the same header rules as
// forward-http.ts (hop-by-hop removed but Upgrade kept, X-Forwarded-* set), the 101 comes back,
// then bytes flow both ways until either side closes; the close or error of one side is passed
// on to the other. A failure before any answer becomes a short HTTP answer on the raw socket,
// and an answer the process got wrong (invalid-answer.ts) a 502 said once in the app's log.
import { createHash } from 'node:crypto';
import type { ClientRequest, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import httpProxy from 'http-proxy';
import { asksForWebsocket } from '../net/ignored-upgrade.js';
import { endLingering } from '../net/lingering-close.js';
import { targetAsSent } from '../net/request-head.js';
import { proxyFailure, proxyFailureDetail, refuseUpgradeFor } from './error-response.js';
import {
  CLOSED,
  CUT_HEAD,
  invalidAnswer,
  invalidAnswerLine,
  NO_UPGRADE,
  STALLED_HEAD,
  statusOutOfRange,
  WRONG_ACCEPT,
  WRONG_UPGRADE,
  type InvalidAnswer,
  type InvalidAnswerKind,
} from './invalid-answer.js';
import { connectionTokens, outgoingHeaders } from './outgoing-headers.js';
import type { RequestRoute } from './request-route.js';
import { WebsocketTunnel } from './websocket-tunnel.js';

export interface ForwardUpgradeOptions {
  /** No answer to the handshake within this → 504. */
  timeoutMs: number;
  /** Named in error bodies: "processes.live of chat". */
  label: string;
  /** A websocket is open (the process answered 101): what the gateway can close it with (a drain's end). */
  onWebsocket?: (tunnel: WebsocketTunnel) => void;
  /** A line for the app's log, said once per `kind` of this process: an answer it gave that no client may get. */
  reportOnce?: (kind: InvalidAnswerKind, line: string) => void;
  /** A line for the gateway's output: why a declined handshake's answer was cut. */
  say?: (line: string) => void;
}

/** RFC 6455 §1.3: what every websocket key is hashed with. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/**
 * What is wrong with a 101 to `req`, sent on as a websocket handshake (`websocket`), or null.
 * Whatever it carries, the 101 names its protocol (RFC 9110 15.2.2), and that is websocket, the
 * one the gateway asked for and carries; with a key, the accept is the key's too (RFC 6455 4.1
 * has the client fail the websocket for each). Null for a request sent on as something else
 * (a CONNECT): the process decides.
 */
function wrongSwitch(websocket: boolean, req: IncomingMessage, answer: IncomingMessage): InvalidAnswer | null {
  if (!websocket) return null;
  const upgrade = answer.headers.upgrade?.trim();
  if (upgrade === undefined || upgrade === '') return NO_UPGRADE;
  if (upgrade.toLowerCase() !== 'websocket' || !connectionTokens(answer.headers.connection).has('upgrade')) return WRONG_UPGRADE;
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string') return null;
  const expected = createHash('sha1').update(key + WEBSOCKET_GUID).digest('base64');
  return answer.headers['sec-websocket-accept']?.trim() === expected ? null : WRONG_ACCEPT;
}

/**
 * An answer's fields for http-proxy to write (it writes `headers`' keys as they are, an array's
 * values a line each): the names as the process wrote them, in the order each first came, a
 * name's repeats as its lines (node:http's `headers` lowercased every name and joined repeats
 * with a comma), less `drop` (lowercase names). As forward-http.ts passes an answer on.
 */
function asWritten(raw: readonly string[], drop: readonly string[] = []): Record<string, string | string[]> {
  const fields: Record<string, string | string[]> = {};
  const nameOf = new Map<string, string>();
  for (let i = 0; i < raw.length; i += 2) {
    const lower = raw[i].toLowerCase();
    if (drop.includes(lower)) continue;
    const name = nameOf.get(lower);
    if (name === undefined) {
      nameOf.set(lower, raw[i]);
      fields[raw[i]] = raw[i + 1];
    } else {
      const seen = fields[name];
      fields[name] = Array.isArray(seen) ? [...seen, raw[i + 1]] : [seen, raw[i + 1]];
    }
  }
  return fields;
}

/** How long a half-closed tunnel may take to finish before it is destroyed. */
const CLOSE_GRACE_MS = 5000;

/**
 * Ends `socket` when `other` closes, and destroys it if it does not close in time. It is read
 * on (what it still sends has nowhere to go): unpiped from `other`, it is paused, and a paused
 * socket never reads the FIN that answers ours, so it stayed open (and its websocket counted)
 * for the whole grace after both ends had closed.
 */
function endWith(socket: Socket, other: Socket): void {
  other.once('close', () => {
    if (socket.destroyed) return;
    socket.end();
    socket.resume();
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  });
}

function createProxy(): httpProxy {
  const proxy = httpProxy.createProxyServer({ ws: true, xfwd: false });
  // http-proxy destroys any upgrade that is not a websocket GET (its first ws pass); the gateway
  // only calls us for requests that ask to upgrade, and the process decides what it accepts.
  const internal = proxy as unknown as { wsPasses?: Array<{ name: string }> };
  if (Array.isArray(internal.wsPasses)) internal.wsPasses = internal.wsPasses.filter((pass) => pass.name !== 'checkMethodAndHeader');
  return proxy;
}

export function forwardUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, port: number, route: RequestRoute, opts: ForwardUpgradeOptions): void {
  // Taken for a websocket when its Upgrade lists one (RFC 6455 4.1; any case, among other
  // tokens: RFC 9110 7.8), it goes on as a websocket handshake alone: the websocket is the one
  // protocol the gateway carries, so the process is offered no other to pick.
  const websocket = asksForWebsocket(req);
  req.headers = outgoingHeaders(req, route, { upgrade: true });
  if (websocket) req.headers.upgrade = 'websocket';
  const proxy = createProxy();
  /** A status line (101 or another answer) went to the client: no error answer after it. */
  let answered = false;
  /** Bytes of the process's answer read before it failed: a head begun, then cut (CUT_HEAD). */
  let upstreamSocket: Socket | null = null;
  /** The process's answer other than a 101, which http-proxy passes on as its body comes. */
  let declined: IncomingMessage | null = null;

  const report = (invalid: InvalidAnswer, status?: string): void =>
    opts.reportOnce?.(invalid.kind, invalidAnswerLine(opts.label, req.method ?? 'GET', targetAsSent(req) ?? '/', invalid, status));
  const refuseInvalid = (invalid: InvalidAnswer): void => {
    report(invalid);
    refuseUpgradeFor(socket, 'bad-response', `${opts.label} ${invalid.did}`);
  };

  proxy.on('proxyReqWs', (proxyReq: ClientRequest) => {
    proxyReq.once('socket', (s: Socket) => (upstreamSocket = s));
    // The socket's idle timer: before the answer, the 504's; after a refusal's head, the gap
    // between two pieces of its body (forward-http.ts's bodyTimeout, nginx's
    // proxy_read_timeout), else a body short of its length or ending with a connection the
    // process holds kept the client for as long as the process held it.
    proxyReq.setTimeout(opts.timeoutMs, () => {
      if (!answered) proxyReq.destroy(Object.assign(new Error(`no answer within ${opts.timeoutMs} ms`), { code: 'ETIMEDOUT' }));
      else if (declined !== null && !declined.complete && !socket.destroyed) {
        opts.say?.(`${opts.label} sent nothing more of its ${declined.statusCode} answer to the upgrade ${req.method} ${targetAsSent(req) ?? '/'} for ${opts.timeoutMs / 1000} s (the app's timeout, between two pieces of a body): the client's connection is cut`);
        proxyReq.destroy();
        socket.destroy();
      }
    });
    // The process declined to upgrade (a 101 comes as 'upgrade', not here). This runs before
    // http-proxy's own handler, which writes the answer's head as it is: the body arrives
    // decoded and the connection then closes, so no chunked framing and no keep-alive.
    proxyReq.prependListener('response', (answer: IncomingMessage) => {
      answered = true;
      declined = answer;
      const fields = asWritten(answer.rawHeaders, ['transfer-encoding', 'keep-alive', 'connection']);
      fields.Connection = 'close';
      answer.headers = fields;
      // http-proxy pipes the answer and ends the socket, which node:http handed over paused:
      // what the client wrote after its head (a first frame) held its FIN unread, and the
      // socket stayed open for good (no 'close', no access-log line). Read on to the FIN.
      socket.once('finish', () => endLingering(socket));
    });
    // A 101 no client takes (a wrong accept or Upgrade), or an answer with a status no client
    // may read: http-proxy's own listener would pass it on (and the client fail it, a browser
    // with no words), and a listener of ours runs beside it, not instead: so the event is held
    // back here, before any listener sees it.
    const emit = proxyReq.emit;
    proxyReq.emit = function (this: ClientRequest, event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'upgrade' && !answered) {
        answered = true;
        const [answer, proxySocket] = args as [IncomingMessage, Socket];
        const wrong = wrongSwitch(websocket, req, answer);
        if (wrong !== null) {
          proxySocket.destroy();
          refuseInvalid(wrong);
          return true;
        }
        answer.headers = asWritten(answer.rawHeaders);
      }
      if (event === 'response' && !answered) {
        // A 101 node:http does not take for a switch (its Connection names no upgrade) comes
        // here, and would go out as a 101 with no protocol behind it.
        const answer = args[0] as IncomingMessage;
        const wrong = answer.statusCode === 101 ? (wrongSwitch(websocket, req, answer) ?? WRONG_UPGRADE) : statusOutOfRange(answer.statusCode ?? 0);
        if (wrong !== null) {
          answered = true;
          proxyReq.destroy();
          refuseInvalid(wrong);
          return true;
        }
      }
      return emit.call(this, event, ...args);
    } as typeof proxyReq.emit;
    // The client left during the handshake: the process need not finish it.
    socket.once('close', () => {
      if (!answered) proxyReq.destroy();
    });
  });

  proxy.on('open', (proxySocket: Socket) => {
    endWith(socket, proxySocket);
    endWith(proxySocket, socket);
    // Another protocol's bytes have no frames to follow: only the process can end those.
    if (websocket) opts.onWebsocket?.(new WebsocketTunnel(socket, proxySocket));
  });

  proxy.ws(req, socket, head, { target: `http://127.0.0.1:${port}` }, (err) => {
    // http-proxy ends the socket after this: say why first, when nothing was said yet.
    if (answered || socket.destroyed) return;
    answered = true;
    // node:http's 'socket hang up' alike for a process gone before a byte and one gone mid-head,
    // and its timeout alike for one silent from the start and one stuck mid-head.
    const code = (err as NodeJS.ErrnoException).code;
    const headBegun = (upstreamSocket?.bytesRead ?? 0) > 0;
    const invalid = invalidAnswer(err, null) ?? (headBegun && code === 'ECONNRESET' ? CUT_HEAD : null);
    if (invalid !== null) refuseInvalid(invalid);
    else if (headBegun && code === 'ETIMEDOUT') {
      report(STALLED_HEAD, '504 Gateway Timeout');
      refuseUpgradeFor(socket, 'timeout', `${opts.label} ${STALLED_HEAD.did}`);
    } else {
      if (code === 'ECONNRESET') report(CLOSED);
      refuseUpgradeFor(socket, proxyFailure(err), proxyFailureDetail(err, opts.label));
    }
  });
}
