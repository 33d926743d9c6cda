// node:http's parser of a connection, started over where it stopped at an error the gateway
// reads past (net/raw-target.ts: octets >= 0x80 in a target; net/trailer-end.ts: fields
// forbidden in a chunked trailer). The parser object stays the connection's, so node:http's
// queue of requests and answers on it keeps its order; only llhttp's state starts anew.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

export interface NodeParser {
  constructor: { REQUEST: number; kOnMessageBegin: number; kOnMessageComplete: number; kLenientVersion?: number };
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

/**
 * `socket`'s parser (just made by node:http's connection listener) reads a request line's version
 * as RFC 9112 §2.3 asks: HTTP/1.2 to 1.9 as the 1.1 it is to be treated as (front.ts serves it so:
 * net/request-line-version.ts restoreSentVersion), where llhttp refuses it 400 unless told to be
 * lenient there. Only the version: every other check of llhttp's stays strict (no
 * insecureHTTPParser). Another major version or an HTTP/0.x other than 0.9 is still refused, by
 * the front (505, 400) rather than by llhttp.
 */
export function readVersionsAsRfc(socket: Socket): void {
  const parser = (socket as ParsedSocket).parser;
  const server = (socket as Socket & { server?: { maxHeaderSize?: number } }).server;
  if (parser == null || server == null) return;
  initialize(parser, socket, server);
}

/** Started as node:http starts a connection's parser, with its limits and in its list of connections, leniently only about versions. */
function initialize(parser: NodeParser, socket: Socket, server: { maxHeaderSize?: number }): void {
  const resource = { type: 'HTTPINCOMINGMESSAGE', socket };
  parser.initialize(parser.constructor.REQUEST, resource, server.maxHeaderSize ?? 0, parser.constructor.kLenientVersion ?? 0, connectionsOf(server));
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
  // Started over as the hand-off started it (readVersionsAsRfc); the JS side's partial head is
  // dropped with it.
  initialize(parser, socket, server);
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
