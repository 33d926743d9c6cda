// The public listeners: every request and upgrade from the socket to its app's dispatcher.
// A head Node lets through but RFC 9112 refuses is answered 400 here; the path is decoded once
// and routed (Host, then the longest mount); static files are served here; the rest goes to the
// app's AppDispatcher. start() binds the listeners, open() begins answering (what came
// between waits); publish() swaps what is routed (atomically, for version switches);
// stop() stops accepting, closes the websockets ASGI apps hold (1001), lets requests in flight
// finish within a bound, then closes the rest.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import { rmSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { WsCloseCode } from '../link/frames.js';
import { spanOf } from '../count.js';
import { GatewayError } from '../errors.js';
import { addrUrl, formatAddr, isAdminKey, type ListenAddress } from '../net/address.js';
import { listenOn, type UnixSocketOptions } from '../net/listen.js';
import { dropFragment, handshakeFramingProblem, headPastBound, MAX_REQUEST_LINE, parseErrorProblem, rejectedRequestLine, requestHeadProblem, requestLineTooLong, toOriginForm, unknownTransferCoding } from '../net/request-head.js';
import { closeWhenAsked } from '../net/connection-close.js';
import { afterNextPoll } from '../net/after-next-poll.js';
import { continueWanted, keepAliveOnceBodyRead, unmetExpectation } from '../net/expect-continue.js';
import { keepAliveWithoutBody } from '../net/bodiless-keep-alive.js';
import { asksForWebsocket, headWithoutUpgrade, rememberIgnoredUpgrade, restoreIgnoredUpgrade } from '../net/ignored-upgrade.js';
import { endAtTrailerSection } from '../net/trailer-end.js';
import { readEmptyChunkedBody } from '../net/handshake-body.js';
import { headAfterBodyIn, headBegunAt, headLineFrom, readVersionsAsRfc, sentHeadOf, unfinishedHeadOf, watchRequestStarts } from '../net/node-parser.js';
import { destroySoonLingering, endLingering, isLingering } from '../net/lingering-close.js';
import { nodeInterim, probeAfterEnd } from '../net/leave-probe.js';
import { RAW_TARGET_REFUSED, refusedRawTarget, rereadRawTarget, restoreRawTarget } from '../net/raw-target.js';
import { otherMajorVersion, restoreSentVersion } from '../net/request-line-version.js';
import { rereadUnknownMethod, restoreSentMethod } from '../net/unknown-method.js';
import { ENCODED_SLASH, routedRequestPath } from '../net/request-path.js';
import { AccessLog } from '../log/access-log.js';
import { AppDispatcher } from './app-dispatcher.js';
import { APP_ROUTE_HEADER, AppRouteKey } from './app-route-key.js';
import { bodyBytesOf, countBodyBytes, setBodyBytes } from './body-bytes.js';
import { LATER, LeanLane } from './lean-lane.js';
import type { Backend } from './backend.js';
import { notServingDetail, refuseUpgrade, refuseUpgradeFor, sendError, shortBody, unparsableAnswer } from './error-response.js';
import { clientAddress, compileTrustProxy, type TrustProxy } from './forwarded-headers.js';
import { answeredInstead, markCut, wasCut } from './gateway-cut.js';
import { OpenWebsockets } from './open-websockets.js';
import { answerInsteadAtTurn, closeQueuedWithConnection } from './queued-response.js';
import { kTracked, RequestsInFlight, type InFlightRequest, type TrackedResponse } from './requests-in-flight.js';
import { REFUSED_FOR_ROOM, servedByOf } from './served-by.js';
import { StartWaits } from './start-waits.js';
import { addressedServer, listenerPathOf, type RequestRoute } from './request-route.js';
import { atRoot, normalizePrefix, Router, type RouteMatch } from './router.js';
import { matchStatic, serveStatic } from './static-files.js';
import { holdEndForBody, type NodeBodyHoldOptions } from './node-body-hold.js';

export interface FrontOptions {
  listen: ListenAddress[];
  /** The option the addresses come from (`--listen`, `--port`; the library's `listen`), named when one cannot be bound. */
  listenFlag?: string;
  /** The option the addresses' host comes from when it is given apart (serve's `--host`), named when the host is what fails. */
  listenHostFlag?: string;
  /**
   * What shows the operator why an app does not serve, named in a 503's body (CommandWords.status:
   * the CLI's `apppkg-gateway status`, the default; the library's `gateway.status()`).
   */
  statusCall?: string;
  /** The option `unixSocket`'s owner comes from (`--socket-owner`; the library's `unixSocket`), named when it cannot be given. */
  socketOwnerKey?: string;
  /** A stream, a file name (appended to, reopened by reopenAccessLog), or null for none. */
  accessLog: Writable | string | null;
  /** Largest request head, in bytes (431 past it). */
  maxHeaderSize?: number;
  /** Time for a client to send the request head (slowloris bound). */
  headersTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  /**
   * Told of every response an app's request got (status 499: the client left first; 444: the
   * gateway cut it, at stop past --grace, head or not). `refusedForRoom`: a 503 of the gateway's
   * own for want of room under --max-workers (served-by.ts REFUSED_FOR_ROOM).
   */
  onResponse?: (app: string, status: number, seconds: number, refusedForRoom: boolean) => void;
  /**
   * Told of each websocket handshake refused 503 because --max-workers left no room to wake
   * its app: an upgrade has no response for onResponse, and the refusal is the gateway's.
   */
  onWebsocketRefusedForRoom?: (app: string) => void;
  /** Mode and owner of `unix:` listeners (nginx's user must be able to connect). */
  unixSocket?: UnixSocketOptions;
  /** --trust-proxy: peers whose X-Forwarded-* are believed (true = any peer). */
  trustProxy?: boolean | string[];
  /** Plain requests on the lean lane (lean-lane.ts); false: node:http reads every request. */
  leanLane?: boolean;
  /** The gateway's log: a stop says there what it still waits for. */
  say?: (line: string) => void;
}

/** A route to an app as published; `implicit`: one of its defaults, NAME.localhost or /NAME (router.ts Route). */
export interface PublishedRoute {
  host: string | null;
  prefix: string;
  implicit?: boolean;
}

/** One app as the proxy routes to it: the version that serves, and the routes that lead there. */
export interface PublishedApp {
  name: string;
  routes: PublishedRoute[];
  backend: Backend;
}

/** An app that serves nothing (every version refused): answered 503 where it is mounted, not 404. */
export interface RefusedRoutes {
  name: string;
  routes: PublishedRoute[];
  /** The refusal's error code, for the answer (the details are the admin's: status). */
  code: string;
  /** Of an app starting: how long a request waits for it before a 503 (its start_timeout and a moment). */
  startWaitMs?: number;
  /** Of an app starting: its processes' routes in any of its versions (null: web, every path); none when absent. */
  processRoutes?: ReadonlyArray<string | null>;
}

interface Routed {
  match: RouteMatch<AppDispatcher>;
  url: string;
  /** Where the query starts in url, or -1. */
  q: number;
}
interface Unrouted {
  status: 400 | 404 | 414 | 417 | 431 | 501 | 503 | 505;
  detail: string;
  /** Close the connection after the answer (a head that cannot be trusted to frame the next one). */
  close: boolean;
  /** A 503 that will pass: say when to try again. */
  retryAfter?: boolean;
  /**
   * The app whose first version is starting, and how long the request may wait for it instead;
   * `toProcess`: a process of one of its versions may take the path (RefusedRoutes.processRoutes).
   */
  starting?: { app: string; waitMs: number; toProcess: boolean };
  /** The app that does not serve (refused): its 503 counts as its answer (docs/admin.md, `failed`). */
  refused?: string;
}

const kApp = Symbol('apppkg.upgradeApp');
type UpgradeSocket = Socket & { [kApp]?: string };

/** The 417's reason (RFC 9110 §10.1.1), the client's field printable and short. */
const cannotMeet = (expectation: string): string =>
  `the expectation \`${expectation.replace(/[^\x20-\x7e]/g, '?').slice(0, 200)}\` cannot be met: the gateway knows 100-continue only (RFC 9110 §10.1.1)`;

/** Largest request head when FrontOptions gives none, as node:http's own default: 431 past it. */
const MAX_HEADER_SIZE = 16 * 1024;

/**
 * Why a head too long is refused: the whole head, its request line the long part (414), or not
 * (431). Both say the head's bound: a request line of 8 to 16 KiB in a head within it is served,
 * and "the request line is longer than 8 KiB" said otherwise.
 */
function headTooLong(status: 414 | 431, maxHeaderSize: number): string {
  const head = `the request head is longer than ${Math.round(maxHeaderSize / 1024)} KiB`;
  return status === 414 ? `${head}, its request line alone over ${MAX_REQUEST_LINE / 1024} KiB` : head;
}

/** RefusedRoutes.code of an app whose first version is starting (the supervisor's STARTING). */
const STARTING_CODE = 'starting';

/** The body of the 501 to a CONNECT (ASCII: its length is its byte count). */
const NOT_A_PROXY = shortBody(501, 'CONNECT: this gateway is not an HTTP proxy');

/**
 * The 404 for a path no mount holds, the path as the router compared it: an encoded slash shown
 * as sent (`/blog%2Fx`), with why it is under no mount, since decoded (`/blog/x`) it read as a
 * path the app at `/blog` serves.
 */
function notMounted(route: string, merged: string | null): string {
  const show = (p: string): string => p.replaceAll(ENCODED_SLASH, '%2F').replace(/[^\x20-\x7e]/g, '?').slice(0, 200);
  const shown = show(route);
  if (merged !== null) return `no app is mounted at ${shown}: slashes in a row are kept as sent, not merged into one as nginx merges them, so it is under no mount; did you mean ${show(merged)}?`;
  if (!route.includes(ENCODED_SLASH)) return `no app is mounted at ${shown}`;
  return `no app is mounted at ${shown}: an encoded slash (%2F) is data, not a path separator, so it does not reach a mount; write / there`;
}

/**
 * `//blog/x` with its slashes merged, as nginx's merge_slashes has it, or null when it has no
 * slashes in a row. RFC 3986 keeps `//` (an empty segment), so the router does, and nginx's
 * proxy_pass sends the target on as sent; but nginx matches its locations on the merged path,
 * so its users take `//blog/x` for `/blog/x`: the 404's body names the path that was meant.
 */
