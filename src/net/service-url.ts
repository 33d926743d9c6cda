// The URLs of the host's servers (environment file `services:`), read as their own clients read
// them. libpq takes user information before an empty host, the socket directory then given by
// `?host=` (`postgresql://admin:pw@/postgres?host=/var/run/postgresql`); WHATWG's URL parser
// refuses that form, so it is parsed here with a stand-in host, reported as empty.

/** What stands in for an empty host while the WHATWG parser reads the rest. */
const EMPTY_HOST = 'apppkg-empty-host.invalid';

/** A server's URL as parsed, with its host: '' where libpq allows an empty one. */
export interface ServiceUrl {
  url: URL;
  hostname: string;
}

/** `text` as a service URL; null when it is none. */
export function parseServiceUrl(text: string): ServiceUrl | null {
  try {
    const url = new URL(text);
    return { url, hostname: url.hostname };
  } catch {
    const m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*@)([/?#].*)?$/i.exec(text);
    if (m === null) return null;
    try {
      const url = new URL(`${m[1]}${EMPTY_HOST}${m[2] ?? ''}`);
      return url.hostname === EMPTY_HOST ? { url, hostname: '' } : null;
    } catch {
      return null;
    }
  }
}

/**
 * How a user and password with URL-special characters are written in a URL: libpq, redis-py
 * and the WHATWG parser all read `%XX` there, so a password written as it is either ends the
 * user information early (`@ / # ?`) or holds a `%` that starts no escape.
 */
export const USER_INFO_ENCODING = 'the user and password percent-encoded (% as %25, @ as %40, : as %3A, / as %2F, # as %23, ? as %3F)';

/** Whether each percent-encoded part of `url`'s user information decodes (a `%` starts an escape). */
export function userInfoDecodes(url: URL): boolean {
  try {
    decodeURIComponent(url.username);
    decodeURIComponent(url.password);
    return true;
  } catch {
    return false;
  }
}

/**
 * `text` with the password of its user information hidden, for a message; and a `password=`
 * query parameter's, which libpq and redis-py read as well.
 */
export function maskUrlPassword(text: string): string {
  // Up to the last @: a URL that is to be masked is often one that does not parse, its password
  // holding a / # or @ that was not percent-encoded, or its scheme followed by one slash or none.
  return text.replace(/^([a-z][a-z0-9+.-]*:\/{0,3}[^:/?#@]*:).*@/i, '$1***@').replace(/([?&]password=)[^&#]*/gi, '$1***');
}
