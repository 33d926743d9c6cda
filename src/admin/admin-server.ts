// The admin listener (SPEC §4, 5.4; docs/admin.md): the status page, /status (JSON), /metrics
// (Prometheus text), /events (the status, live), an app's log, and the actions (restart,
// rollback, mail's retry and delete of dead letters), on an http server of its own, never the public one,
// so no route or Host header on the public listener can reach it. Who may use which route is
// admin-access.ts's business.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { closeSync, fstatSync, openSync, readFileSync, rmSync } from 'node:fs';
import type { Socket } from 'node:net';
import { basename, join } from 'node:path';
import { CLI_COMMAND_WORDS, type CommandWords } from '../command-words.js';
import { nearAppName } from '../description/near-app-name.js';
import { parsePackageDirName } from '../description/package-dir.js';
import { GatewayError, isGatewayError } from '../errors.js';
import { addrUrl, type ListenAddress } from '../net/address.js';
import { listenOn } from '../net/listen.js';
import { PACKAGE_ROOT } from '../package-root.js';
import { AdminGuard, type AdminUse, type Verdict } from './admin-access.js';
import { GzippedFiles, writeAnswer } from './gzip-answer.js';
import { sendLogHead, sendLogTail } from './log-follow.js';
import type { GatewayMetrics } from './metrics.js';
import { StatusEvents } from './status-events.js';
import { endStream, OpenStreams, TOKEN_CHANGED } from './stream-end.js';
import type { BrokenPackageStatus, ExitStatus, GatewayStatus, RefusalStatus } from './status-types.js';

export { DEFAULT_ADMIN } from './default-admin.js';

/** What the admin listener asks of the gateway: what it shows and what it may do. */
export interface AdminProvider {
  /** The status, CPU and RSS from the last sample. */
  status(): GatewayStatus;
  /** Takes a fresh CPU/RSS sample unless the last one is recent. */
  sample(): Promise<void>;
  /** The app's log file, or null when there is no such app. */
  logFileOf(name: string): string | null;
  /** Resolves once the gateway knows its apps: a route naming one waits for it, not "no such app". */
  appsListed?: Promise<void>;
  /** The option that turned the apps directory's watching off (`--watch-interval 0`); absent: it is watched. */
  unwatchedBy?: string;
  /** What its answers' fixes say (command-words.ts adminListenerWords); absent: the CLI's. */
  words?: CommandWords;
  restart(name: string): Promise<{ version: string | null; message: string }>;
  rollback(name: string): Promise<{ from: string; to: string; message: string }>;
  /** Dead letters back into the mail queue (`mail retry`); absent: the gateway runs no mail listener. */
  retryMail?(ask: MailRetryAsk, waitMs?: number | null): Promise<MailRetryDone>;
  /** Dead letters removed for good (`mail delete`); absent as retryMail is. */
  deleteMail?(ask: MailDeleteAsk): Promise<MailDeleteDone>;
}

/** What `POST /mail/retry` asks: these dead letters by id, or every one (of one app). */
export type MailRetryAsk = { ids: string[] } | { all: true; app: string | null };

/** What it did: each dead letter put back (its delivery id and app), each left and why, in words. */
export interface MailRetryDone {
  retried: Array<{ id: string; app: string }>;
  skipped: Array<{ id: string; app: string; why: string }>;
  message: string;
  /** Asked with `wait`: how each one put back ended, or how it was when the wait ran out. */
  waited?: { seconds: number; outcomes: MailRetryOutcome[] };
}

/** A dead letter put back, after `mail retry --wait`: delivered, a dead letter again, or still waiting. */
export interface MailRetryOutcome {
  id: string;
  app: string;
  outcome: 'delivered' | 'dead' | 'waiting';
  /** Why it is dead again, or why it still waits (its last failure); null when delivered or not attempted yet. */
  reason: string | null;
  /** Still waiting: when its next attempt is due (ISO), or null while one is under way. */
  nextAttemptAt?: string | null;
}

