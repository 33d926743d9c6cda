// The requests the front is answering, for its stop: how many (it waits until none is left,
// within --grace) and which (its log line says what it still waits for, so that a stop that
// takes its whole grace names the request that held it). Linked through the entries rather than
// kept in a Set (linked-list.ts says why).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { targetAsSent } from '../net/request-head.js';
import { LinkedList, type Linked } from './linked-list.js';

export interface InFlightRequest extends Linked<InFlightRequest> {
  /** The app it goes to; '' until routed. */
  app: string;
  readonly req: IncomingMessage;
  /** performance.now() when the front took it. */
  readonly startedAt: number;
}

/** The request in flight a response answers, hung on the response until its 'close' (front.ts track). */
export const kTracked = Symbol('apppkg.tracked');
export type TrackedResponse = ServerResponse & { [kTracked]?: InFlightRequest };

/** How many requests a log line names; the rest are counted. */
const NAMED = 3;
/** How much of a request target a log line shows. */
const TARGET_SHOWN = 80;

/**
 * `GET /x?y` for a line of the gateway's log: the target as the client sent it, cut at
 * TARGET_SHOWN. An absolute-form one (`GET http://host/x`) is shown so, as the access log shows
 * it, not as the origin form the app is given: the lines of one request name it alike.
 */
export function requestShown(req: IncomingMessage): string {
  return `${req.method} ${targetShown(targetAsSent(req) ?? '')}`;
}

/** A request target for a line of the gateway's log: cut at TARGET_SHOWN, printable ASCII only. */
export function targetShown(target: string): string {
  // The target is the client's: only printable ASCII reaches the gateway's log, on one line.
  return target.slice(0, TARGET_SHOWN).replace(/[^\x20-\x7e]/g, '?');
}

export class RequestsInFlight {
  private readonly entries = new LinkedList<InFlightRequest>();

  get size(): number {
    return this.entries.size;
  }

  add(req: IncomingMessage, app: string): InFlightRequest {
    const entry: InFlightRequest = { app, req, startedAt: performance.now(), listedIn: null, listPrev: null, listNext: null };
    this.entries.add(entry);
    return entry;
  }

  delete(entry: InFlightRequest): void {
    this.entries.delete(entry);
  }

  /** "1 request in flight (app blog, GET /x, 12 s)": the oldest few, the others counted. */
  describe(): string {
    const now = performance.now();
    const named: string[] = [];
    for (let entry = this.entries.first; entry !== null && named.length < NAMED; entry = entry.listNext) {
      const seconds = Math.round((now - entry.startedAt) / 1000);
      named.push(`app ${entry.app || '(none yet)'}, ${requestShown(entry.req)}, ${seconds} s`);
    }
    const more = this.size - named.length;
    return `${this.size} request${this.size === 1 ? '' : 's'} in flight (${named.join('; ')}${more > 0 ? `; ${more} more` : ''})`;
  }
}
