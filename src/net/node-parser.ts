// node:http's parser of a connection, started over where it stopped at an error the gateway
// reads past (net/raw-target.ts: octets >= 0x80 in a target; net/trailer-end.ts: fields
// forbidden in a chunked trailer). The parser object stays the connection's, so node:http's
// queue of requests and answers on it keeps its order; only llhttp's state starts anew.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

export interface NodeParser {
  constructor: { REQUEST: number; kOnMessageBegin: number; kOnMessageComplete: number };
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number, connections: unknown): void;
  unconsume?(): void;
  _consumed?: boolean;
  _headers?: unknown[];
  _url?: string;
  incoming?: IncomingMessage | null;
}

const kHeadRead = Symbol('apppkg.headRead');

export type ParsedSocket = Socket & { parser?: NodeParser | null; [kHeadRead]?: number | null };

/**
 * From now on, the read in which each request node:http reads on `socket` began is kept (as
 * socket.bytesRead then), for headBegunAt. Call it once node:http has given it a parser.
 */
export function watchRequestStarts(socket: Socket): void {
  const watched = socket as ParsedSocket;
  const parser = watched.parser;
  if (parser == null) return;
  (parser as unknown as Record<number, unknown>)[parser.constructor.kOnMessageBegin] = () => {
    watched[kHeadRead] = socket.bytesRead;
  };
}

/**
 * socket.bytesRead when the request node:http reads last (or now) began (watchRequestStarts);
 * null when none has begun since its parser started over with nothing to read: the connection
 * is idle, though node:http's clock for a head runs from that start.
 */
export function headBegunAt(socket: Socket): number | null | undefined {
  return (socket as ParsedSocket)[kHeadRead];
}

/** node:http's list of its connections' parsers, for its header and request timeouts. */
function connectionsOf(server: object): unknown {
  const key = Object.getOwnPropertySymbols(server).find((s) => s.description === 'http.server.connections');
  return key === undefined ? undefined : (server as Record<symbol, unknown>)[key];
}

/**
 * `socket`'s parser starts over at a message's first byte, and reads `rest` (that message, and
 * all that followed it) before any later read. False when node:http no longer reads `socket`.
 */
export function restartParser(socket: Socket, rest: Buffer): boolean {
  const parser = (socket as ParsedSocket).parser;
  const server = (socket as Socket & { server?: { maxHeaderSize?: number } }).server;
  if (parser == null || server == null || !socket.writable) return false;
  // Started over as node:http starts a connection's parser (strict: kLenientNone), with its
  // limits and in its list of connections; the JS side's partial head is dropped with it.
  parser.initialize(parser.constructor.REQUEST, {}, server.maxHeaderSize ?? 0, 0, connectionsOf(server));
  parser._headers = [];
  parser._url = '';
  // Read from the socket's stream from now on (not by the parser from the handle), so that
  // the bytes given back are read before any that come later.
  if (parser._consumed === true) {
    parser.unconsume?.();
    parser._consumed = false;
  }
  if (rest.length > 0) socket.unshift(rest);
  else (socket as ParsedSocket)[kHeadRead] = null;
  return true;
}