/** The longest `wait` of POST /mail/retry: a day, as no client holds a request longer. */
export const MAIL_RETRY_MAX_WAIT_S = 86_400;

/** What `POST /mail/delete` asks: as `POST /mail/retry`, any name for `app` (one gone from --apps too). */
export type MailDeleteAsk = MailRetryAsk;

/** What it did: each dead letter deleted (its id and app), each that could not be and why, in words. */
export interface MailDeleteDone {
  deleted: Array<{ id: string; app: string }>;
  skipped: Array<{ id: string; app: string; why: string }>;
  message: string;
}

export interface AdminServerOptions {
  listen: ListenAddress;
  /** The option `listen` was given as (`--admin`, the library's `admin`), named when it cannot be bound; default `--admin`. */
  listenKey?: string;
  /** The option `socketOwner` comes from (`--socket-owner`, the library's `unixSocket`), named when it cannot be given; default `--socket-owner`. */
  socketOwnerKey?: string;
  provider: AdminProvider;
  metrics: GatewayMetrics;
  /** Every route needs this token (`--admin-token FILE`), or null. */
  token?: string | null;
  /** Reads the token's file again (the same checks as at start); given only with `token`. */
  readToken?: () => string;
  /** The apps run as other users: logs and actions need the token (docs/admin.md). */
  appsRunAsOthers?: boolean;
  /** The user each serving app's processes run as (AdminAccessOptions.appUsers). */
  appUsers?: () => Array<{ name: string; user: string; uid?: number }>;
  /** The owner of a unix: admin socket (--socket-owner); its mode is always 0600. */
  socketOwner?: { uid?: number; gid?: number };
  /** STATE/admin.key's key and file (AdminAccessOptions.key), without a token only. */
  key?: { key: string; file: string } | null;
}

export interface AdminServer {
  /** `http://host:port` (port 0 resolved) or `unix:/path`. */
  url: string;
  /**
   * Reads the token again (SIGHUP) and requires the new one from the next request on, and ends
   * the streams the old one opened (/events, followed logs): true when it changed, false when it
   * did not (nothing is ended) or there is no token to read. A file that no longer holds a token
   * throws, and the old one stays.
   */
  reloadToken(): boolean;
  close(): Promise<void>;
}

/** The status page's files. */
const PAGE_DIR = join(PACKAGE_ROOT, 'admin-page');
const PAGE_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/admin.js': { file: 'admin.js', type: 'text/javascript; charset=utf-8' },
  '/admin.css': { file: 'admin.css', type: 'text/css; charset=utf-8' },
};
/** The page runs only its own script and style, talks only to this listener, and is never framed. */
const PAGE_POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
/**
 * On every answer, set before any route writes its head (the event stream and a followed log
 * write their own): app names and log lines are never read as script or style (nosniff); no
 * browser without CSP frame-ancestors frames the page either (X-Frame-Options); no page of
 * another site embeds an answer as an image or script (CORP); and a page of another site that
 * opens this one in a window keeps no handle on it (COOP). docs/admin.md.
 */
