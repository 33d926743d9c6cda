// A response the gateway ended itself, for the access log: its 499 means the client left first
// (nginx's meaning), so a response cut because its upstream went away after the head, or
// because --grace ran out at stop, must not be taken for one (front.ts track).
import type { ServerResponse } from 'node:http';

const kCut = Symbol('apppkg.cutByGateway');

type Marked = ServerResponse & { [kCut]?: true | number };

/**
 * Says that the gateway, not the client, ends `res` unfinished; call before destroying it.
 * `answered`: the status the access log gives instead of the one that went out: the gateway's
 * own answer written on the connection in its place (the lean lane's 400 for a broken chunked
 * body), or CUT_AT_DEADLINE.
 */
export function markCut(res: ServerResponse, answered?: number): void {
  (res as Marked)[kCut] = answered ?? true;
}

/**
 * The access log's status for a response cut at a deadline (a drain's end, when the gateway
 * stops the worker): nginx's 444 "closed without a response" once the app's response has begun,
 * whether or not its head reached the client, so that a stream cut there (SSE, a long download)
 * is not taken for a whole one. A request with no response yet is answered 502 there instead
 * (WsgiExchange.cutByGateway).
 */
export const CUT_AT_DEADLINE = 444;

export function wasCut(res: ServerResponse): boolean {
  return (res as Marked)[kCut] !== undefined;
}

/** The status markCut was told to log for `res` (its answer in place of it, or CUT_AT_DEADLINE), if it was. */
export function answeredInstead(res: ServerResponse): number | undefined {
  const mark = (res as Marked)[kCut];
  return typeof mark === 'number' ? mark : undefined;
}
