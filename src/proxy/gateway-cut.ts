// A response the gateway ended itself, for the access log: its 499 means the client left first
// (nginx's meaning), so a response cut because its upstream went away after the head, or
// because --grace ran out at stop, must not be taken for one (front.ts track).
import type { ServerResponse } from 'node:http';

const kCut = Symbol('apppkg.cutByGateway');

type Marked = ServerResponse & { [kCut]?: true };

/** Says that the gateway, not the client, ends `res` unfinished; call before destroying it. */
export function markCut(res: ServerResponse): void {
  (res as Marked)[kCut] = true;
}

export function wasCut(res: ServerResponse): boolean {
  return (res as Marked)[kCut] === true;
}