const SECURITY_HEADERS: Record<string, string> = {
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

const APP_ROUTE = /^\/apps\/([^/]+)\/(log|restart|rollback)$/;
/** `?id=ID&id=ID...` or `?all=1[&app=NAME]`: the dead letters to put back into the mail queue, or to delete. */
const MAIL_ROUTE = /^\/mail\/(retry|delete)$/;

const DEFAULT_LOG_LINES = 100;
/** How long a stop waits for the streams' ends to be sent before it closes their sockets all the same. */
const STREAMS_END_MS = 1000;
const MAX_LOG_LINES = 10_000;

export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const sockets = new Set<Socket>();
  const guard = new AdminGuard({
    listen: options.listen, token: options.token ?? null, appsRunAsOthers: options.appsRunAsOthers ?? false, appUsers: options.appUsers,
    key: options.key?.key ?? null, keyFile: options.key?.file,
    socketOwnerUid: options.listen.kind === 'unix' ? options.socketOwner?.uid : undefined,
  });
  const events = new StatusEvents({ status: (logs) => freshStatus(options.provider, logs) });
  const streams = new OpenStreams();
  const pages = new GzippedFiles();
  const server = http.createServer({ headersTimeout: 10_000, requestTimeout: 0, keepAliveTimeout: 5_000 });
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.on('request', (req, res) => void answer(req, res, { ...options, guard, events, streams, pages }));

  // 0600: whoever may connect may restart apps and read their logs, with no token (SPEC 5.4).
  await listenOn(server, options.listen, { ...options.socketOwner, mode: 0o600 }, options.listenKey ?? '--admin', options.socketOwnerKey);
  const actual = server.address();
  const url =
    options.listen.kind === 'tcp' && actual !== null && typeof actual === 'object'
      ? addrUrl({ ...options.listen, port: actual.port })
      : addrUrl(options.listen);

  let closing: Promise<void> | undefined;
  return {
    url,
    reloadToken() {
      if (options.readToken === undefined) return false;
      return guard.setToken(options.readToken());
    },
    close() {
      // server.close() alone waits for keep-alive clients, event streams and followed logs to
      // hang up; destroy them (vite's createServerCloseFn), the streams ended first, as HTTP
      // ends a body: their clients learn the gateway stopped, not that the connection broke.
      // An action under way finishes in the gateway all the same; only its answer is lost.
      closing ??= (async () => {
        events.close();
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        await streams.endAll(STREAMS_END_MS);
        for (const socket of sockets) socket.destroy();
        await closed;
      })().then(() => {
        if (options.listen.kind === 'unix') rmSync(options.listen.path, { force: true });
      });
      return closing;
    },
  };
}

/** What stands for the app's own words in a message shown without the right to see logs. */
const WITHHELD = '[its output is in the app log]';

/**
 * The status with a fresh sample; without the right to see logs, the log left out: the tail,
 * the last lines a refusal quotes from the log (a traceback, a hook's output), and the app's
 * own words in a refusal's message (an exception's message may hold a connection string): all
 * are the app's log as much as the tail is (SPEC 5.4). The code, the rest of the message and
 * the fix stay.
 */
async function freshStatus(provider: AdminProvider, logs: boolean): Promise<GatewayStatus> {
  await provider.sample();
  const status = provider.status();
  if (logs) return status;
  // The last occurrence: the app's words end the message; a short one ("e") may occur before.
  const withheld = (text: string, reason: RefusalStatus | null): string => {
    const at = reason?.appOutput === undefined ? -1 : text.lastIndexOf(reason.appOutput);
    return at < 0 ? text : text.slice(0, at) + WITHHELD + text.slice(at + reason!.appOutput!.length);
  };
  const withoutLog = (reason: RefusalStatus | null): RefusalStatus | null => {
    if (reason === null) return null;
    const { tail: _tail, appOutput: _output, ...rest } = reason;
    return { ...rest, message: withheld(reason.message, reason) };
  };
  for (const app of status.apps) {
    app.log = { ...app.log, lines: null };
    // A failed wake's message is the problem's (registry-status.ts): the same words withheld.
    if (app.idle?.wakeFailure) app.idle = { ...app.idle, wakeFailure: withheld(app.idle.wakeFailure, app.problem) };
    app.problem = withoutLog(app.problem);
    app.versions = app.versions.map((v) => ({ ...v, reason: withoutLog(v.reason) }));
    app.history = app.history.map((h) => ({ ...h, message: withheld(h.message, h.reason), reason: withoutLog(h.reason) }));
    // A process's last stderr line is the app's output too.
    const exitWithheld = <T extends { lastExit: ExitStatus | null }>(row: T): T => (row.lastExit?.reason ? { ...row, lastExit: { ...row.lastExit, reason: WITHHELD } } : row);
    app.workers = app.workers.map(exitWithheld);
    app.restarting = app.restarting.map(exitWithheld);
    app.processes = app.processes.map(exitWithheld);
    app.versions = app.versions.map((v) => ({ ...v, workers: v.workers.map(exitWithheld) }));
  }
  return status;
}

