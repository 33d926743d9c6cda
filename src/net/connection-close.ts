// The `close` connection option (RFC 9112 §9.3): the connection ends after this answer,
// whatever else the Connection field lists.
import type { IncomingMessage, ServerResponse } from 'node:http';

const CLOSE_TOKEN = /(?:^|,)\s*close\s*(?:,|$)/i;

/** Does a Connection field's value list `close`? */
export function saysClose(connection: string): boolean {
  return CLOSE_TOKEN.test(connection);
}

/**
 * llhttp keeps an HTTP/1.0 connection whose Connection lists keep-alive even when it lists
 * close too (`keep-alive, close`, or the two on lines of their own), and node:http then kept
 * it open and served what was pipelined behind; nginx and RFC 9112 §9.3 close it.
 */
export function closeWhenAsked(req: IncomingMessage, res: ServerResponse): void {
  const connection = req.headers.connection;
  if (res.shouldKeepAlive && connection !== undefined && saysClose(connection)) res.shouldKeepAlive = false;
}
