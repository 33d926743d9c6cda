// Who may use the admin listener, and for what (SPEC 5.4, docs/admin.md "Who may do what").
// Reading the status is the least; an app's log and the actions (restart, rollback) more: when
// the apps run as other users, their processes can reach a loopback port, so loopback alone is
// no proof of being the operator. A token (Bearer, or the password of HTTP Basic so a browser
// can log in) or the unix socket's mode is.
import { timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlockList, isIPv4, isIPv6 } from 'node:net';
import { userInfo } from 'node:os';
import { dirname } from 'node:path';
import { GatewayError } from '../errors.js';
import { addrUrl, formatAddr, type ListenAddress } from '../net/address.js';
import { addLoopback } from '../net/loopback.js';
import type { AdminAccess } from './status-types.js';

/** What a route does: shows the status, shows an app's log, or changes something. */
export type AdminUse = 'read' | 'logs' | 'act';

export type Verdict = { ok: true } | { ok: false; status: number; message: string; headers?: Record<string, string>; hint?: string };

export interface AdminAccessOptions {
  listen: ListenAddress;
  /** The token every request must carry, or null (loopback and unix: only). */
  token: string | null;
  /**
   * The gateway is root and switches each app to its user: logs and actions need the token (or
   * the key) while some app in `appUsers` runs as a uid other than the gateway's, judged at each
   * request as apps come and go. Without `appUsers`, as though one did.
   */
  appsRunAsOthers: boolean;
  /** The user each app whose processes may run (serving, idle, starting, draining) runs as (some may be root too). */
  appUsers?: () => Array<{ name: string; user: string; uid?: number }>;
  /**
   * The key in STATE/admin.key (admin-key-file.ts), or null: root's own CLI on this host reads it
   * and is let in where the want of a token would refuse it; the apps' users cannot read it.
   */
  key?: string | null;
  /** Where that key is, for the refusal's fix. */
  keyFile?: string;
  /** The owner of a unix: listener (--socket-owner), when not the gateway's own user. */
  socketOwnerUid?: number;
}

/** How a fix says to make a token file: only its owner may read it (readAdminToken warns otherwise). */
const MAKE_TOKEN = 'make a token, `(umask 077 && openssl rand -hex 32 > FILE)`';

/** Apps the refusal names by their user; past these, how many more. */
const USERS_NAMED = 4;

/**
 * Loopback by the address, in any of its spellings: all of 127.0.0.0/8, ::1 (`0:0:0:0:0:0:0:1`
 * too), and an IPv4-mapped loopback (`::ffff:127.0.0.1`, `::ffff:7f00:1`), which the kernel
 * routes as the IPv4 address it maps; BlockList matches a mapped address against IPv4 rules.
 */
const LOOPBACK = addLoopback(new BlockList());

/**
 * Will --admin HOST listen on loopback only? By the address itself: a name is what a resolver
 * makes of it, and one that answers `admin.localhost` with 0.0.0.0 (a search domain, a
 * wildcard record) would open the listener to the network without a token. `localhost` alone
 * is kept, as /etc/hosts and every resolver give it (RFC 6761). A Host header's `[v6]` form
 * is taken too.
 */
export function isLoopbackListen(host: string): boolean {
  if (host === 'localhost') return true;
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (isIPv4(bare)) return LOOPBACK.check(bare, 'ipv4');
  return isIPv6(bare) && LOOPBACK.check(bare, 'ipv6');
}

/**
 * Does a request's Host name this machine? Browsers resolve `*.localhost` to loopback
 * themselves (no page can rebind it), so the name alone will do here, not for --admin.
 */
export function isLoopbackHost(host: string): boolean {
  return isLoopbackListen(host) || host.endsWith('.localhost');
}

const isDenied = (err: NodeJS.ErrnoException): boolean => err.code === 'EACCES' || err.code === 'EPERM';

/**
 * Why a token file could not be read, in words with the kernel's code after them: a bare
 * `ENOENT` or `EACCES` left the user to look it up, where a user without sudo who is given the
 * README's root-only token file is told who may not read it.
 */
function unreadableWhy(err: NodeJS.ErrnoException): string {
  const code = err.code ?? String(err);
  if (code === 'ENOENT') return 'there is no such file (ENOENT)';
  if (code === 'ENOTDIR') return 'there is no such file: a part of its path is a file, not a directory (ENOTDIR)';
  if (code === 'EISDIR') return 'it is a directory, not a file (EISDIR)';
  if (isDenied(err)) {
    let me = `uid ${process.getuid?.() ?? '?'}`;
    try {
      me = userInfo().username;
    } catch {
      // no passwd entry for this uid (a container's): its number says who
    }
    return `${me} may not read it (${code})`;
  }
  return code;
}