interface Context extends AdminServerOptions {
  guard: AdminGuard;
  events: StatusEvents;
  /** The streams being sent (/events, followed logs): ended, not cut, when the listener closes. */
  streams: OpenStreams;
  /** The page's files gzipped, each once. */
  pages: GzippedFiles;
}

async function answer(req: IncomingMessage, res: ServerResponse, ctx: Context): Promise<void> {
  for (const [name, value] of Object.entries(SECURITY_HEADERS)) res.setHeader(name, value);
  const url = new URL(req.url ?? '/', 'http://admin');
  const path = url.pathname;
  const app = APP_ROUTE.exec(path);
  const mail = MAIL_ROUTE.exec(path);
  const use: AdminUse = mail !== null ? 'act' : app === null ? 'read' : app[2] === 'log' ? 'logs' : 'act';
  const method = use === 'act' ? 'POST' : 'GET';
  const verdict = ctx.guard.check(req, use);
  if (!verdict.ok) return refuse(res, verdict);
  if (req.method !== method && !(method === 'GET' && req.method === 'HEAD')) {
    return sendError(res, 405, 'APPPKG_ADMIN_METHOD', `${req.method ?? ''} ${path} is not allowed; use ${method}`, { Allow: method === 'GET' ? 'GET, HEAD' : 'POST' });
  }
  try {
    if (app !== null) {
      const name = decodedName(app[1]);
      if (name === null) return sendError(res, 400, 'APPPKG_ADMIN_NO_ROUTE', `the app name in ${path.slice(0, 200)} is not valid percent-encoding`);
      return await appRoute(req, res, ctx, name, app[2], url);
    }
    if (mail !== null) return await mailRoute(req, res, ctx, url, mail[1] as 'retry' | 'delete');
    const page = PAGE_FILES[path];
    if (page !== undefined) return await sendPage(res, ctx.pages, page.file, page.type);
    switch (path) {
      case '/status': {
        const access = ctx.guard.access(req);
        const status = await freshStatus(ctx.provider, access.logs);
        return send(res, 200, 'application/json; charset=utf-8', `${JSON.stringify({ ...status, access }, null, 2)}\n`);
      }
      case '/metrics':
        return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', await ctx.metrics.render());
      case '/events': {
        const access = ctx.guard.access(req);
        ctx.guard.endWhenRevoked(req, res, () => endRevoked(req, res, ctx, use));
        ctx.streams.add(res);
        return await ctx.events.open(req, res, access.logs, { access });
      }
      default:
        return sendError(res, 404, 'APPPKG_ADMIN_NO_ROUTE', `no such admin endpoint: ${path.slice(0, 200)}; see / (the page), /status, /metrics, /events`);
    }
  } catch (err) {
    // A provider bug must not take the admin listener down: answer 500 and keep serving.
    return sendError(res, 500, 'APPPKG_ADMIN_INTERNAL', `internal error: ${(err as Error)?.message ?? String(err)}`);
  }
}

/**
 * APPPKG_ADMIN_APP_BROKEN when `name` is a package under --apps whose app.yaml does not load
 * (status names it by its directory), else null: "no app named" would deny what status lists,
 * and hide the typo that is the user's real problem. `words`: who asked (the admin listener's
 * are the CLI's but for a rescan, its gateway's own: adminListenerWords; a Gateway's restart() the library's). `unwatchedBy`: the option that turned
 * the apps directory's watching off, when it is: nothing then loads the fixed file by itself.
 */
