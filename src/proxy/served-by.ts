// Which worker or process answered a response, for its tally (SPEC 5.4: served, failed and
// latency per version and process): the upstream marks the response when it takes the request,
// and the front tells the mark of the status and the time once the response is done. A retried
// request is marked again by the upstream that takes it, so the last one counts.
import type { ServerResponse } from 'node:http';

/** What counts a response: a worker's or a process's tally (the supervisor's RequestTally). */
export interface ResponseTally {
  observe(status: number, seconds: number): void;
}

/** A field of every response: the lean lane's declare it (one shape for all), node:http's gain it. */
export const kServedBy = Symbol('apppkg.servedBy');

type Marked = ServerResponse & { [kServedBy]?: ResponseTally };

export function markServedBy(res: ServerResponse, tally: ResponseTally | undefined): void {
  if (tally !== undefined) (res as Marked)[kServedBy] = tally;
}

export function servedByOf(res: ServerResponse): ResponseTally | undefined {
  return (res as Marked)[kServedBy];
}

/**
 * The mark of a 503 the gateway answered because --max-workers left no room to wake the app:
 * nobody's version answered it, and it is the gateway's refusal, not the app's failure, so the
 * app's `errors` leaves it out as its versions' `failed` does, and counts it apart
 * (`refusedForRoom`). A mark of its own kind, not another field: a response keeps its shape.
 */
export const REFUSED_FOR_ROOM: ResponseTally = { observe() {} };