/** The token in `file` (its content, trimmed). */
export function readAdminToken(file: string, say: (line: string) => void, key = '--admin-token'): string {
  let token: string;
  try {
    token = readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new GatewayError('APPPKG_ADMIN_TOKEN_FILE', { file, key, reason: unreadableWhy(err as NodeJS.ErrnoException), denied: isDenied(err as NodeJS.ErrnoException) });
  }
  if (token === '') throw new GatewayError('APPPKG_ADMIN_TOKEN_FILE', { file, key, reason: 'the file is empty' });
  if (/\s/.test(token)) throw new GatewayError('APPPKG_ADMIN_TOKEN_FILE', { file, key, reason: 'the token holds white space (it is sent in an HTTP header)' });
  // Past ASCII, clients put the same token into the header in other bytes (curl and browsers
  // UTF-8, undici Latin-1): the CLI and a browser got in where curl's Bearer was refused 401.
  const odd = /[^\x21-\x7e]/u.exec(token);
  if (odd !== null) {
    const code = `U+${odd[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
    throw new GatewayError('APPPKG_ADMIN_TOKEN_FILE', {
      file,
      key,
      reason: `the token holds ${JSON.stringify(odd[0])} (${code}), which is not printable ASCII: clients do not send such a character in an HTTP header alike (curl as UTF-8, Node's as Latin-1, a control character not at all), so the same token would be refused to some; make one of printable ASCII (openssl rand -hex 32 > ${file})`,
    });
  }
  if ((statSync(file).mode & 0o077) !== 0) say(`warning: the admin token file ${file} can be read by other users; chmod 600 it`);
  return token;
}

/**
 * Refuses a non-loopback --admin without a token, before anything listens. `key` and `tokenKey`
 * are what the caller calls the two (the CLI's `--admin`, `--admin-token`; the library's own).
 */
export function checkAdminAddress(listen: ListenAddress, token: string | null, { key, tokenKey }: { key: string; tokenKey: string }): void {
  if (listen.kind === 'tcp' && token === null && !isLoopbackListen(listen.host.toLowerCase())) {
    throw new GatewayError('APPPKG_ADMIN_TOKEN_NEEDED', { address: formatAddr(listen), key, tokenKey });
  }
}

export class AdminGuard {
  private token: Buffer | null;
  /** Open streams let in by the token, each with how it is ended when that token is revoked. */
  private readonly streams = new Map<IncomingMessage, () => void>();

  constructor(private readonly opts: AdminAccessOptions) {
    this.token = opts.token === null ? null : Buffer.from(opts.token);
  }

  /**
   * A rotated token: the old one is refused from now on, and every stream it let in is ended.
   * False when it is the same one (nothing is ended).
   */
  setToken(token: string): boolean {
    const next = Buffer.from(token);
    if (this.token !== null && this.token.equals(next)) return false;
    this.token = next;
    for (const [req, end] of this.streams) {
      if (this.carriesToken(req)) continue;
      this.streams.delete(req);
      end();
    }
    return true;
  }

  /**
   * `req` was let in and its answer `res` streams until its client leaves (/events, a followed
   * log): when a token let it in, a rotation that no longer accepts that token ends it by
   * `end`. A rotation is how a host revokes a leaked token: a stream opened with it streamed on,
   * the apps' logs included, as long as its holder kept it open. A stream that needed no token
   * (no --admin-token) carries on.
   */
  endWhenRevoked(req: IncomingMessage, res: ServerResponse, end: () => void): void {
    if (this.token === null || res.writableEnded || res.destroyed) return;
    // Rotated while the request waited (for the apps to be listed): revoked already.
    if (!this.carriesToken(req)) return end();
    this.streams.set(req, end);
    res.once('close', () => this.streams.delete(req));
  }