export function brokenAppError(broken: readonly BrokenPackageStatus[], name: string, words: Pick<CommandWords, 'rescan' | 'status'> = CLI_COMMAND_WORDS, unwatchedBy?: string): GatewayError | null {
  const found = broken.find((b) => parsePackageDirName(basename(b.dir)).name === name);
  if (found === undefined) return null;
  const file = join(found.dir, 'app.yaml');
  return new GatewayError('APPPKG_ADMIN_APP_BROKEN', {
    reason: `${name} is not served: its package ${found.dir} is broken: ${found.code}: ${found.message}`,
    hint: unwatchedBy === undefined
      ? `fix ${file} as said above; the gateway loads it again by itself, or at once if you ${words.rescan}; ${words.status} shows it served`
      : `fix ${file} as said above, then ${words.rescan}: the gateway does not watch its apps directory (${unwatchedBy}), so it loads the package again only then; ${words.status} shows it served`,
  });
}

/** NAME of /apps/NAME/..., percent-decoded; null when the escapes are not valid UTF-8 percent-encoding. */
function decodedName(raw: string): string | null {
  try {
    return decodeURIComponent(raw);
  } catch {
    return null;
  }
}

async function appRoute(req: IncomingMessage, res: ServerResponse, ctx: Context, name: string, what: string, url: URL): Promise<void> {
  // The listener answers from the gateway's first moment, before it has looked at --apps once.
  await ctx.provider.appsListed;
  const file = ctx.provider.logFileOf(name);
  if (file === null) {
    const status = ctx.provider.status();
    const broken = brokenAppError(status.broken, name, ctx.provider.words ?? CLI_COMMAND_WORDS, ctx.provider.unwatchedBy);
    if (broken !== null) return sendError(res, 409, broken.code, broken.message, {}, broken.hint);
    const apps = status.apps.map((a) => a.name);
    // The CLI makes its own "did you mean" from the status; a client of the route's own (curl,
    // a script) had only the list.
    const near = nearAppName(name, apps);
    const meant = near === undefined ? '' : near.versionDir ? `${name} is a version's directory of ${near.app}, and the route names the app: /apps/${near.app}/${what}; ` : `did you mean ${near.app}? `;
    return sendError(res, 404, 'APPPKG_ADMIN_NO_SUCH_APP', `the gateway has no app named ${JSON.stringify(name)}`, {}, apps.length > 0 ? `${meant}its apps: ${apps.join(', ')}` : 'it serves no app');
  }
  if (what === 'log') {
    if (req.method === 'HEAD') return sendLogHead(res);
    const asked = Number(url.searchParams.get('lines') ?? DEFAULT_LOG_LINES);
    const lines = Number.isFinite(asked) ? Math.max(0, Math.min(MAX_LOG_LINES, Math.floor(asked))) : DEFAULT_LOG_LINES;
    const follow = ['1', 'true', 'yes'].includes(url.searchParams.get('follow') ?? '');
    if (follow) {
      ctx.guard.endWhenRevoked(req, res, () => endRevoked(req, res, ctx, 'logs'));
      ctx.streams.add(res);
    }
    return sendLogTail(file, res, lines, follow, url.searchParams.get('from'));
  }
  req.resume(); // a body, if any, means nothing here
  try {
    const done = what === 'restart' ? await ctx.provider.restart(name) : await ctx.provider.rollback(name);
    return send(res, 200, 'application/json; charset=utf-8', `${JSON.stringify({ app: name, ...done })}\n`);
  } catch (err) {
    if (!isGatewayError(err)) throw err;
    return sendError(res, 409, err.code, err.message, {}, err.hint);
  }
}

