// A response the gateway ended itself, for the access log: its 499 means the client left first
// (nginx's meaning), so a response cut because its upstream went away after the head, or
// because --grace ran out at stop, must not be taken for one (front.ts track).
import type { ServerResponse } from 'node:http';

const kCut = Symbol('apppkg.cutByGateway');

type Marked = ServerResponse & { [kCut]?: true | number };

/**
 * Says that the gateway, not the client, ends `res` unfinished; call before destroying it.
 * `answered`: the status the gateway wrote on the connection in its place (the lean lane's 400
 * for a broken chunked body), which the access log gives instead.
 */
export function markCut(res: ServerResponse, answered?: number): void {
  (res as Marked)[kCut] = answered ?? true;
}

export function wasCut(res: ServerResponse): boolean {
  return (res as Marked)[kCut] !== undefined;
}

/** The status markCut was told the gateway answered in place of `res`, if it was. */
export function answeredInstead(res: ServerResponse): number | undefined {
  const mark = (res as Marked)[kCut];
  return typeof mark === 'number' ? mark : undefined;
}
