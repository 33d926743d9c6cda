// undici refuses a 100 Continue from a server, one followed by its final answer too
// (client-h1.js onHeadersComplete: 'bad response', before onInfo), where RFC 9110 §15.2 has a
// client take any 1xx it did not ask for and wait for the final answer, as it does with a 102
// or a 103. nginx and node:http do. The connector here, given to a process's Pool, hands the
// parser of each new connection a 100 as a 1xx undici takes: one function call more per answer
// head on a process's connections, nothing on the way to a Python worker (its link). undici
// names its parser by a symbol it does not export: where it is not found (another undici), a
// 100 is refused as before, and test/reliability/response-heads.test.ts (st-100-200) fails.
import type { Socket } from 'node:net';
import type { buildConnector } from 'undici';

/**
 * The status undici is told a 100 is, and onInfo then passes on: 1xx, not 100 (the one it
 * refuses) nor 101 (a switch). No server sends it (none is registered); one that did is read as a 100.
 */
export const CONTINUE_AS = 199;

type HeadersComplete = (statusCode: number, upgrade: boolean, shouldKeepAlive: boolean) => number;

/** undici's parser of `socket`, once it is attached (connectH1), or null. */
function parserOf(socket: Socket): { onHeadersComplete?: HeadersComplete } | null {
  const key = Object.getOwnPropertySymbols(socket).find((symbol) => symbol.description === 'parser');
  const parser = key === undefined ? undefined : (socket as unknown as Record<symbol, unknown>)[key];
  return typeof parser === 'object' && parser !== null ? (parser as { onHeadersComplete?: HeadersComplete }) : null;
}

/** Before undici reads a byte of `socket` (its parser is attached by then): 100 read as CONTINUE_AS. */
function takeContinue(socket: Socket): void {
  socket.prependOnceListener('readable', () => {
    const parser = parserOf(socket);
    const original = parser?.onHeadersComplete;
    if (parser === null || typeof original !== 'function') return;
    parser.onHeadersComplete = function (this: unknown, statusCode, upgrade, shouldKeepAlive) {
      return original.call(this, statusCode === 100 ? CONTINUE_AS : statusCode, upgrade, shouldKeepAlive);
    };
  });
}

/** undici's own connector (`build`: undici's buildConnector, loaded lazily: upstream.ts), each socket it makes taking a 100 before a final answer. */
export function interimConnector(build: typeof buildConnector): buildConnector.connector {
  const connect = build({});
  return (options, callback) =>
    connect(options, (err, socket) => {
      // A failed connect gives no socket (undefined, whatever its type says): a refused one,
      // a process just killed, which ended the gateway here (reliability/faults R3.2).
      if (err) return callback(err, null);
      takeContinue(socket as Socket);
      callback(null, socket as Socket);
    });
}

/** The 1xx status onInfo was given, as the process sent it. */
export function interimStatus(statusCode: number): number {
  return statusCode === CONTINUE_AS ? 100 : statusCode;
}