function mergedSlashes(path: string): string | null {
  return path.includes('//') ? path.replace(/\/{2,}/g, '/') : null;
}

const NOT_A_PATH = 'the request target is not a path (it must start with /, hold no NUL, and have no .. that climbs above the root or stands beside an encoded slash %2F)';

/**
 * How long a request waits for an app starting that was published without its own wait
 * (RefusedRoutes.startWaitMs): the default start bound, then 503 saying it still starts.
 */
const START_WAIT_MS = 60_000;

/**
 * The access log's status for a request the gateway closed before any response head went out:
 * nginx's 444 ("connection closed without response"). 499 says the client closed first.
 */
const CLOSED_WITHOUT_RESPONSE = 444;

/** llhttp's error for a connection that ended (the client's FIN) inside a request head. */
const HEAD_CUT = 'HPE_INVALID_EOF_STATE';

/** Marks the 408 that putOffHeadTimeout gives when its time is up: not node:http's, not put off again. */
const kFromAnswer = Symbol('apppkg.headTimedFromAnswer');
/** Marks a head timeout judged after the loop's poll (the 'clientError' listener in start()). */
const kAfterPoll = Symbol('apppkg.headTimedAfterPoll');

/** How long a stop waits for websocket clients to answer their close frame before cutting them. */
const WEBSOCKET_CLOSE_WAIT_MS = 2000;

/** How often a stop that waits for requests in flight says which. */
const STOP_REPORT_MS = 5000;

/**
 * How long a stop gives a connection accepted with nothing read yet to bring its request: a
 * client sends it as it connects, and destroyed with its request unread, the socket is reset.
 */
const FIRST_REQUEST_WAIT_MS = 500;

/** Why a 505: the version the request line says (`3.0`), which the gateway does not speak. */
const notSpokenHere = (version: string): string => `HTTP/${version} is not spoken here: send HTTP/1.1`;

/** Whether a process of `routes` (RefusedRoutes.processRoutes) takes `routed`, as AppDispatcher's groupFor decides. */
function takenByProcess(routes: ReadonlyArray<string | null> | undefined, routed: string): boolean {
  return routes?.some((route) => route === null || routed === route || routed.startsWith(`${route}/`)) ?? false;
}

/** The app's static file the request names, or null; the common app has no `static:` at all. */
function staticHit(match: RouteMatch<AppDispatcher>): ReturnType<typeof matchStatic> {
  const mounts = match.target.staticMounts;
  return mounts.length > 0 ? matchStatic(mounts, match.routedPathInfo, match.pathInfo) : null;
}

/**
 * Runs `answer`, the gateway's own (a 404, a 417, a 503, `OPTIONS *`'s 200, a static file), for
 * a request with a body once the bytes of it that came with the head are read: a chunked body
 * that breaks in them is that request's 400 instead (RFC 9112 §7.1: a recipient that cannot
 * parse the chunked coding cannot tell where the request ends, so the request is not one that
 * can be answered as if well-formed, and nothing after it is read: §9.6). node:http gave the 400
 * to such a request pipelined behind another, whose answer waits its turn while llhttp reads on,
 * and the own answer to one read first (its answer written before llhttp read the body); the
 * lean lane the own answer to both. A body that breaks in a later read finds the answer gone,
 * and closes the connection, from both readers.
 */
function afterBodyInHand(req: IncomingMessage, res: ServerResponse, answer: () => void): void {
  if (req.headers['transfer-encoding'] === undefined) return answer();
  setImmediate(() => {
    if (!res.destroyed && !res.headersSent && !wasCut(res)) answer();
  });
}

export class Front {
  private router = new Router<AppDispatcher | RefusedRoutes>([]);
  private readonly dispatchers = new Map<string, AppDispatcher>();
  /** The apps that serve nothing now, by name: a request naming its app (appRoute) finds them here. */
  private refusedByName = new Map<string, RefusedRoutes>();
  /** Each published app's mount, and a router of that one route (namedMatch). */
  private mounts = new Map<string, string>();
  private mountRouters = new Map<string, Router<AppDispatcher | RefusedRoutes>>();
  private readonly appRoute = new AppRouteKey();
  /** sayTakenRoutes' lines said already. */
  private readonly takenRoutesSaid = new Set<string>();
  private servers: http.Server[] = [];
  /**
   * The unix socket paths this front bound, the only ones its stop removes: a bind that failed
   * (EADDRINUSE) found the path another gateway's live socket, or someone's file.
   */
  private readonly boundSocketPaths: string[] = [];
  /** The response to the last request node:http read on a connection: a refusal pipelined behind it waits for it. */
  private readonly lastNodeResponse = new WeakMap<Socket, ServerResponse>();
  /**
   * Connections whose refusal of a head waits for the answers before it. llhttp, once in error,
   * gives the same error at every later read (not at the client's FIN), without the read it
   * failed in: a second refusal, queued before the first, went out first with no request line to
   * tell a HEAD by (a body in a HEAD's 400: lean-differential seed 32, case 269).
   */
  private readonly refusalOwed = new WeakSet<Socket>();
  /** Answers the stop told to close their connection (closeAfterLastNodeAnswers) before their head went out. */
  private readonly closedByStop = new WeakSet<ServerResponse>();
  /** The first line of what the lean lane handed node:http, as sent: for a head that times out there. */
  private readonly handedLines = new WeakMap<Socket, string>();
  /**
   * Of a head the lean lane began timing and handed node:http unfinished: when its clock
   * started (performance.now()), and the timer that answers it 408 when --header-timeout is over, as
   * the lane would have. node:http's own clock starts at the hand-off and cannot be set back.
   */
  private readonly handedHeadSince = new WeakMap<Socket, number>();
  private readonly handedHeadClocks = new WeakMap<Socket, NodeJS.Timeout>();
  /** Connections answered 408: what node:http reads of them after that is no request of theirs. */
  private readonly headTimedOut = new WeakSet<Socket>();
  /** Responses whose requests wait, unrun, for the answers before them to be written (nodeRequest). */
  private readonly awaitingTurn = new WeakSet<ServerResponse>();
  /** When node:http's last answer on a connection was written (performance.now()): a head pipelined behind it is timed from there. */
  private readonly answeredAt = new WeakMap<Socket, number>();
  /** Connections whose head node:http timed out behind an answer, and whose 408 waits (putOffHeadTimeout). */
  private readonly headTimeoutPutOff = new WeakSet<Socket>();
  private readonly lanes: LeanLane[] = [];
  /** node:http's answers held for their bodies (node-body-hold.ts): a stop releases them. */
  private readonly nodeBodyHold: NodeBodyHoldOptions;
  private sockets = new Set<Socket>();
  /** Connections the stop cut past --grace: what they still held is not the client's leaving. */
  private readonly cutSockets = new WeakSet<Socket>();
  /** node:http's own connection listener of each server: a connection given back to it reads anew. */
  private readonly nodeConnectionOf = new Map<Server, (socket: Socket) => void>();
  private readonly inFlight = new RequestsInFlight();
  private idleWaiters: Array<() => void> = [];
  private readonly accessLog: AccessLog;
  private stopping = false;
  private readonly websockets = new OpenWebsockets();
  private readonly startWaits = new StartWaits();
  /**
   * Requests and upgrades that arrived before open(), or null once open: the listeners are
   * bound before the apps start (a busy port fails first, issue 13), and what comes meanwhile
   * waits for the apps rather than finding none.
   */
  private held: Array<() => void> | null = [];
  /** Whether publish() came yet: before it, the router knows no app, so nothing of where a request goes. */
  private published = false;
  /** Why nothing is routed (serve --reload waiting for a fix): then 503 saying so, not 404. */
  private unroutedBecause: { why: string; app: string | null } | null = null;

  private readonly trust: TrustProxy | null;

  constructor(private readonly opts: FrontOptions) {
    this.trust = compileTrustProxy(opts.trustProxy);
    this.accessLog = new AccessLog(opts.accessLog);
    this.nodeBodyHold = {
      stallMs: (res) => this.bodyStallMs(res) ?? (opts.keepAliveTimeoutMs ?? 5_000),
      firstByteMs: opts.headersTimeoutMs ?? 20_000,
      held: new Set(),
    };
  }

  /**
   * Routes to these apps from now on. An app whose version changed hands what waits for it to
   * the new one; an app no longer published answers what waits with 503. Requests in flight
   * finish where they are.
   */
  publish(apps: PublishedApp[], refused: RefusedRoutes[] = []): void {
    const names = new Set<string>();
    for (const app of apps) {
      names.add(app.name);
      const dispatcher = this.dispatchers.get(app.name);
      if (dispatcher === undefined) this.dispatchers.set(app.name, new AppDispatcher(app.backend, this.websockets, this.opts.onWebsocketRefusedForRoom, this.opts.statusCall));
      else if (dispatcher.backend !== app.backend) dispatcher.attach(app.backend);
    }
    for (const [name, dispatcher] of this.dispatchers) {
      if (names.has(name)) continue;
      this.dispatchers.delete(name);
      dispatcher.detach(`${name} is stopping`);
    }
    // One router for both, so that the longest mount wins as ever: a refused app at /blog is
    // not shadowed by a serving one at /.
    this.router = new Router<AppDispatcher | RefusedRoutes>([
      ...apps.flatMap((a) => a.routes.map((r) => ({ ...r, target: this.dispatchers.get(a.name)! }))),
      ...refused.flatMap((a) => a.routes.map((r) => ({ ...r, target: a }))),
    ]);
    this.refusedByName = new Map(refused.map((a) => [a.name, a]));
    // Each app's mount, its route for any host: a request the gateway sends the app is split there.
    this.mounts = new Map([...apps, ...refused].map((a) => [a.name, normalizePrefix(a.routes.find((r) => r.host === null)?.prefix ?? '')]));
    this.mountRouters = new Map([
      ...apps.map((a) => [a.name, new Router<AppDispatcher | RefusedRoutes>([{ host: null, prefix: this.mounts.get(a.name)!, target: this.dispatchers.get(a.name)! }])] as const),
      ...refused.map((a) => [a.name, new Router<AppDispatcher | RefusedRoutes>([{ host: null, prefix: this.mounts.get(a.name)!, target: a }])] as const),
    ]);
    this.published = true;
    this.sayTakenRoutes([...apps, ...refused]);
    const starting = new Set(refused.filter((a) => a.code === STARTING_CODE).map((a) => a.name));
    this.startWaits.settle((app) => starting.has(app));
    // Requests the lean lane put off for want of any route (takePlain) are decided now.
    for (const lane of this.lanes) lane.askAgain();
  }