  /** May `req` use the admin listener for `use`? The refusal carries its status and the fix. */
  check(req: IncomingMessage, use: AdminUse): Verdict {
    // A unix: socket given a token asks for it too: its mode guards it, but a socket handed to
    // nginx's user (--socket-owner) to proxy is as open as nginx makes it, and --admin-token
    // says every route needs the token.
    if (this.token !== null) {
      if (!this.carriesToken(req)) {
        // A token that is not this one (mistyped, another host's, rotated out at SIGHUP) was
        // told it needs one, and its sender looked for a token that was missing.
        const sent = req.headers.authorization !== undefined;
        return {
          ok: false,
          status: 401,
          message: sent
            ? 'the token sent is not this admin listener\'s (a wrong one, or one a SIGHUP rotated out): send its token as `Authorization: Bearer TOKEN` (or log in with any user name and the token as password)'
            : 'this admin listener needs its token: send `Authorization: Bearer TOKEN` (or log in with any user name and the token as password)',
          headers: { 'WWW-Authenticate': 'Basic realm="apppkg-gateway admin", charset="UTF-8"' },
        };
      }
    } else if (this.opts.listen.kind === 'tcp') {
      if (!this.hostIsOurs(req)) {
        // The port the request came in on: the one to use, whatever name led here.
        const own = addrUrl({ ...this.opts.listen, port: req.socket.localPort ?? this.opts.listen.port });
        return {
          ok: false,
          status: 421,
          message: `Host ${JSON.stringify(req.headers.host ?? '')} is not this admin listener's address: without a token it answers to loopback names only, so that a page of another site cannot read it through a name it controls (DNS rebinding)`,
          hint: `use ${own}/ (the CLI: --admin ${own.slice('http://'.length)}); to reach it by a name of your own (/etc/hosts, a proxy that passes its Host), start the gateway with --admin-token FILE`,
        };
      }
      // This gateway has no token to pass: the CLI's usual fix ("pass --admin-token FILE with
      // the file the gateway was started with") would name one that does not exist.
      if (use !== 'read' && this.othersRun() && !this.carriesKey(req)) {
        const wrong = this.wrongKey(req);
        if (wrong !== null) return wrong;
        // A new user has no token file to name: the fix says how to make one (docs/admin.md).
        return { ok: false, status: 403, message: this.whyNot(), hint: `${this.rootsWay()}${MAKE_TOKEN}, start the gateway with --admin-token FILE and pass the same --admin-token FILE here, or start it with --admin unix:/path (a 0600 socket: no token needed) and pass that --admin here` };
      }
    } else if (use !== 'read' && this.othersRun() && !this.carriesKey(req)) {
      // The socket's mode guards it from every user but its owner: an app's user, given it by
      // --socket-owner (www-data, say, for nginx), would let that app act through the admin.
      const uid = this.opts.socketOwnerUid;
      const holders = uid === undefined || uid === 0 ? [] : (this.opts.appUsers?.() ?? []).filter((a) => a.uid === uid);
      if (holders.length > 0) {
        const wrong = this.wrongKey(req);
        if (wrong !== null) return wrong;
        const one = holders.length === 1;
        return {
          ok: false,
          status: 403,
          message: `the admin socket is ${holders[0].user}'s (--socket-owner), the user that ${holders.map((a) => a.name).join(', ')} ${one ? 'runs' : 'run'} as: ${one ? 'its' : 'their'} processes could act through it, so showing logs and acting need the token`,
          hint: `${this.rootsWay()}give the gateway --socket-owner root:GROUP (the admin socket is 0600: its group gets nothing, so GROUP can stay nginx's for --listen), or ${MAKE_TOKEN}, start it with --admin-token FILE and pass the same --admin-token FILE here`,
        };
      }
    }
    const sentBy = use === 'act' ? this.otherSite(req) : null;
    if (sentBy !== null) {
      return {
        ok: false,
        status: 403,
        message: `a page of another site (${sentBy}) may not act through the admin: restart or roll back apps, or retry or delete mail`,
        hint: "use the admin listener's own page (its Restart and Roll back buttons), or `apppkg-gateway restart NAME` / `apppkg-gateway rollback NAME` / `apppkg-gateway mail retry ID` / `apppkg-gateway mail delete ID`",
      };
    }
    return { ok: true };
  }

  /** What `req`'s client may do, for the status it is sent. */
  access(req: IncomingMessage): AdminAccess {
    const act = this.check(req, 'act');
    const logs = this.check(req, 'logs');
    const refused = !act.ok ? act : !logs.ok ? logs : null;
    return { act: act.ok, logs: logs.ok, why: refused === null ? null : refused.message };
  }

  /**
   * Not "the apps run as other users": an app without `user:` whose directory is root's runs as
   * root too, and its processes reach this port all the same. So each app's user is named.
   */
  private whyNot(): string {
    const users = this.opts.appUsers?.() ?? [];
    const named = users.slice(0, USERS_NAMED).map((a) => `${a.name} as ${a.user}`);
    if (users.length > USERS_NAMED) named.push(`${users.length - USERS_NAMED} more`);
    const apps = named.length > 0 ? `its apps' processes (${named.join(', ')})` : 'the processes of the apps it starts (as their users, or as root)';
    return `the gateway runs as root and ${apps} can reach this loopback port, so showing logs and acting need the token: start the gateway with --admin-token FILE (and send it), or use --admin unix:/path`;
  }

