// An upgrade for an ASGI app's worker, handed to the `ws` library for the websocket protocol
// (framing, masking, ping/pong, fragmentation, size limits) and to the app for the decision:
// `ws` checks the request, then asks the app through verifyClient, answered when the app's
// WS_ACCEPT or refusal comes (asgi-websocket.ts), then writes the 101 with the subprotocol and
// the headers the app chose. docs/protocol.md §8.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import type { WorkerLink } from '../link/worker-link.js';
import { targetAsSent } from '../net/request-head.js';
import { testKnob } from '../test-knob.js';
import { AsgiWebsocket, type AsgiWebsocketOptions } from './asgi-websocket.js';
import { cgiRequest } from './cgi-request.js';
import { refuseUpgradeFor } from './error-response.js';
import { forwardedHostProblem, HOP_BY_HOP_HEADERS } from './forwarded-headers.js';
import { refuseHandshake } from './handshake-check.js';
import type { OpenWebsockets } from './open-websockets.js';
import type { RequestRoute } from './request-route.js';
import { isValidHeader } from './websocket-denial.js';

export interface WebsocketOptions extends AsgiWebsocketOptions {
  /** The app's handshake completer (createWebsocketServer), made at its first websocket. */
  server: WebSocketServer | null;
  /** Larger messages close 1009 (the app's max_body, else 16 MiB: start-app.ts DEFAULT_MAX_MESSAGE). */
  maxPayload: number;
  /** Every websocket the gateway holds (closed with 1001 when it stops). */
  open: OpenWebsockets;
}

const kWebsocket = Symbol('apppkg.websocket');
type WithWebsocket = IncomingMessage & { [kWebsocket]?: AsgiWebsocket };

function websocketOf(req: IncomingMessage): AsgiWebsocket {
  return (req as WithWebsocket)[kWebsocket]!;
}

/** Headers of the 101 that are the handshake's own (ws writes them) or that a 1xx must not carry. */
const HANDSHAKE_HEADERS = new Set([...HOP_BY_HOP_HEADERS, 'content-length', 'sec-websocket-accept', 'sec-websocket-protocol', 'sec-websocket-extensions']);

/**
 * How long a closing websocket waits for the client's close frame (or FIN) before the gateway
 * ends the connection, whoever closed it (the app, 1009, a drain's 1012, a stop's 1001): the
 * `websockets` library's close_timeout under uvicorn. ws's own 30 s held the socket of a client
 * that never answers three times as long.
 */
const CLOSE_TIMEOUT_MS = 10_000;
/** Shortens it for the test suite alone (test/proxy/asgi-websocket-close-timeout; test-knob.ts). */
const CLOSE_TIMEOUT_ENV = 'APPPKG_TEST_WS_CLOSE_MS';

/** The handshake completer for one app's websockets. `maxPayload`: larger messages close 1009. */
function createWebsocketServer(maxPayload: number): WebSocketServer {
  const server = new WebSocketServer({
    noServer: true,
    // @types/ws 8.18 does not declare ws 8.23's closeTimeout; each websocket takes it from its server.
    ...({ closeTimeout: testKnob(CLOSE_TIMEOUT_ENV, CLOSE_TIMEOUT_MS) } as object),
    clientTracking: false,
    perMessageDeflate: false,
    maxPayload,
    verifyClient: (info, answer) => websocketOf(info.req).connect(answer),
    handleProtocols: (offered, req) => websocketOf(req).chooseProtocol(offered),
  });
  // A handshake ws cannot complete (not a GET; a bad key, version or subprotocol list) got ws's
  // own answer: text/html, no Date (RFC 9110 §6.6.1), a 405 without the Allow it must carry
  // (§15.5.6). The gateway's refusal instead, with ws's reason (handshake-check.ts).
  server.on('wsClientError', (err: Error, socket: Socket, req: IncomingMessage) => refuseHandshake(socket, req, err.message));
  // The app's extra headers on the 101, but for the handshake's own; and its subprotocol where
  // the client offered none, which ws does not ask handleProtocols about.
  server.on('headers', (lines, req) => {
    if (!req.headers['sec-websocket-protocol']) {
      const protocol = websocketOf(req).chooseProtocol(new Set());
      if (protocol) lines.push(`Sec-WebSocket-Protocol: ${protocol}`);
    }
    for (const [name, value] of websocketOf(req).acceptHeaders) {
      if (!HANDSHAKE_HEADERS.has(name.toLowerCase()) && isValidHeader(name, value)) lines.push(`${name}: ${value}`);
    }
  });
  return server;
}

/**
 * Asks the ASGI app behind `link` to take the websocket `req` asks for. False, having answered
 * nothing, when the link takes no more (closed, or its worker stopping): the caller tries another.
 */
export function forwardWebsocket(link: WorkerLink, req: IncomingMessage, socket: Socket, head: Buffer, route: RequestRoute, options: WebsocketOptions): boolean {
  if (route.pathInfo.includes('\0') || route.scriptName.includes('\0')) {
    refuseUpgradeFor(socket, 'bad-path', 'the path contains %00');
    return true;
  }
  const hostProblem = route.trustProxy === null ? null : forwardedHostProblem(req, route, route.trustProxy);
  if (hostProblem !== null) {
    refuseUpgradeFor(socket, 'bad-forwarded-host', hostProblem);
    return true;
  }
  const websocket = new AsgiWebsocket(link, socket, cgiRequest(req, route, true, true), options, targetAsSent(req));
  const id = link.openWebsocket(websocket);
  if (id === 0) return false;
  websocket.id = id;
  (req as WithWebsocket)[kWebsocket] = websocket;
  options.open.add(websocket);
  socket.once('close', () => {
    options.open.delete(websocket);
    link.clientClosed(websocket);
  });
  options.server ??= createWebsocketServer(options.maxPayload);
  options.server.handleUpgrade(req, socket, head, (ws) => websocket.opened(ws));
  // Refused before the app was asked (not a websocket GET, a bad key: 400/405, wsClientError): the app never heard of it.
  if (!websocket.asked) link.forget(id);
  return true;
}