  /**
   * Says, once, each default route of an app (its `NAME.localhost`, its mount `/NAME`) that
   * another app's `hosts:` or `mount:` took (the router gives it to the one that named it): the
   * owner still answers at its other routes.
   */
  private sayTakenRoutes(apps: Array<Pick<PublishedApp, 'name' | 'routes'>>): void {
    const keyOf = (r: PublishedRoute) => `${r.host?.toLowerCase() ?? ''} ${normalizePrefix(r.prefix)}`;
    const named = new Map<string, string>();
    for (const app of apps) for (const r of app.routes) if (!r.implicit) named.set(keyOf(r), app.name);
    for (const app of apps) {
      for (const r of app.routes) {
        const taker = r.implicit ? named.get(keyOf(r)) : undefined;
        if (taker === undefined || taker === app.name) continue;
        const said = `${keyOf(r)} ${taker} ${app.name}`;
        if (this.takenRoutesSaid.has(said)) continue;
        this.takenRoutesSaid.add(said);
        this.opts.say?.(
          r.host !== null
            ? `host ${r.host} is ${app.name}'s default, and ${taker}'s hosts: in the environment file names it: requests for it go to ${taker}; ${app.name} still answers at its mount`
            : `mount ${r.prefix} is ${app.name}'s default, and ${taker}'s mount: in the environment file names it: requests under it go to ${taker}; ${app.name} still answers at ${app.name}.localhost, or give it a mount: of its own`,
        );
      }
    }
    // Apps named alike but for case (`Blog` and `blog`) share one default host, since host names
    // compare without case: the router gives it to the first, which is said rather than left to find.
    const firstWithHost = new Map<string, string>();
    for (const app of apps) {
      for (const r of app.routes) {
        if (!r.implicit || r.host === null || named.has(keyOf(r))) continue;
        const first = firstWithHost.get(keyOf(r));
        if (first === undefined) firstWithHost.set(keyOf(r), app.name);
        if (first === undefined || first === app.name) continue;
        const said = `${keyOf(r)} ${first} ${app.name}`;
        if (this.takenRoutesSaid.has(said)) continue;
        this.takenRoutesSaid.add(said);
        this.opts.say?.(
          `host ${r.host.toLowerCase()} is the default of both ${first} and ${app.name} (host names compare without case): requests for it go to ${first}; ` +
            `${app.name} still answers at its mount; rename one, or give it hosts: of its own in the environment file`,
        );
      }
    }
  }

  /**
   * The header that routes a request the gateway sends itself (a mail delivery) to `app`,
   * whatever another app's `hosts:` claims, split at its mount (appMount).
   */
  appRouteHeader(app: string): [name: string, value: string] {
    return [APP_ROUTE_HEADER, this.appRoute.valueFor(app)];
  }

  /** `app`'s mount as published ('' at the root, or for an app not published): where its mail is POSTed. */
  appMount(app: string): string {
    return this.mounts.get(app) ?? '';
  }

  /** Requests waiting for a free upstream of `app`. */
  queued(app: string): number {
    return this.dispatchers.get(app)?.queued ?? 0;
  }

  /** Of those, the requests waiting for its process `name` (a route's, or a command app's web). */
  queuedFor(app: string, name: string): number {
    return this.dispatchers.get(app)?.queuedFor(name) ?? 0;
  }

