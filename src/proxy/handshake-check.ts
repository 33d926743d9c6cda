// A websocket handshake the `ws` module (forward-websocket.ts) would refuse, judged without it
// and without the app: a sleeping ASGI app is not woken for a handshake no worker could take
// (app-dispatcher.ts upgrade). Its checks, in its order and words (ws 8 WebSocketServer
// handleUpgrade: the method, Upgrade, the key, the version, the subprotocols), and the gateway's answer to them,
// which forward-websocket.ts gives when ws refuses one (its 'wsClientError'): the same bytes
// whichever says it, the Sec-WebSocket-Protocol list judged by ws's own parser.
import type { IncomingMessage } from 'node:http';
import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { refuseUpgrade } from './error-response.js';

/**
 * ws's subprotocol parser (ws/lib/subprotocol.js), which its package's exports keep private:
 * reached beside ws's own entry, so that the list is judged by the very code that refuses it
 * (a copy could drift from ws's). Null where an upgrade of ws moved it: such a list is then left
 * to ws, awake, as before. Loaded at the first list judged, not at the module's load: a gateway
 * serving no websocket loads no file of ws (test/cli/start-files).
 */
let parseSubprotocols: ((header: string) => Set<string>) | null | undefined;

function subprotocolParser(): ((header: string) => Set<string>) | null {
  if (parseSubprotocols !== undefined) return parseSubprotocols;
  try {
    const require = createRequire(import.meta.url);
    const parse = (require(join(dirname(require.resolve('ws')), 'lib', 'subprotocol.js')) as { parse?: unknown }).parse;
    parseSubprotocols = typeof parse === 'function' ? (parse as (header: string) => Set<string>) : null;
  } catch {
    parseSubprotocols = null;
  }
  return parseSubprotocols;
}

/** RFC 6455 §4.1: 16 random bytes in base64, as ws tests it. */
const KEY = /^[+/0-9A-Za-z]{22}==$/;

/** What ws says refusing `req`'s handshake; null when it would go on to ask the app. */
export function handshakeProblem(req: IncomingMessage): string | null {
  if (req.method !== 'GET') return 'Invalid HTTP method';
  const upgrade = req.headers.upgrade;
  if (upgrade === undefined || upgrade.toLowerCase() !== 'websocket') return 'Invalid Upgrade header';
  const key = req.headers['sec-websocket-key'];
  if (key === undefined || !KEY.test(key)) return 'Missing or invalid Sec-WebSocket-Key header';
  const version = Number(req.headers['sec-websocket-version']);
  if (version !== 13 && version !== 8) return 'Missing or invalid Sec-WebSocket-Version header';
  const protocols = req.headers['sec-websocket-protocol'];
  const parse = protocols === undefined ? null : subprotocolParser();
  if (protocols !== undefined && parse !== null) {
    try {
      parse(protocols);
    } catch {
      return 'Invalid Sec-WebSocket-Protocol header';
    }
  }
  return null;
}

/**
 * The gateway's refusal of a handshake ws cannot complete, `problem` ws's words: not a GET, a
 * 405 with the Allow it must carry (RFC 9110 §15.5.6); else a 400, with the versions it speaks
 * (RFC 6455 §4.4) when the client's is not one of them. Not ws's own answer (text/html, no Date).
 */
export function refuseHandshake(socket: Socket, req: IncomingMessage, problem: string): void {
  if (req.method !== 'GET') return refuseUpgrade(socket, 405, `a websocket handshake is a GET (RFC 6455 §4.1), not ${req.method}`, { Allow: 'GET' });
  const version = Number(req.headers['sec-websocket-version']);
  refuseUpgrade(socket, 400, problem, version === 13 || version === 8 ? {} : { 'Sec-WebSocket-Version': '13, 8' });
}
