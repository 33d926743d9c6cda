// An Upgrade request (a websocket, or any other protocol switch) to a process that speaks HTTP
// itself, carried both ways by http-proxy: the handshake goes with the same header rules as
// forward-http.ts (hop-by-hop removed but Upgrade kept, X-Forwarded-* set), the 101 comes back,
// then bytes flow both ways until either side closes; the close or error of one side is passed
// on to the other. A failure before any answer becomes a short HTTP answer on the raw socket.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import httpProxy from 'http-proxy';
import { endLingering } from '../net/lingering-close.js';
import { proxyFailure, proxyFailureDetail, refuseUpgradeFor } from './error-response.js';
import { outgoingHeaders } from './outgoing-headers.js';
import type { RequestRoute } from './request-route.js';
import { WebsocketTunnel } from './websocket-tunnel.js';

export interface ForwardUpgradeOptions {
  /** No answer to the handshake within this → 504. */
  timeoutMs: number;
  /** Named in error bodies: "processes.live of chat". */
  label: string;
  /** A websocket is open (the process answered 101): what the gateway can close it with (a drain's end). */
  onWebsocket?: (tunnel: WebsocketTunnel) => void;
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
  req.headers = outgoingHeaders(req, route, { upgrade: true });
  const proxy = createProxy();
  /** A status line (101 or another answer) went to the client: no error answer after it. */
  let answered = false;

  proxy.on('proxyReqWs', (proxyReq) => {
    proxyReq.setTimeout(opts.timeoutMs, () => {
      if (!answered) proxyReq.destroy(Object.assign(new Error(`no answer within ${opts.timeoutMs} ms`), { code: 'ETIMEDOUT' }));
    });
    // The process declined to upgrade (a 101 comes as 'upgrade', not here). This runs before
    // http-proxy's own handler, which writes the answer's head as it is: the body arrives
    // decoded and the connection then closes, so no chunked framing and no keep-alive.
    proxyReq.prependListener('response', (answer: IncomingMessage) => {
      answered = true;
      delete answer.headers['transfer-encoding'];
      delete answer.headers['keep-alive'];
      answer.headers.connection = 'close';
      // http-proxy pipes the answer and ends the socket, which node:http handed over paused:
      // what the client wrote after its head (a first frame) held its FIN unread, and the
      // socket stayed open for good (no 'close', no access-log line). Read on to the FIN.
      socket.once('finish', () => endLingering(socket));
    });
    proxyReq.prependListener('upgrade', () => {
      answered = true;
    });
    // The client left during the handshake: the process need not finish it.
    socket.once('close', () => {
      if (!answered) proxyReq.destroy();
    });
  });

  proxy.on('open', (proxySocket: Socket) => {
    endWith(socket, proxySocket);
    endWith(proxySocket, socket);
    // Another protocol's bytes have no frames to follow: only the process can end those.
    if (String(req.headers.upgrade).toLowerCase() === 'websocket') opts.onWebsocket?.(new WebsocketTunnel(socket, proxySocket));
  });

  proxy.ws(req, socket, head, { target: `http://127.0.0.1:${port}` }, (err) => {
    // http-proxy ends the socket after this: say why first, when nothing was said yet.
    if (answered || socket.destroyed) return;
    answered = true;
    refuseUpgradeFor(socket, proxyFailure(err), proxyFailureDetail(err, opts.label));
  });
}