async function mailRoute(req: IncomingMessage, res: ServerResponse, ctx: Context, url: URL, what: 'retry' | 'delete'): Promise<void> {
  req.resume(); // a body, if any, means nothing here
  const ids = url.searchParams.getAll('id').filter((id) => id !== '');
  const all = ['1', 'true', 'yes'].includes(url.searchParams.get('all') ?? '');
  if (ids.length > 0 === all) {
    return sendError(res, 400, 'APPPKG_ADMIN_NO_ROUTE', `/mail/${what} takes either id=ID (repeated) or all=1 (with app=NAME for one app's)`);
  }
  const wait = url.searchParams.get('wait');
  const waitS = wait === null ? null : Number(wait);
  if (waitS !== null && (what !== 'retry' || !Number.isFinite(waitS) || waitS <= 0 || waitS > MAIL_RETRY_MAX_WAIT_S)) {
    return sendError(res, 400, 'APPPKG_ADMIN_NO_ROUTE', `wait= is for /mail/retry alone, a number of seconds above 0 and at most ${MAIL_RETRY_MAX_WAIT_S}; found ${JSON.stringify(wait)} on /mail/${what}`);
  }
  const provider = ctx.provider;
  const act = what === 'retry'
    ? provider.retryMail && ((ask: MailRetryAsk): Promise<MailRetryDone | MailDeleteDone> => provider.retryMail!(ask, waitS === null ? null : waitS * 1000))
    : provider.deleteMail && ((ask: MailDeleteAsk): Promise<MailRetryDone | MailDeleteDone> => provider.deleteMail!(ask));
  if (act === undefined) {
    const off = new GatewayError('APPPKG_MAIL_OFF', { reason: 'this gateway runs no mail listener' });
    return sendError(res, 409, off.code, off.message, {}, off.hint);
  }
  try {
    const done = await act(all ? { all: true, app: url.searchParams.get('app') || null } : { ids });
    return send(res, 200, 'application/json; charset=utf-8', `${JSON.stringify(done)}\n`);
  } catch (err) {
    if (!isGatewayError(err)) throw err;
    return sendError(res, err.code === 'APPPKG_MAIL_NO_DEAD_LETTER' ? 404 : 409, err.code, err.message, {}, err.hint);
  }
}

/**
 * Ends a stream whose token a rotation revoked: one begun with the trailer that says so
 * (stream-end.ts); one whose head is still to come is refused, as the token's next request is.
 */
function endRevoked(req: IncomingMessage, res: ServerResponse, ctx: Context, use: AdminUse): void {
  if (res.headersSent) return endStream(res, TOKEN_CHANGED);
  const verdict = ctx.guard.check(req, use);
  if (!verdict.ok) void refuse(res, verdict);
}

function refuse(res: ServerResponse, verdict: Extract<Verdict, { ok: false }>): Promise<void> {
  return sendError(res, verdict.status, 'APPPKG_ADMIN_REFUSED', verdict.message, verdict.headers, verdict.hint);
}

async function sendPage(res: ServerResponse, pages: GzippedFiles, file: string, type: string): Promise<void> {
  // Read at each request: a few KiB, asked for rarely, and a gateway nobody watches holds none of
  // it uncompressed; its gzipped form is kept (a quarter of the size), made once per file.
  const path = join(PAGE_DIR, file);
  let body: Buffer;
  let identity: string;
  try {
    const fd = openSync(path, 'r');
    try {
      const stat = fstatSync(fd);
      identity = `${stat.dev}:${stat.ino}:${stat.size}:${stat.mtimeMs}`;
      body = readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    return sendError(res, 500, 'APPPKG_ADMIN_INTERNAL', `the status page is missing from the package (${path}); reinstall apppkg-gateway`);
  }
  return writeAnswer(res, 200, {
    'Content-Type': type,
    'Cache-Control': 'no-store',
    'Content-Security-Policy': PAGE_POLICY,
    'Referrer-Policy': 'no-referrer',
  }, body, () => pages.gzipped(file, identity, body));
}

function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}, hint?: string): Promise<void> {
  return send(res, status, 'application/json; charset=utf-8', `${JSON.stringify({ error: { code, message, ...(hint ? { hint } : {}) } })}\n`, headers);
}

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string> = {}): Promise<void> {
  if (res.headersSent) return Promise.resolve(void res.end());
  return writeAnswer(res, status, { 'Content-Type': type, 'Cache-Control': 'no-store', ...headers }, Buffer.from(body));
}