  /**
   * Listens on every address; resolves with their URLs (port 0 resolved to the real port).
   * Requests are held until open().
   */
  async start(): Promise<string[]> {
    const urls: string[] = [];
    for (const addr of this.opts.listen) {
      const headersTimeout = this.opts.headersTimeoutMs ?? 20_000;
      const server = http.createServer({
        maxHeaderSize: this.opts.maxHeaderSize ?? MAX_HEADER_SIZE,
        headersTimeout,
        // Node enforces headersTimeout only when it sweeps its connections, every 30 s by
        // default: a slowloris would get up to 30 s more than --header-timeout says.
        connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.round(headersTimeout / 4))),
        requestTimeout: 0,
        // Refused by requestHeadProblem instead, with its reason and its access-log line.
        requireHostHeader: false,
        keepAliveTimeout: this.opts.keepAliveTimeoutMs ?? 5_000,
        // Node answers 100-continue itself unless told otherwise; the app decides (PEP 3333).
      });
      // Node keeps the first 2000 names and values of a head and drops the rest without a word,
      // Content-Length among them: the app would get a request without it. maxHeaderSize and
      // headPastBound bound the head, and so the fields, already (the lean lane keeps every field
      // of its heads too).
      server.maxHeadersCount = 0;
      // A client that half-closes after its request (`printf ... | nc`, HTTP/1.0 tools) still
      // waits for the answer: Node's default aborts the request at the FIN and answers nothing.
      // Node reads this field on each 'end' (lib/_http_server.js); it has no option for it.
      (server as http.Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
      server.on('request', (req, res) => this.nodeRequest(req, res));
      server.on('checkContinue', (req, res) => this.nodeRequest(req, res));
      // Without a listener node:http answers an expectation it cannot meet itself: a bare 417,
      // chunked, with no reason and no access-log line. route() gives it as the gateway's own.
      server.on('checkExpectation', (req, res) => this.nodeRequest(req, res));
      server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
        this.stopHandedHeadClock(socket);
        socket.on('error', () => {}); // a client's reset while earlier answers go out
        this.afterAnswersOwed(socket, () => this.whenOpen(() => this.onUpgrade(req, socket, head)));
      });
      // CONNECT asks for a tunnel (RFC 9110 §9.3.6): a proxy's job, not an app's. Without a
      // listener Node closes the connection without a word.
      server.on('connect', (req: IncomingMessage, socket: Socket) => {
        this.stopHandedHeadClock(socket);
        socket.on('error', () => {});
        this.afterAnswersOwed(socket, () => {
          this.accessLog.record(req, socket.remoteAddress ?? '', 501, '', performance.now(), NOT_A_PROXY.length);
          // The fields and short body of every other refusal (it had no Date, nor Cache-Control).
          endLingering(socket, unparsableAnswer(501, NOT_A_PROXY));
        });
      });
      this.takeConnections(server);
      server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
        // Closing after a refusal already: what the client still sends is dropped unparsed.
        if (isLingering(socket) || this.refusalOwed.has(socket)) return;
        // Bytes after a request that said Connection: close are not a bad request: they are
        // not read (RFC 9112 §9.6), and that request's answer, under way, closes the connection.
        if (err.code === 'HPE_CLOSED_CONNECTION') return;
        // A head's time is up when a timer fires, and timers run before the loop polls: after a
        // stall (a long GC, a busy turn) the rest of the head may be in the kernel, sent in time.
        // Judged after the next poll, as the lean lane's sweep is: a head read whole by then is
        // served, not answered 408. Node's own check (connectionsCheckingInterval) says it once.
        if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT' && !(kAfterPoll in err)) {
          afterNextPoll(() => {
            const parser = (socket as Socket & { parser?: { headersCompleted?: () => boolean } | null }).parser;
            // No parser: node:http let the socket go meanwhile (an upgrade, a CONNECT, the close).
            if (socket.destroyed || parser == null || parser.headersCompleted?.() === true) return;
            server.emit('clientError', Object.assign(err, { [kAfterPoll]: true }), socket);
          });
          return;
        }
        // SPEC 5.8: a later request's octets >= 0x80 in its target, which node:http's parser
        // refuses, are read as the lean lane reads them (R6.8d), not answered 400.
        if (!this.headTimedOut.has(socket)) {
          const previous = this.lastNodeResponse.get(socket)?.req;
          if (refusedRawTarget(err) && rereadRawTarget(err as { rawPacket?: unknown }, socket, previous)) return;
          // A method llhttp does not know, which the lane serves: the app's (R6.22b).
          if (rereadUnknownMethod(err as { code?: string; rawPacket?: unknown }, socket, previous)) return;
          // Content-Length or Transfer-Encoding in a chunked trailer: dropped, as on the lane (R6.13b).
          if (endAtTrailerSection(err as { reason?: unknown; rawPacket?: unknown }, socket)) return;
        }
        if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
          // An idle connection whose parser started over after a trailer: no head to answer;
          // the keep-alive timeout closes it without a word, as any idle one.
          if (headBegunAt(socket) === null) return;
          if (!(kFromAnswer in err) && this.putOffHeadTimeout(server, socket)) return;
        }
        // Read now: the parser may go on to other bytes before the refusal is written.
        const headSince = performance.now() - this.headWaitSeconds(socket) * 1000;
        const rawPacket = (err as { rawPacket?: unknown }).rawPacket;
        const previous = this.lastNodeResponse.get(socket)?.req;
        const headBegun = !Buffer.isBuffer(rawPacket) ? null
          : (sentHeadOf(socket) ?? headLineFrom(socket, rawPacket, previous) ?? headAfterBodyIn(socket, rawPacket, (err as { bytesParsed?: number }).bytesParsed ?? 0, previous));
        this.stopHandedHeadClock(socket);
        if (!socket.writable) return socket.destroy();
        // HTTP/2's own preface (`PRI * HTTP/2.0`, curl --http2-prior-knowledge), which llhttp
        // stops at: the 505 of any HTTP/2.0 line, as the lean lane's gateway gives it.
        const otherVersion =
          err.code === 'HPE_INVALID_VERSION' ? otherMajorVersion(err as { rawPacket?: unknown; bytesParsed?: unknown })
          : err.code === 'HPE_PAUSED_H2_UPGRADE' ? '2.0'
          : null;
        const status =
          err.code === 'HPE_HEADER_OVERFLOW' ? (headTooLongForItsLine(err as { rawPacket?: unknown; bytesParsed?: unknown }, headBegun, this.lastNodeResponse.get(socket)) ? 414 : 431)
          : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408
          : otherVersion !== null ? 505
          : 400;
        // A 505 in the words of the front's own for a line llhttp read (route()): the same answer.
        // Each refusal says why, as the lean lane's and sendError's do (a 408 has no reader).
        const body =
          status === 505 ? shortBody(505, notSpokenHere(otherVersion!))
          : status === 414 || status === 431 ? shortBody(status, headTooLong(status, this.opts.maxHeaderSize ?? MAX_HEADER_SIZE))
          : status !== 400 ? ''
          : shortBody(400, refusedRawTarget(err) ? RAW_TARGET_REFUSED : parseErrorProblem(err));
        // From now: its 408 may wait for the answers before it, and the rest of the head, if
        // the client sends it meanwhile, must not become a request served ahead of that 408.
        if (status === 408) this.headTimedOut.add(socket);
        const refuse = (behindAnswered: boolean, loggedAfter?: ServerResponse): void => {
          // One access-log line per request (SPEC 4), this one too: with what was read of it.
          // The head the lean lane handed over, as the client sent it: the parser's read may
          // be its last piece only (a head in several reads: `" h"` was logged), or the line
          // rewritten for llhttp (HTTP/1.2 as 1.1, octets >= 0x80 escaped). A head node:http
          // read from its first read on: that read's line, not the last read's first bytes; one
          // it read again rewritten (rereadRawTarget, rereadUnknownMethod): the line as sent.
          const handed = behindAnswered || this.lastNodeResponse.has(socket) ? undefined : this.handedLines.get(socket);
          const line =
            handed ??
            (headBegun === null ? null : rejectedRequestLine({ rawPacket: headBegun })) ??
            rejectedRequestLine(err as { rawPacket?: unknown }, behindAnswered) ??
            (status === 408 || err.code === HEAD_CUT ? this.unparsedLine(socket) : null);
          // A HEAD's refusal has no body (RFC 9110 §9.3.2), as the lane's refusals of one.
          const head = line?.startsWith('HEAD ') === true;
          endLingering(socket, unparsableAnswer(status, body, head));
          if (line === null) return;
          const record = (): void => this.accessLog.recordRejected(socket.remoteAddress ?? '', line, status, head ? 0 : Buffer.byteLength(body), (performance.now() - headSince) / 1000);
          if (loggedAfter === undefined) record();
          else loggedAfter.once('close', record);
        };
        // The error is in a request after ones read whole: their answers go out first, in
        // order, then its refusal, and the connection ends (RFC 9112 §9.3.2). Written before,
        // the refusal would take an earlier answer's place; not written at all, the client
        // would never learn what became of its request.
        const last = this.lastNodeResponse.get(socket);
        if (last?.req?.complete) {
          // Behind an answer that closes the connection (a refusal: 400, 505, ...), nothing is
          // read (RFC 9112 §9.6), so nothing is answered or logged, as nodeRequest drops a
          // request there: llhttp goes on parsing a message it reads as keep-alive (an HTTP/2.0
          // line with `Proxy-Connection: keep-alive`), and its 400 went out after the 505.
          if (!last.shouldKeepAlive) return;
          if (last.writableFinished) refuse(true);
          // Before node:http's own 'finish' listener: after a client's FIN (`printf ... | nc`)
          // that one ends the socket, and the refusal and its log line were lost. Its line
          // comes after the answer's own (logged on 'close'), in request order.
          // Whether that answer closes may be known only then: a request waiting its turn is
          // routed at it, and a refusal of its head (no Host, two Hosts, an empty
          // Transfer-Encoding) says close; this one is then never read, as above.
          else {
            this.refusalOwed.add(socket);
            last.prependOnceListener('finish', () => socket.writable && last.shouldKeepAlive && refuse(true, last));
          }
          return;
        }
        const current = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
        // The broken body is a later request's whose head was refused already (two Hosts, say),
        // its answer queued behind this one and saying close: that refusal is its answer, as on
        // the lane, which reads no body behind a head it refuses (its 400 was dropped, a 499).
        if (last !== undefined && last !== current && last.writableEnded && !last.shouldKeepAlive) return;
        // The refusal of a broken body as the lean lane words it, its 431 for a trailer section
        // too long too (its trailer's fields are no head's); to a HEAD, the head a GET's would
        // have and no body (RFC 9110 §9.3.2), as the refusal of a HEAD's head (refuse above).
        const bodyRefusal = (res: ServerResponse): { answer: string; bytes: number } => {
          const problem = status !== 400 && status !== 431 ? body : shortBody(status, parseErrorProblem(err, true));
          const head = res.req?.method === 'HEAD';
          return { answer: unparsableAnswer(status, problem, head), bytes: head ? 0 : Buffer.byteLength(problem) };
        };
        // A body broken in a request pipelined behind answers owed, one under way or not: they
        // go out whole, in order (RFC 9112 §9.3.2; nginx, turning to a request only when the
        // one before is answered, gives them), then its 400 in its answer's place, then the
        // close, as on the lane (refuseBody). Its one access-log line says that 400 (SPEC 4).
        if (current != null && last !== undefined && last !== current && last.req?.complete === false) {
          if (this.awaitingTurn.delete(last)) {
            // Never run, it waited its turn (nodeRequest): a head the front refuses is
            // refused for that, as the lane refuses it at its turn before reading its body;
            // else its 400 is logged as the app's the lane would have given it to.
            // `OPTIONS *` is no path, which route() refuses as one: only its head is judged
            // here, or onRequest gave it its 200, keep-alive, on a connection whose parser had
            // stopped, and the 400 was never sent (the keep-alive timeout closed it).
            const asterisk = last.req.url === '*' && last.req.method === 'OPTIONS';
            const routed = asterisk ? this.headRefusal(last.req) : this.route(last.req);
            if (routed !== null && 'status' in routed && routed.close) return this.onRequest(last.req, last);
            this.track(last.req, last, routed === null ? '' : 'status' in routed ? (routed.refused ?? '') : routed.match.target.name);
          }
          const refusal = bodyRefusal(last);
          markCut(last, status);
          setBodyBytes(last, refusal.bytes);
          answerInsteadAtTurn(last, refusal.answer);
          return;
        }
        // A parse error in the body of the request whose response holds the connection (a bad
        // chunk size, say): that response may be on the wire already, and a 400 written now
        // would land inside its body. As Node's own default handler: once a response has begun,
        // finish flushing it if it is complete, else cut the connection (a truncated body must
        // never look complete).
        if (current?.headersSent) {
          if (current.writableEnded) endLingering(socket);
          else socket.destroy();
          return;
        }
        // The broken body is that of a request answered already, its response written and let
        // go of, no other owed (the front's 400 for a head it refuses but keeps the connection
        // for, no path): its one answer is out, and nothing after the body can be read. The
        // close, as the lane's refuseBody; a 400 now would be a second answer to that request.
        if (current == null && last?.req?.complete === false && last.writableEnded) {
          endLingering(socket);
          return;
        }
        if (current != null) {
          // The body of the request whose answer this is broke (a bad chunk, a FIN before the
          // end): the 400 is that request's answer, and its one access-log line (SPEC 4) says
          // so, as the lean lane's does (refuseBody); not a 499 beside a line whose request
          // line is the body's bytes.
          const refusal = bodyRefusal(current);
          markCut(current, status);
          setBodyBytes(current, refusal.bytes);
          endLingering(socket, refusal.answer);
          return;
        }
        refuse(false);
      });
      await listenOn(server, addr, this.opts.unixSocket, this.opts.listenFlag, this.opts.socketOwnerKey, this.opts.listenHostFlag).catch((err: unknown) => {
        throw this.heldByOurOwn(err, addr) ?? err;
      });
      this.servers.push(server);
      // server.close() runs it too (Node 19+), so the stop's own call is not the only one.
      server.closeIdleConnections = () => this.closeIdleNodeConnections(server);
      if (addr.kind === 'unix') this.boundSocketPaths.push(addr.path);
      const actual = server.address();
      urls.push(
        addr.kind === 'unix' || actual === null || typeof actual === 'string'
          ? addrUrl(addr)
          : addrUrl({ kind: 'tcp', host: addr.host, port: actual.port }),
      );
    }
    return urls;
  }

  /**
   * A bind refused (EADDRINUSE) because one of these listeners holds that port already: two
   * names of one address (`localhost` and `127.0.0.1`), which the check before binding cannot
   * see without resolving names. The usage error it is, not "another process listens".
   * `second` is the flag that gave `addr` (`--admin` for the admin listener's bind).
   */
  heldByOurOwn(err: unknown, addr: ListenAddress, second = this.opts.listenFlag ?? '--listen'): GatewayError | null {
    const cause = err instanceof GatewayError ? (err.details.cause as NodeJS.ErrnoException | undefined) : undefined;
    if (addr.kind !== 'tcp' || cause?.code !== 'EADDRINUSE') return null;
    const at = this.servers.findIndex((s) => {
      const bound = s.address();
      return bound !== null && typeof bound === 'object' && bound.port === addr.port;
    });
    if (at < 0) return null;
    const bound = this.servers[at].address() as { address: string; port: number };
    return new GatewayError('APPPKG_ADDR_TWICE', {
      first: this.opts.listenFlag ?? '--listen', second, address: formatAddr(addr), other: formatAddr(this.opts.listen[at]), same: false, admin: isAdminKey(second) ? second : undefined,
      why: `the first already listens on ${bound.address} port ${bound.port}, which ${addr.host} is on this host`,
    });
  }

  /**
   * While set, a request no app takes is answered 503 (Retry-After) with `why` instead of
   * 404: under `serve --reload` the one app failed to start and a fix is awaited. The answer
   * is `app`'s (its access-log line and metrics), as a refused app's 503 is.
   */
  setUnavailable(why: string | null, app: string | null = null): void {
    this.unroutedBecause = why === null ? null : { why, app };
  }

  /** Answers requests from now on, those held first, in the order they came. */
  open(): void {
    const held = this.held;
    this.held = null;
    held?.forEach((handle) => handle());
  }

  private whenOpen(handle: () => void): void {
    if (this.held === null) handle();
    else this.held.push(handle);
  }

  /** A request node:http read; its response closes with the connection even while it waits behind another. */
  private nodeRequest(req: IncomingMessage, res: ServerResponse): void {
    this.stopHandedHeadClock(req.socket);
    // The rest of a head that timed out (a client that kept sending): its 408 closes the
    // connection, and nothing after it is processed (RFC 9112 §9.6), nor answered before it.
    if (this.headTimedOut.has(req.socket)) return;
    // node:http's requests only: the lean lane's are read as sent, and never marked. Now, while
    // the socket's marks are this request's: one run later (held, or waiting its turn) would
    // take those of a request read after it.
    restoreRawTarget(req);
    restoreSentVersion(req);
    restoreSentMethod(req);
    restoreIgnoredUpgrade(req);
    const before = this.lastNodeResponse.get(req.socket);
    if (before !== undefined && this.closedByStop.has(before) && !before.headersSent) {
      // Read behind the answer the stop told to close: that one keeps the connection for this
      // one, which closes it instead (onRequest), as the lane's last answer does (closesAfter).
      this.closedByStop.delete(before);
      before.shouldKeepAlive = true;
    }
    this.lastNodeResponse.set(req.socket, res);
    closeWhenAsked(req, res);
    keepAliveOnceBodyRead(req, res);
    keepAliveWithoutBody(req, res);
    holdEndForBody(req, res, this.nodeBodyHold);
    this.headTimeoutPutOff.delete(req.socket);
    res.once('finish', () => this.answeredAt.set(req.socket, performance.now()));
    closeQueuedWithConnection(res, req.socket);
    const dispatch = (): void =>
      this.whenOpen(() => {
        // After an answer that closes the connection (a refusal: 400, 413, 501, 505; any during
        // a stop), no later request on it is processed (RFC 9112 §9.6): node:http parses all it
        // has read, a request pipelined behind a refused one too, and that one must not reach an
        // app. Nor is it logged, as nginx never reads it; its response closes with the connection.
        if (before === undefined || before.shouldKeepAlive) this.onRequest(req, res);
        // Nor is any pipelined behind that one: each looks only at the one before it.
        else res.shouldKeepAlive = false;
      });
    // No socket yet: answers before it are not all written (node:http gives it the socket then,
    // and never if one of them closes the connection). It waits for them unrun, as on the lean
    // lane (lean-connection.ts awaitTurn), a safe request too: an answer closes when the app says so.
    if (res.socket !== null) return dispatch();
    this.awaitingTurn.add(res);
    res.once('socket', () => {
      // Unless the front answered it meanwhile (its body broke: 'clientError').
      if (this.awaitingTurn.delete(res)) dispatch();
    });
  }

  /**
   * The request line of a head node:http timed out, or the client's FIN cut, which its error
   * does not carry: the head the lean lane handed over, when node:http read no request of the
   * connection before it; else the head node:http has begun, as far as it came (as sent, where
   * its parser read it rewritten), as the lane logs one it times out or a FIN cuts; else `-`,
   * what nginx logs when it has none. A connection that sent nothing (node:http times those out
   * too) made no request, and gets no line, as in nginx's log.
   */
  private unparsedLine(socket: Socket): string | null {
    if (socket.bytesRead === 0) return null;
    const handed = this.lastNodeResponse.has(socket) ? undefined : this.handedLines.get(socket);
    const begun = handed === undefined ? (sentHeadOf(socket) ?? unfinishedHeadOf(socket, this.lastNodeResponse.get(socket)?.req)) : null;
    return handed ?? (begun === null ? null : rejectedRequestLine({ rawPacket: begun })) ?? '-';
  }

  /**
   * How long the head node:http refuses has taken so far, for its access-log line: from where
   * the lean lane's clock started for a head it handed over unfinished, else from the head's
   * first byte (or the connection's start) as node:http's parser counts it.
   */
  private headWaitSeconds(socket: Socket): number {
    const since = this.lastNodeResponse.has(socket) ? undefined : this.handedHeadSince.get(socket);
    if (since !== undefined) return (performance.now() - since) / 1000;
    const parser = (socket as Socket & { parser?: { duration?: () => number } | null }).parser;
    return typeof parser?.duration === 'function' ? parser.duration() / 1000 : 0;
  }

  /**
   * Times a head the lean lane handed over unfinished from where the lane's clock started, so
   * that a slow client gets --header-timeout once, not once per reader: past it, the head is
   * refused 408 as node:http refuses its own ('clientError'), unless node:http has read it.
   */
  private startHandedHeadClock(server: http.Server, socket: Socket, since: number): void {
    this.handedHeadSince.set(socket, since);
    const left = (this.opts.headersTimeoutMs ?? 20_000) - (performance.now() - since);
    const timer = setTimeout(() => {
      this.handedHeadClocks.delete(socket);
      const parser = (socket as Socket & { parser?: { headersCompleted?: () => boolean } | null }).parser;
      if (socket.destroyed || this.lastNodeResponse.has(socket) || parser?.headersCompleted?.() === true) return;
      server.emit('clientError', Object.assign(new Error('the request head took longer than --header-timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), socket);
    }, Math.max(0, left));
    timer.unref();
    this.handedHeadClocks.set(socket, timer);
    socket.once('close', () => this.stopHandedHeadClock(socket));
  }

  /**
   * nginx starts client_header_timeout for a request pipelined behind another when it turns to
   * it, at the end of that one's answer, as the lean lane does; node:http's clock runs from the
   * head's first byte, answers owed or not, and a slow answer used up a head's time. Its 408 for
   * a head behind an answer is put off (true) until --header-timeout after that answer's end,
   * and given then if the head has not come whole meanwhile.
   */
  private putOffHeadTimeout(server: http.Server, socket: Socket): boolean {
    const last = this.lastNodeResponse.get(socket);
    if (last === undefined || this.headTimedOut.has(socket)) return false;
    // node:http says it once per head; this keeps a second saying from arming a second 408.
    if (this.headTimeoutPutOff.has(socket)) return true;
    const timeoutMs = this.opts.headersTimeoutMs ?? 20_000;
    if (last.writableFinished && performance.now() - (this.answeredAt.get(socket) ?? 0) >= timeoutMs) return false;
    this.headTimeoutPutOff.add(socket);
    const arm = (): void => {
      const timer = setTimeout(() => {
        const parser = (socket as Socket & { parser?: { headersCompleted?: () => boolean } | null }).parser;
        if (socket.destroyed || !this.headTimeoutPutOff.has(socket) || parser?.headersCompleted?.() === true) return;
        server.emit('clientError', Object.assign(new Error('the request head took longer than --header-timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT', [kFromAnswer]: true }), socket);
      }, Math.max(0, (this.answeredAt.get(socket) ?? performance.now()) + timeoutMs - performance.now()));
      timer.unref();
      socket.once('close', () => clearTimeout(timer));
    };
    if (last.writableFinished) arm();
    else last.once('finish', arm);
    return true;
  }

  private stopHandedHeadClock(socket: Socket): void {
    const timer = this.handedHeadClocks.get(socket);
    if (timer === undefined) return;
    clearTimeout(timer);
    this.handedHeadClocks.delete(socket);
  }

  /** The client as the app is told it (the environ's REMOTE_ADDR, the ASGI scope's client), for the access log. */
  private clientOf(req: IncomingMessage): string {
    const peer = req.socket.remoteAddress ?? '';
    if (this.trust === null || !this.trust.trusts(peer)) return peer;
    const sent = req.headers['x-forwarded-for'];
    return clientAddress(Array.isArray(sent) ? sent.join(', ') : (sent ?? ''), peer, this.trust);
  }

  /**
   * Every connection starts on the lean lane (lean-lane.ts), which takes the plain requests
   * that go to an app's workers and hands the connection to node:http at the first that does
   * not. node:http's own connection listener is the hand-off: the lane calls it with the socket.
   */
  private takeConnections(server: http.Server): void {
    const nodeListeners = server.listeners('connection') as Array<(socket: Socket) => void>;
    // What the gateway keeps of each request node:http reads on a connection.
    const watchNodeReads = (socket: Socket): void => {
      readVersionsAsRfc(socket);
      watchRequestStarts(socket);
      socket.once('end', () => probeAfterEnd(socket, () => nodeInterim(socket)));
    };
    const giveToNode = (socket: Socket): void => {
      nodeListeners.forEach((listener) => listener.call(server, socket));
      watchNodeReads(socket);
    };
    this.nodeConnectionOf.set(server, giveToNode);
    const track = (socket: Socket): void => {
      // The peer's address, asked of the kernel now and kept by Node: every request's route
      // needs it anyway, and a client that sends garbage and resets leaves, by the time its
      // 400 is logged, no connection to ask (its access-log line said `-`).
      void socket.remoteAddress;
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
      // An answer that closes the connection, on either reader, lets the client read it (lingering-close.ts).
      destroySoonLingering(socket);
    };
    if (this.opts.leanLane === false || nodeListeners.length !== 1) {
      server.on('connection', (socket: Socket) => {
        track(socket);
        watchNodeReads(socket);
      });
      return;
    }
    server.removeAllListeners('connection');
    const lane = new LeanLane({
      maxHeaderSize: this.opts.maxHeaderSize ?? MAX_HEADER_SIZE,
      headersTimeoutMs: this.opts.headersTimeoutMs ?? 20_000,
      keepAliveTimeoutMs: this.opts.keepAliveTimeoutMs ?? 5_000,
      take: (req, res) => this.takePlain(req, res),
      bodyStallMs: (res) => this.bodyStallMs(res),
      toNode: (socket, sent, headSince) => {
        const line = rejectedRequestLine({ rawPacket: sent });
        if (line !== null) this.handedLines.set(socket, line);
        if (headSince !== null) this.startHandedHeadClock(server, socket, headSince);
        giveToNode(socket);
      },
      headTimedOut: (socket, begun, since) =>
        this.accessLog.recordRejected(socket.remoteAddress ?? '', rejectedRequestLine({ rawPacket: begun }) ?? '-', 408, 0, (performance.now() - since) / 1000),
    });
    this.lanes.push(lane);
    server.on('connection', (socket: Socket) => {
      track(socket);
      lane.accept(socket);
    });
  }

  /** How long the body of `res`'s request may stop arriving while its answer waits for it: the `timeout` of the app that answered. */
  private bodyStallMs(res: ServerResponse): number | undefined {
    const app = (res as TrackedResponse)[kTracked]?.app;
    const timeoutMs = app ? this.dispatchers.get(app)?.timeoutMs : undefined;
    return timeoutMs !== undefined && timeoutMs > 0 ? timeoutMs : undefined;
  }

  /**
   * A plain request from the lean lane: taken (true) when it goes to an app's workers or is
   * one of its static files, or is answered by the gateway itself (no app there: 404; an app
   * that does not serve: 503), now or after a wait (the gateway not open yet, its app starting)
   * that can end at nothing else; on a connection that goes on, or that closes after it because
   * the gateway stops (as onRequest says for node:http's). Any other answer (a process's route, a
   * refusal that closes the connection) is node:http's to give, with the same code as always
   * (false). Before the first publish no route is known: the lane asks again then (LATER).
   */
  private takePlain(req: IncomingMessage, res: ServerResponse): boolean | typeof LATER {
    if (this.held !== null && !this.published) return LATER;
    // Its client left while the lane put it off: logged as onRequest logs node:http's held ones.
    if (req.socket.destroyed) {
      this.accessLog.record(req, this.clientOf(req), 499, '', performance.now(), 0);
      return true;
    }
    if (this.stopping) return this.takeStopping(req, res);
    const routed = this.route(req);
    if (this.held !== null || ('status' in routed && routed.starting !== undefined)) {
      // A lean response can be answered later, as a worker's always is; but the lane reads the
      // connection on past a request it took, so one that may end at node:http stays there.
      if (!this.waitEndsLean(routed)) return false;
      const tracked = this.track(req, res, '');
      // As nodeRequest's: a client that left while it was held is not routed (its line is logged).
      this.whenOpen(() => {
        if (!res.destroyed) this.routeRequest(req, res, tracked, true);
      });
      return true;
    }
    if ('status' in routed) {
      // A refusal that closes must keep the requests pipelined behind it from reaching an app,
      // which node:http sees to (nodeRequest).
      if (routed.close) return false;
      // Behind nginx's upstream keepalive, one request for a path no app serves would otherwise
      // move a pooled connection to node:http, and its higher cost, for good.
      this.track(req, res, routed.refused ?? '');
      afterBodyInHand(req, res, () => this.answerUnrouted(res, routed));
      return true;
    }
    const { match, url, q } = routed;
    const app = match.target;
    const hit = staticHit(match);
    if (hit !== null) {
      this.track(req, res, app.name);
      afterBodyInHand(req, res, () => void serveStatic(req, res, hit.mount, hit.rest));
      return true;
    }
    if (!app.servesWithWorkers(match.routedPathInfo)) return false;
    this.track(req, res, app.name);
    app.handle(req, res, this.routeOf(req, match, url, q));
    return true;
  }

  /**
   * A plain request that came while the gateway stops (on a connection open before): answered
   * as node:http's are (onRequest, routeRequest), and the connection closes after it, so the
   * lane need not hand it over. Nothing waits now: an app starting answers its 503 at once.
   */
  private takeStopping(req: IncomingMessage, res: ServerResponse): boolean {
    const routed = this.route(req);
    if ('status' in routed ? routed.close : !this.waitEndsLean(routed)) return false;
    res.shouldKeepAlive = false;
    // onRequest's asterisk-form answer is node:http's: OPTIONS * is not plain (plain-head.ts).
    this.routeRequest(req, res, this.track(req, res, ''), true);
    return true;
  }

  /**
   * Whether a request that waits (held before open(), or for its app's start) is answered by
   * what the lane can give, as far as the routes published now tell: never a process's route
   * (a starting app's from its descriptions), nor a refusal that closes (the head's alone).
   */
  private waitEndsLean(routed: Routed | Unrouted): boolean {
    if ('status' in routed) return !routed.close && routed.starting?.toProcess !== true;
    return staticHit(routed.match) !== null || routed.match.target.servesWithWorkers(routed.match.routedPathInfo);
  }

  /** Counts a request in flight until its response closes, then logs it. */
  private track(req: IncomingMessage, res: ServerResponse, app: string): InFlightRequest {
    const tracked = this.inFlight.add(req, app);
    (res as TrackedResponse)[kTracked] = tracked;
    res.on('close', this.onTrackedClose);
    return tracked;
  }

  /**
   * Every tracked response's 'close' listener, one for all (its request hangs on the response):
   * a closure and a once() wrapper per request were ~0.2 KB of garbage each (docs/performance.md, 2026-12-03).
   */
  private readonly onTrackedClose = trackedCloseListener(this);

  /** A tracked response closed: its request is logged and no longer in flight. */
  trackedClosed(res: TrackedResponse): void {
    const tracked = res[kTracked];
    if (tracked === undefined) return; // as once(): one line however often 'close' comes
    res[kTracked] = undefined;
    const { req, startedAt } = tracked;
    const status = res.writableFinished ? res.statusCode : this.unfinishedStatus(res, req.socket);
    this.accessLog.record(req, this.clientOf(req), status, tracked.app, startedAt, bodyBytesOf(res, req.method));
    if (tracked.app) {
      const seconds = (performance.now() - startedAt) / 1000;
      const servedBy = servedByOf(res);
      this.opts.onResponse?.(tracked.app, status, seconds, servedBy === REFUSED_FOR_ROOM);
      servedBy?.observe(status, seconds);
    }
    this.inFlight.delete(tracked);
    // Only when someone waits: splice(0) makes an array each time, and at load in flight often falls to 0.
    if (this.inFlight.size === 0 && this.idleWaiters.length > 0) this.idleWaiters.splice(0).forEach((w) => w());
  }

  /**
   * The status logged for a response that did not finish, as nginx logs it: 499 only when the
   * client closed first. Cut by the stop past --grace, 444 whether or not its head went out, as
   * a stream cut at a drain's end (gateway-cut.ts CUT_AT_DEADLINE): a stream cut there must not
   * be taken for a whole response. Cut because its upstream went away after the head, it is the
   * status that went out, beside the bytes that did (the gateway's own, when it answered in the
   * response's place); with no head out yet, 444, nginx's "closed the connection without a
   * response".
   */
  private unfinishedStatus(res: ServerResponse, socket: Socket | null): number {
    const cutByStop = socket !== null && this.cutSockets.has(socket);
    if (!wasCut(res) && !cutByStop) return 499;
    return answeredInstead(res) ?? (res.headersSent && !cutByStop ? res.statusCode : CLOSED_WITHOUT_RESPONSE);
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    if (res.destroyed) {
      // Its client left while it was held (before open()): its 'close' has passed unheard, and
      // counted now it would be in flight for good. Logged as the client's leaving, not routed.
      this.accessLog.record(req, this.clientOf(req), 499, '', performance.now(), 0);
      return;
    }
    countBodyBytes(res); // a lean response counts its own
    const tracked = this.track(req, res, '');
    if (this.stopping) res.shouldKeepAlive = false;
    if (req.url === '*' && req.method === 'OPTIONS') {
      const refused = this.headRefusal(req);
      if (refused !== null) return this.answerUnrouted(res, refused);
      // The asterisk-form asks about the server, not a resource (RFC 9112 §3.2.4, RFC 9110
      // §9.3.7): the gateway answers for itself; no app owns "*".
      afterBodyInHand(req, res, () => {
        res.writeHead(200, { Allow: 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS', 'Content-Length': '0' });
        res.end();
      });
      return;
    }
    this.routeRequest(req, res, tracked);
  }

  /**
   * `lean`: a request the lean lane took that waited (takePlain), which only an app's workers,
   * a static file or the gateway's own answer may end.
   */
  private routeRequest(req: IncomingMessage, res: ServerResponse, tracked: InFlightRequest, lean = false): void {
    const routed = this.route(req);
    // The gateway's own answer (a 404, a static file) to an `Expect: 100-continue` whose body
    // came with its head waits for llhttp to read that body, after this event in the same
    // read: answered before, node:http could not tell it was whole and closed the connection,
    // the request pipelined behind unanswered (an app's answer came later and kept it: R6.20b).
    // Not one that closes the connection, which reads nothing after its head (RFC 9112 §9.6):
    // waiting, it gave way to an error in that body, later in the bytes, when the body came in
    // the head's read, and to none when it came after (lean-differential seed 37 case 124).
    // So too any own answer to a request with a body (afterBodyInHand).
    const own = (answer: () => void, closes = false): void => {
      if (closes) return answer();
      if (continueWanted(req, res)) setImmediate(() => res.destroyed || answer());
      else afterBodyInHand(req, res, answer);
    };
    if ('status' in routed) {
      const answer = (): void => own(() => this.answerUnrouted(res, routed), routed.close);
      if (routed.refused !== undefined) tracked.app = routed.refused;
      if (routed.starting === undefined || this.stopping) return answer();
      tracked.app = routed.starting.app;
      this.startWaits.wait(routed.starting.app, routed.starting.waitMs, () => res.destroyed, () => this.routeRequest(req, res, tracked, lean), answer);
      return;
    }
    const { match, url, q } = routed;
    const app = match.target;
    tracked.app = app.name;
    const hit = staticHit(match);
    if (hit !== null) {
      own(() => void serveStatic(req, res, hit.mount, hit.rest));
      return;
    }
    if (lean && !app.servesWithWorkers(match.routedPathInfo)) {
      // A version that came while it waited routes the path to a process, which only node:http
      // can proxy, and the lane read the connection past it: the 503 of an app still starting,
      // to try again, is the answer nearest to what it waited for.
      sendError(res, 503, { detail: `${app.name} is starting; try again in a moment`, headers: { 'Retry-After': '2' } });
      return;
    }
    if (!lean && req.headers['transfer-encoding'] !== undefined) {
      // llhttp judges a Transfer-Encoding after node:http has emitted its request: `chunked`
      // then an HTAB is no chunked to it, a 400 (clientError) in the same parse, while the
      // value node:http gives (and requestHeadProblem reads) is trimmed to `chunked`. The app
      // gets the request once that parse is over, and only if it was not refused meanwhile.
      process.nextTick(() => {
        if (!wasCut(res) && !res.writableEnded && !res.destroyed) app.handle(req, res, this.routeOf(req, match, url, q));
      });
      return;
    }
    app.handle(req, res, this.routeOf(req, match, url, q));
  }

  /** The path `route` would be routed at with its slashes merged, when an app is there; else null. */
  private mountedWhenMerged(req: IncomingMessage, route: string, path: string): string | null {
    const merged = mergedSlashes(route);
    if (merged === null) return null;
    return this.router.match(req.headers.host, merged, mergedSlashes(path) ?? path)?.target === undefined ? null : merged;
  }

  /** The gateway's own answer to a request that goes to no app. */
  private answerUnrouted(res: ServerResponse, routed: Unrouted): void {
    const headers: Record<string, string> | undefined = routed.close ? { Connection: 'close' } : routed.retryAfter ? { 'Retry-After': '2' } : undefined;
    sendError(res, routed.status, { detail: routed.detail, headers });
  }

  /**
   * Where a request (or an upgrade) goes, or why it goes nowhere: a head to refuse (400, and
   * the connection closed), a target that is not a path (400, closed too), an expectation it cannot meet
   * (417; `upgrade`: none, as node:http leaves an upgrade's), no app mounted there (404).
   */
  private route(req: IncomingMessage, upgrade = false): Routed | Unrouted {
    const refused = this.headRefusal(req, upgrade);
    // An expectation the gateway cannot meet is judged after the route: see below.
    if (refused !== null && refused.status !== 417) return refused;
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const routed = routedRequestPath(q >= 0 ? url.slice(0, q) : url);
    if (routed === null && refused !== null) return refused;
    // Closed, as every refusal of a request's head, and as nginx closes after its 400: what
    // the client pipelined behind a target it meant to climb out with is not read either.
    if (routed === null) return { status: 400, detail: NOT_A_PATH, close: true };
    const { path } = routed;
    const named = this.appRoute.take(req);
    const match = named === null ? this.router.match(req.headers.host, routed.route, path) : this.namedMatch(named, routed.route, path);
    const target = match?.target;
    if (refused !== null) {
      // RFC 9110 §10.1.1: "A server that receives an Expect field value containing a member
      // other than 100-continue MAY respond with a 417 (Expectation Failed) status code". MAY:
      // a Content-Length past the app's max_body can never be served whatever the expectation,
      // and its 413 (the dispatcher's, at once, the connection closed after it) spares reading
      // a body only to drop it, where the 417 kept the connection and read it first (nginx 413s).
      if (target instanceof AppDispatcher && target.refusesLength(req, match!.routedPathInfo)) return { match: match as RouteMatch<AppDispatcher>, url, q };
      return refused;
    }
    if (!(target instanceof AppDispatcher)) {
      if (this.unroutedBecause !== null) return { status: 503, detail: this.unroutedBecause.why, close: false, retryAfter: true, refused: this.unroutedBecause.app ?? undefined };
      if (target === undefined) return { status: 404, detail: notMounted(routed.route, this.mountedWhenMerged(req, routed.route, path)), close: false };
      // As nginx's 503 for an upstream that is down: the app is there, and does not serve.
      if (target.code === STARTING_CODE) {
        const starting = { app: target.name, waitMs: target.startWaitMs ?? START_WAIT_MS, toProcess: takenByProcess(target.processRoutes, match!.routedPathInfo) };
        return { status: 503, detail: `${target.name} is starting; try again in a moment`, close: false, retryAfter: true, starting };
      }
      return { status: 503, detail: notServingDetail(target.name, target.code, this.opts.statusCall), close: false, retryAfter: true, refused: target.name };
    }
    return { match: match as RouteMatch<AppDispatcher>, url, q };
  }

  /**
   * Why a request's head is answered whatever its target: a version, a field, a framing or an
   * expectation the gateway refuses; null when none. Asked of `OPTIONS *` too, which no route
   * takes (its 200 once went out for a head refused anywhere else: no Host in HTTP/1.1, two
   * Hosts, Transfer-Encoding in HTTP/1.0, and the requests pipelined behind it were served).
   */
  private headRefusal(req: IncomingMessage, upgrade = false): Unrouted | null {
    // A head node:http read past the bound on its bytes, which node:http's own does not see (headPastBound).
    const pastBound = req instanceof http.IncomingMessage ? headPastBound(req, this.opts.maxHeaderSize ?? MAX_HEADER_SIZE) : null;
    if (pastBound !== null) return { status: pastBound, detail: headTooLong(pastBound, this.opts.maxHeaderSize ?? MAX_HEADER_SIZE), close: true };
    // llhttp parses `HTTP/2.0` in a request line (an HTTP/2 client sends its preface, never
    // this): a major version the gateway does not speak is 505 (RFC 9110 §15.6.6).
    if (req.httpVersionMajor >= 2) return { status: 505, detail: notSpokenHere(req.httpVersion), close: true };
    // The fragment first: an absolute-form target's too (`GET http://host/p#frag`).
    dropFragment(req);
    const problem = requestHeadProblem(req) ?? (upgrade ? handshakeFramingProblem(req) : null) ?? toOriginForm(req);
    if (problem !== null) return { status: 400, detail: problem, close: true };
    const coding = unknownTransferCoding(req);
    if (coding !== null) return { status: 501, detail: coding, close: true };
    // node:http emits 'upgrade' before it looks at Expect: an upgrade's is left as it was.
    const expectation = upgrade ? null : unmetExpectation(req);
    if (expectation !== null) return { status: 417, detail: cannotMeet(expectation), close: false };
    return null;
  }

  /**
   * A request the gateway sent itself to the app it names (appRouteHeader), split at the app's
   * mount as a request under it is (one outside it, at prefix '').
   */
  private namedMatch(app: string, routed: string, path: string): RouteMatch<AppDispatcher | RefusedRoutes> | null {
    const target = this.dispatchers.get(app) ?? this.refusedByName.get(app);
    if (target === undefined) return null;
    return this.mountRouters.get(app)?.match(undefined, routed, path) ?? atRoot<AppDispatcher | RefusedRoutes>(target, routed, path);
  }

  /** What the app is told about a request: the router's split and what the socket saw. */
  private routeOf(req: IncomingMessage, match: RouteMatch<AppDispatcher>, url: string, q: number): RequestRoute {
    const socket = req.socket;
    const scheme = 'encrypted' in socket ? 'https' : 'http';
    // A TCP connection has the address the client reached; a unix one only its Host. Read
    // field by field into the route, not spread from an object made for it: one object less
    // per request, and a literal V8 builds without a runtime call (docs/performance.md, 2026-12-06).
    const localAddress = socket.localAddress;
    const server = localAddress === undefined ? addressedServer(req.headers.host, scheme) : null;
    return {
      scriptName: match.scriptName,
      pathInfo: match.pathInfo,
      routedPathInfo: match.routedPathInfo,
      queryString: q >= 0 ? url.slice(q + 1) : '',
      remoteAddr: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      scheme,
      serverName: server === null ? localAddress! : server.serverName,
      serverPort: server === null ? (socket.localPort ?? 0) : server.serverPort,
      listenerPath: server === null ? null : listenerPathOf(socket),
      trustProxy: this.trust,
    };
  }

  /**
   * Runs `then` once the answers owed on `socket` have gone out and been logged. node:http gives
   * up a socket to an upgrade or a CONNECT as soon as it reads its head, even behind pipelined
   * requests still being answered: a 101 or a refusal written then went first and closed or
   * took over the connection, and those answers were lost though their apps had run them (RFC
   * 9112 §9.3.2: answers in the order of the requests). Behind an answer that closes the
   * connection nothing is read (RFC 9112 §9.6), so `then` never runs.
   */
  private afterAnswersOwed(socket: Socket, then: () => void): void {
    const last = this.lastNodeResponse.get(socket);
    // Closed: written, and its line logged (or its client gone).
    if (last === undefined || last.destroyed) return then();
    // On 'close', which node:http emits after its own 'finish' listener (that one ends the
    // socket after a closing answer) and the access log writes the answer's line on: the
    // keep-alive timer that listener armed is disarmed, its own listener gone with the socket.
    // On the next tick: after that answer's own access-log line, whose listener came later when
    // its request waited its turn behind answers owed (nodeRequest), so the lines stay in order.
    last.once('close', () =>
      process.nextTick(() => {
        if (!socket.writable) return;
        socket.setTimeout(0);
        then();
      }),
    );
  }

  /**
   * An Upgrade request (a websocket) is routed like any request (SPEC §4), by Host and mount;
   * the app hands it to the process whose route it falls under, or to its workers (ASGI), or
   * answers 501 (WSGI).
   */
  private onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    socket.on('error', () => {}); // a client's reset must not take the gateway down
    if (!asksForWebsocket(req) && req.method !== 'CONNECT') {
      const reread = this.nodeConnectionOf.get((socket as Socket & { server?: Server }).server!);
      if (reread !== undefined) {
        // h2c (curl --http2), or an Upgrade in HTTP/1.0: served as the request it also is.
        socket.unshift(Buffer.concat([headWithoutUpgrade(req, req.url ?? '/'), head]));
        rememberIgnoredUpgrade(socket, req);
        reread(socket);
        return;
      }
    }
    restoreRawTarget(req); // before the log line and the route
    restoreSentVersion(req);
    restoreSentMethod(req);
    this.logUpgrade(req, socket);
    if (this.stopping) {
      refuseUpgradeFor(socket, 'unavailable', 'the gateway is stopping');
      return;
    }
    this.routeUpgrade(req, socket, head);
  }

  private routeUpgrade(req: IncomingMessage, socket: Socket, head: Buffer): void {
    const routed = this.route(req, true);
    if ('status' in routed) {
      // As a request's 503 says it (a refused or starting app): a client's reconnect loop may read it.
      const headers: Record<string, string> = routed.retryAfter ? { 'Retry-After': '2' } : {};
      if (routed.starting === undefined || this.stopping) return refuseUpgrade(socket, routed.status, routed.detail, headers);
      this.startWaits.wait(routed.starting.app, routed.starting.waitMs, () => socket.destroyed, () => this.routeUpgrade(req, socket, head), () => refuseUpgrade(socket, routed.status, routed.detail, headers));
      return;
    }
    const { match, url, q } = routed;
    (socket as UpgradeSocket)[kApp] = match.target.name;
    // handshakeFramingProblem let through no other coding than chunked, and no Content-Length past 0.
    if (req.headers['transfer-encoding'] === undefined) {
      match.target.upgrade(req, socket, head, this.routeOf(req, match, url, q));
      return;
    }
    // Routed first, so that a head refused for itself (404, 400) is answered without waiting.
    void readEmptyChunkedBody(socket, head, this.opts.headersTimeoutMs ?? 20_000).then((body) => {
      if (socket.destroyed) return;
      if ('problem' in body) return refuseUpgrade(socket, body.status, body.problem);
      // The stop began while the body came: as onUpgrade answers one that comes then.
      if (this.stopping) return refuseUpgradeFor(socket, 'unavailable', 'the gateway is stopping');
      match.target.upgrade(req, socket, body.rest, this.routeOf(req, match, url, q));
    });
  }

  /**
   * One access-log line per upgrade too (SPEC §4), when its connection closes. Whoever
   * answers (the gateway's refusal, the process's 101 or its refusal through http-proxy)
   * writes the status line to the raw socket first: it is read from that first write.
   */
  private logUpgrade(req: IncomingMessage, socket: Socket): void {
    const startedAt = performance.now();
    const bytesBefore = socket.bytesWritten;
    let status = 0;
    // The size column is the body's bytes, as for every other line (nginx's $body_bytes_sent
    // leaves an upgrade's head out too): a refusal's short body, or what went through the
    // tunnel after the 101. The head is counted as it is written, until its blank line.
    let headBytes = 0;
    let headDone = false;
    let headTail = '';
    const sniff = (chunk: unknown): void => {
      const text = typeof chunk === 'string' ? chunk : Buffer.isBuffer(chunk) ? chunk.toString('latin1') : '';
      if (status === 0) {
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(text.slice(0, 12));
        status = m ? Number(m[1]) : -1;
        if (status === -1) headDone = true; // no head to leave out: all of it is counted
      }
      if (headDone) return;
      // The blank line may straddle two writes: the last three bytes of the one before go first.
      const end = (headTail + text).indexOf('\r\n\r\n');
      if (end === -1) {
        headBytes += text.length; // latin-1: a char per byte
        headTail = (headTail + text).slice(-3);
        return;
      }
      headBytes += end + 4 - headTail.length;
      headDone = true;
    };
    // end(data) does not go through write(): both are watched, until the head has gone.
    const { write, end } = socket;
    socket.write = function (this: Socket, chunk: unknown, ...rest: unknown[]) {
      sniff(chunk);
      if (headDone) socket.write = write;
      return (write as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
    } as typeof socket.write;
    socket.end = function (this: Socket, ...args: unknown[]) {
      if (args.length > 0 && typeof args[0] !== 'function') sniff(args[0]);
      socket.end = end;
      return (end as (...a: unknown[]) => Socket).apply(this, args);
    } as typeof socket.end;
    socket.once('close', () => {
      // No status line at all: the client left before any answer (nginx's 499), or the stop
      // cut it past --grace.
      const unanswered = this.cutSockets.has(socket) ? CLOSED_WITHOUT_RESPONSE : 499;
      const bodyBytes = Math.max(0, socket.bytesWritten - bytesBefore - headBytes);
      this.accessLog.record(req, this.clientOf(req), status > 0 ? status : unanswered, (socket as UpgradeSocket)[kApp] ?? '', startedAt, bodyBytes);
    });
  }

  /**
   * Stops accepting, closes every websocket (1001, to the app and the client), waits up to
   * `graceMs` for requests in flight, then closes what is left. The apps are their owner's to
   * stop (the registry), after this resolves.
   */
  async stop(graceMs: number): Promise<void> {
    this.stopping = true;
    this.open(); // what was held is answered (or refused) as stopping, not left hanging
    this.closeAfterLastNodeAnswers();
    // The connection closes after each anyway: nothing is gained by waiting for a body.
    for (const release of [...this.nodeBodyHold.held]) release();
    for (const server of this.servers) server.close();
    for (const server of this.servers) server.closeIdleConnections();
    for (const lane of this.lanes) {
      lane.close();
      // Put off before a first publish that will not come: answered as stopping (takePlain).
      lane.askAgain();
    }
    // Once the lanes close: a lean answer says Connection: close from then on (closesAfter),
    // and given before, the 503s of what waited for a starting app said keep-alive.
    this.startWaits.giveUpAll();
    for (const dispatcher of this.dispatchers.values()) dispatcher.gatewayStops('the gateway is stopping');
    // A websocket has no end of its own to wait for: each client gets a close frame now, and
    // a moment to answer it, rather than a reset when its connection is destroyed below.
    this.websockets.closeAll(WsCloseCode.GOING_AWAY, 'the gateway is stopping');
    const websocketsClosed = this.websockets.whenClosed(Math.min(graceMs, WEBSOCKET_CLOSE_WAIT_MS));
    const began = performance.now();
    await this.firstRequests(Math.min(graceMs, FIRST_REQUEST_WAIT_MS));
    await this.finishInFlight(Math.max(0, graceMs - (performance.now() - began)), graceMs);
    await websocketsClosed;
    // Every connection, lingering ones too (lingering-close.ts: a refusal's, its client still
    // sending or silent): the linger's own bounds are up to 30 s, which the stop must not wait
    // for, and an embedder's process goes on after stop(), so nothing else would close them.
    for (const socket of this.sockets) {
      this.cutSockets.add(socket);
      socket.destroy();
    }
    for (const path of this.boundSocketPaths) rmSync(path, { force: true });
    this.accessLog.flush();
  }

  /**
   * node:http decides keep-alive as a response begins, and its server's close() changes nothing
   * there: the last answer still to begin on a connection (a request in flight, or waiting for
   * its app's start or wake) said keep-alive, then the connection closed. It says close, as an
   * answer to a request read during the stop does (onRequest), unless a request is read behind
   * it before its head goes out (nodeRequest); the answers before it keep theirs, so that the
   * requests pipelined behind them are answered too.
   */
  private closeAfterLastNodeAnswers(): void {
    for (const socket of this.sockets) {
      const last = this.lastNodeResponse.get(socket);
      if (last === undefined || last.headersSent || !last.shouldKeepAlive) continue;
      last.shouldKeepAlive = false;
      this.closedByStop.add(last);
    }
  }

  /**
   * node:http's closeIdleConnections, but for a connection with an answer still to write: Node
   * looks only at the answer the socket writes now, and destroys it once that one has ended
   * (not even sent yet) while the answer to a request pipelined behind waits its turn, so that
   * request, read and routed, was cut (logged 499). Such a connection closes itself after its
   * last answer, which says Connection: close during a stop.
   */
  private closeIdleNodeConnections(server: http.Server): void {
    // lib/_http_server.js's list of the server's connections; idle(): none with a head half read.
    const key = Object.getOwnPropertySymbols(server).find((k) => k.description === 'http.server.connections');
    const connections = key === undefined ? undefined : (server as unknown as Record<symbol, { idle?: () => Array<{ socket: Socket }> } | undefined>)[key];
    if (typeof connections?.idle !== 'function') return http.Server.prototype.closeIdleConnections.call(server);
    for (const { socket } of connections.idle()) {
      const last = this.lastNodeResponse.get(socket);
      // Nothing read yet: its request may be on its way, and it is given a moment (firstRequests).
      if (last === undefined && socket.bytesRead === 0) continue;
      if (last === undefined || last.writableFinished) socket.destroy();
    }
  }

  /**
   * Waits up to `ms` while a connection accepted before the stop has read nothing (the readers
   * leave those open: LeanConnection.closeWhenIdle, closeIdleNodeConnections): its request,
   * when it comes, is answered as any during the stop, saying Connection: close. One the kernel
   * completed and nobody accepted is reset by the kernel as the listener closes: not ours.
   */
  private async firstRequests(ms: number): Promise<void> {
    const until = performance.now() + ms;
    const silent = (): boolean => [...this.sockets].some((socket) => socket.bytesRead === 0 && !socket.destroyed);
    while (silent() && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 10));
  }

  /**
   * Waits up to `graceMs` for the requests in flight to finish, saying every few seconds which
   * it waits for, and which are left when the grace is over (their connections are cut next).
   * `wholeMs`: --grace as given, which the log names (not what the first requests left of it).
   */
  private async finishInFlight(graceMs: number, wholeMs: number): Promise<void> {
    const say = this.opts.say;
    const report = setInterval(() => {
      if (this.inFlight.size > 0) say?.(`stopping: waiting for ${this.inFlight.describe()}`);
    }, STOP_REPORT_MS).unref();
    const deadline = performance.now() + graceMs;
    try {
      while (this.inFlight.size > 0 && performance.now() < deadline) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, deadline - performance.now());
          this.idleWaiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
        // The last answer on a lean connection may have handed a request waiting behind it to
        // node:http (lean-lane.ts): it is counted once node:http has read it, a turn later.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    } finally {
      clearInterval(report);
    }
    if (this.inFlight.size > 0) say?.(`stopping: the grace (${spanOf(wholeMs)}) is over; cutting ${this.inFlight.describe()}`);
  }

  /** The access log file opened again under its name (after a rotation): false when it is not a file. */
  reopenAccessLog(onOpened?: (madeDir: string | null) => void): boolean {
    return this.accessLog.reopen(onOpened);
  }
}

/** The 'close' listener of `front`'s tracked responses: the emitter (`this`) is the response. */
function trackedCloseListener(front: Front): (this: TrackedResponse) => void {
  return function (this: TrackedResponse): void {
    front.trackedClosed(this);
  };
}

/**
 * A head node:http found too large is so by its request line (414): judged on the head as it
 * began (`headBegun`, its first read kept, when the overflow came in a later one), else on the
 * read the parser failed in, after the requests before it there when `last` was read whole.
 */
function headTooLongForItsLine(err: { rawPacket?: unknown; bytesParsed?: unknown }, headBegun: Buffer | null, last: ServerResponse | undefined): boolean {
  if (headBegun !== null) return requestLineTooLong({ rawPacket: headBegun });
  return requestLineTooLong(err, last?.req?.complete === true);
}