  /**
   * Some app's processes run as a user other than the gateway's: they reach a loopback port as
   * its operator does. Apps that all run as root could read any token file anyway.
   */
  private othersRun(): boolean {
    if (!this.opts.appsRunAsOthers) return false;
    if (this.opts.appUsers === undefined) return true;
    const own = process.getuid?.();
    return this.opts.appUsers().some((a) => a.uid === undefined || a.uid !== own);
  }

  /** The fix's first way: root's CLI on this host reads the key (none without a key file). */
  private rootsWay(): string {
    if (this.opts.keyFile === undefined || this.opts.key == null) return '';
    return `run the command as root on this host: it reads ${this.opts.keyFile}, which only root may read (give it the gateway's --state-dir when the gateway has one); or `;
  }

  /**
   * A refusal for a request that sent a secret where this gateway has a key and no token: the
   * secret is a key of another start (root's CLI read a file a killed gateway left, or another
   * state root's) or a token this gateway was not given. Said as such, with this gateway's own
   * state root to give: "run the command as root" was the fix told to root, who had.
   */
  private wrongKey(req: IncomingMessage): Verdict | null {
    const file = this.opts.keyFile;
    if (this.opts.key == null || file === undefined || offeredSecret(req) === null) return null;
    return {
      ok: false,
      status: 403,
      message: `the secret sent is not this gateway's key, and showing logs and acting need it here (its apps' users can connect too): the gateway writes a new key to ${file} at each start, so the one sent is of a gateway before a restart (or one killed, whose file was left), or of another state root; and this gateway has no --admin-token`,
      hint: `run the command as root with this gateway's state root, --state-dir ${dirname(file)}: it reads the key there at each request; or ${MAKE_TOKEN}, start the gateway with --admin-token FILE and pass the same --admin-token FILE here`,
    };
  }

  /** The request carries STATE/admin.key (a root's CLI on this host). */
  private carriesKey(req: IncomingMessage): boolean {
    const key = this.opts.key;
    if (key == null) return false;
    const offered = offeredSecret(req);
    if (offered === null) return false;
    const given = Buffer.from(offered);
    const ours = Buffer.from(key);
    return given.length === ours.length && timingSafeEqual(given, ours);
  }

  private carriesToken(req: IncomingMessage): boolean {
    const offered = offeredSecret(req);
    if (offered === null || this.token === null) return false;
    const given = Buffer.from(offered);
    return given.length === this.token.length && timingSafeEqual(given, this.token);
  }

  /** The Host header names a loopback address or the listener's own host (DNS rebinding). */
  private hostIsOurs(req: IncomingMessage): boolean {
    const host = req.headers.host;
    if (host === undefined) return true; // HTTP/1.0 tools; a browser always sends Host
    const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0];
    const listen = this.opts.listen;
    return isLoopbackHost(name.toLowerCase()) || (listen.kind === 'tcp' && (name === listen.host || `[${listen.host}]` === name));
  }

  /**
   * The header by which a browser says a page of another origin sent the request (as the refusal
   * quotes it: the one to look at when a proxy is in between), or null.
   */
  private otherSite(req: IncomingMessage): string | null {
    const site = req.headers['sec-fetch-site'];
    const origin = req.headers.origin;
    if (site === 'cross-site' || site === 'same-site') return `${origin === undefined ? '' : `Origin: ${origin}; `}Sec-Fetch-Site: ${site}`;
    // The browser's own word that this listener's page sent it: behind a proxy that terminates
    // TLS, or one that passes its own Host, the page's Origin is not http://HOST, and its
    // Restart and Roll back buttons were refused as another site's.
    if (site === 'same-origin') return null;
    if (origin === undefined) return null; // not a browser's cross-origin request (curl, the CLI)
    const host = req.headers.host ?? '';
    return origin !== `http://${host}` && origin !== `https://${host}` ? `Origin: ${origin}` : null;
  }
}

/** What `req` sends as its secret: a Bearer value, or the password of HTTP Basic; null: none. */
function offeredSecret(req: IncomingMessage): string | null {
  const header = req.headers.authorization ?? '';
  const space = header.indexOf(' ');
  if (space < 0) return null;
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === 'bearer') return value;
  if (scheme !== 'basic') return null;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(colon + 1);
}
