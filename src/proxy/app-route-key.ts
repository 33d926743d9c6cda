// Requests the gateway sends itself to one app it names (a mail delivery, SPEC 5.3): routed to
// that app whatever Host or mount another app claims (an app's `hosts:` may name
// `OTHER.localhost`, and `Cap` and `cap` share `cap.localhost`), which a Host cannot promise.
// The header carries a key made at each start and known only inside this process, so a client
// cannot route by it; it is taken off every request before any app can read it.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** The header's name, lower case as Node keeps it in `headers`. */
export const APP_ROUTE_HEADER = 'x-apppkg-app-route';

/** What take() found on a request, kept for a second routing of it (one held while its app starts). */
const kNamed = Symbol('apppkg.namedApp');
type NamedRequest = IncomingMessage & { [kNamed]?: string | null };

export class AppRouteKey {
  private readonly key = randomBytes(24).toString('base64url');

  /** The header's value that routes a request to `app`. */
  valueFor(app: string): string {
    return `${this.key} ${app}`;
  }

  /**
   * The app `req` names with the key, or null (no header, or a wrong key: then it is routed as
   * any request). The header leaves the request either way.
   */
  take(req: NamedRequest): string | null {
    const value = req.headers[APP_ROUTE_HEADER];
    if (value === undefined) return req[kNamed] ?? null;
    delete req.headers[APP_ROUTE_HEADER];
    const raw = req.rawHeaders;
    for (let i = raw.length - 2; i >= 0; i -= 2) if (raw[i].toLowerCase() === APP_ROUTE_HEADER) raw.splice(i, 2);
    req[kNamed] = this.appOf(value);
    return req[kNamed];
  }

  private appOf(value: string | string[]): string | null {
    // Node joins a repeated field with ", ": a repeat is no request of ours.
    const text = Array.isArray(value) ? value.join(', ') : value;
    const space = text.indexOf(' ');
    if (space < 0) return null;
    const given = Buffer.from(text.slice(0, space));
    const key = Buffer.from(this.key);
    if (given.length !== key.length || !timingSafeEqual(given, key)) return null;
    return text.slice(space + 1);
  }
}
