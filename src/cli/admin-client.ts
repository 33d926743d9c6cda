// How every CLI command reaches a running gateway's admin listener (docs/admin.md): `--admin
// ADDR` and `--admin-token FILE` parsed once, requests over TCP or the unix socket, and every
// answer that is not the one asked for turned into one GatewayError code, so that `status`,
// `logs`, `restart`, `rollback` and `mail retry` fail alike. Streams (a followed log, /events)
// are read as they arrive until the user stops them, the reader of a pipe leaves, or the
// gateway goes.
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { statSync } from 'node:fs';
import { request, type ClientRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { addrUrl, commandLineAgain, formatAddr, intOption, parseUrlAddr, type ListenAddress, type Options, type ParsedCommand } from './args.js';
import { isLoopbackListen, readAdminToken } from '../admin/admin-access.js';
import { adminKeyFile, readAdminKey } from '../admin/admin-key-file.js';
import { adminAddressFile, readAdminAddress, type UnreadableAdminAddress } from '../admin/admin-address-file.js';
import { DEFAULT_ADMIN } from '../admin/default-admin.js';
import { noSuchAppError } from '../admin/no-such-app.js';
import type { GatewayStatus } from '../admin/status-types.js';
import { GATEWAY_STOPPED, STREAM_END_TRAILER, TOKEN_CHANGED } from '../admin/stream-end.js';
import { GatewayError, isGatewayError, unusableAddressFile, unusableAddressFileHint, type ErrorCode } from '../errors.js';
import { listenerFiles } from './listener-files.js';
import { topClosedDirectory, unitAdminSocket } from './unit-admin-socket.js';
import { findUser } from '../environment/run-as.js';
import { resolveStateRoot } from '../environment/state-root.js';
import { shellLine } from '../shell-words.js';
import { DEFAULT_ROOM_WAIT_S, watchAction } from './action-wait.js';

export const ADMIN_OPTIONS: Options = {
  admin: { type: 'string' },
  'admin-token': { type: 'string' },
  'state-dir': { type: 'string' },
};

export const ADMIN_OPTION_HELP: Array<[string, string]> = [
  ['--admin ADDR', `the gateway's admin listener: PORT, HOST:PORT, its http://HOST:PORT/ URL or unix:/path (default: the address the gateway running on the state root wrote to STATE/admin.address, else ${DEFAULT_ADMIN})`],
  ['--admin-token FILE', "the file holding the admin token, when the gateway was started with one; without it, root on the gateway's host sends the key the gateway keeps in STATE/admin.key"],
  ['--state-dir DIR', "without --admin: the state root whose admin.address names the gateway's admin listener (default as the gateway's: $APPPKG_STATE_DIR, else /var/lib/apppkg-gateway as root, $XDG_STATE_HOME/apppkg-gateway or ~/.local/state/apppkg-gateway as a user)"],
];

/** restart's and rollback's: the admin's, and how long to wait for room under --max-workers. */
export const ACTION_OPTIONS: Options = { ...ADMIN_OPTIONS, 'room-wait': { type: 'string' } };

export const ACTION_OPTION_HELP: Array<[string, string]> = [
  ...ADMIN_OPTION_HELP,
  ['--room-wait S', `how long to wait while the new version waits for room under the gateway's --max-workers (every running app holding requests, so none can be put to sleep for it): past it the command exits 1 saying so, and the gateway goes on with it once there is room; 0: as long as it takes (default ${DEFAULT_ROOM_WAIT_S}, as systemd waits for a start)`],
];

/** The refusals of POST /mail/retry and /mail/delete, passed on as the gateway said them. */
const MAIL_CODES: ReadonlySet<string> = new Set<ErrorCode>(['APPPKG_MAIL_NO_DEAD_LETTER', 'APPPKG_MAIL_CANNOT_RETRY', 'APPPKG_MAIL_CANNOT_DELETE', 'APPPKG_MAIL_OFF']);

/** A gateway answers reads in milliseconds; past this something is wrong, so say so. */
const READ_TIMEOUT_MS = 5000;
/**
 * A restart answers once the fresh workers passed their probe, and an app may install and
 * import for minutes (a cold Django, a commands.update migration): wait as long as a start.
 */
export const ACTION_TIMEOUT_MS = 10 * 60_000;

type Method = 'GET' | 'POST';

/** The waits send() gives up, as the error codes it destroys the request with. */
const CONNECT_TIMEOUT = 'APPPKG_CONNECT_TIMEOUT';
const ANSWER_TIMEOUT = 'APPPKG_ANSWER_TIMEOUT';

/**
 * The errors for a listener that took the connection and said nothing, in words: libuv's
 * answer to an accept past the open-files limit is to close the connection (its spare
 * descriptor let go for the accept), or, without that spare, to leave it in the queue.
 */
const SILENCES: Record<string, string> = {
  // node:http's "socket hang up": closed before the answer's head.
  ECONNRESET: 'it closed the connection before answering',
  // The request written after the close reached this end: what a loaded machine gives as often.
  EPIPE: 'it closed the connection before answering',
  [ANSWER_TIMEOUT]: `no answer within ${READ_TIMEOUT_MS / 1000} s`,
  [CONNECT_TIMEOUT]: `no connection within ${READ_TIMEOUT_MS / 1000} s (its queue of connections to accept is full)`,
};

/** An answer whose head has arrived; its body is read from `body`. */
interface Answer {
  statusCode: number;
  headers: IncomingMessage['headers'];
  body: IncomingMessage;
}

/** The whole body of an answer, as text, gunzipped when it came gzipped; rejects with the error that ended it early. */
async function bodyText(body: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  const whole = Buffer.concat(chunks);
  if (body.headers['content-encoding'] !== 'gzip') return whole.toString('utf8');
  // Loaded here, not at every command's start: most answers are small and come as they are.
  const { gunzip } = await import('node:zlib');
  return new Promise((resolve, reject) => gunzip(whole, (err, text) => (err === null ? resolve(text.toString('utf8')) : reject(err))));
}

function timeoutError(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(SILENCES[code]), { code });
}

interface Call {
  /** What the user asked, for messages: `GET /status`, `POST /apps/blog/restart`. */
  what: string;
  /** The app the route names: a 404 is then "no such app", a 409 a failed action. */
  app?: string;
  action?: string;
  timeoutMs?: number;
  /**
   * The wait for the answer's head alone, when it differs from `timeoutMs` (a followed stream:
   * a gateway that took the connection and never answers is retried, while the stream itself
   * may be silent for hours).
   */
  headTimeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Read as it comes (a followed log, /events), so asked without gzip; a whole answer is asked
   * with it: the status of 300 apps is ~1 MB as it is, ~25 KB gzipped, over an SSH tunnel.
   */
  stream?: boolean;
}

/**
 * `--admin` as the gateway's own `admin on http://127.0.0.1:8099/` line gives it, copied whole
 * or in part: the URL, `HOST:PORT/` or `HOST:PORT`. Every route hangs off the root, so a path
 * there would be dropped unseen: refused instead, with the root to write.
 */
export function parseAdminAddr(text: string): ListenAddress {
  return parseUrlAddr(text, '--admin', 'the admin listener is reached at its root');
}

/** `root`'s admin.address that names no address: why (admin-address-file.ts), or what it holds instead. */
type UnusableAdminAddress = UnreadableAdminAddress | { file: string; kind: 'no-address'; reason: string };

/**
 * The address in `root`'s admin.address, parsed; null when there is none (none written); what
 * is wrong with the file when it cannot be read or names no address (not the gateway's
 * writing). The default is tried then, and the error names the file when nobody answers there.
 */
function recordedAddress(root: string): { addr: ListenAddress; file: string } | UnusableAdminAddress | null {
  const recorded = readAdminAddress(root);
  if (recorded === null || !('address' in recorded)) return recorded;
  try {
    return { addr: parseAdminAddr(recorded.address), file: recorded.file };
  } catch {
    return { file: recorded.file, kind: 'no-address', reason: JSON.stringify(recorded.address.slice(0, 100)) };
  }
}

/** The state root as the gateway resolves it, or null when it cannot be (APPPKG_STATE_DIR empty): then no key is read. */
function stateRootOr(flag: string | undefined): string | null {
  try {
    return resolveStateRoot({ flag });
  } catch {
    return null;
  }
}

const LOOPBACK: LookupAddress[] = [{ address: '127.0.0.1', family: 4 }, { address: '::1', family: 6 }];

/**
 * `localhost` as curl reaches it (RFC 6761 §6.3: it is loopback, whatever a hosts file says):
 * what the resolver lists first, then 127.0.0.1 and ::1, each tried in turn (autoSelectFamily).
 * A gateway started with `--admin '[::1]:P'`, or with `localhost` where that is ::1, is found
 * by `--admin localhost:P` on a host whose /etc/hosts names only 127.0.0.1, and the reverse.
 */
function lookupLoopback(
  hostname: string,
  options: { all?: boolean },
  callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
): void {
  dnsLookup(hostname, { all: true }, (err, found) => {
    const addresses = [...(err ? [] : found), ...LOOPBACK].filter((a, i, all) => all.findIndex((b) => b.address === a.address) === i);
    if (options.all) callback(null, addresses);
    else callback(null, addresses[0].address, addresses[0].family);
  });
}

/** What `path` is when it is there and no socket ('a regular file', 'a directory'), else null. */
function notASocket(path: string): string | null {
  let found;
  try {
    found = statSync(path, { throwIfNoEntry: false });
  } catch {
    return null; // EACCES: a directory on the way is closed to this user (deniedAt says so)
  }
  if (found === undefined || found.isSocket()) return null;
  return found.isDirectory() ? 'a directory' : found.isFile() ? 'a regular file' : 'no socket';
}

const userName = (uid: number): string => findUser(String(uid))?.user ?? String(uid);

/**
 * Why this user may not connect to the unix: socket at `path` (EACCES): the socket's owner and
 * mode (the admin socket is 0600), or the directory on the way it may not enter; and whom to
 * run as. "No gateway answers ... start one" sent a user to start a gateway that was running.
 */
function deniedAt(path: string): { denied: string; owner: string } {
  const me = userName(process.getuid?.() ?? 0);
  let socket;
  try {
    socket = statSync(path);
  } catch {
    // Not to be seen from here: a directory on the way is closed to this user.
  }
  if (socket !== undefined) {
    const owner = userName(socket.uid);
    return { denied: `the socket is ${owner}'s, mode ${(socket.mode & 0o777).toString(8).padStart(4, '0')}, and this command runs as ${me}`, owner };
  }
  const closed = topClosedDirectory(path);
  let owner = 'root';
  try {
    owner = userName(statSync(closed).uid);
  } catch {
    // Its parent is open (it was the topmost closed one), so this is not expected; root as the likely owner.
  }
  return { denied: `this command runs as ${me}, who may not enter ${closed}`, owner };
}

/** The state root's admin.address naming another address than the one a client was asking. */
export interface AddressMoved {
  file: string;
  from: string;
  to: string;
}

export class AdminClient {
  /** As the user writes it, for messages: `127.0.0.1:8099`, `unix:/run/apppkg/admin.sock`. */
  address!: string;
  private addr!: ListenAddress;
  private origin!: string;
  /** How node:http reaches the listener: the unix socket, or loopback tried in turn for `localhost` (net.connect's options, passed on). */
  private connect!: RequestOptions & { autoSelectFamily?: boolean };
  /** Given no --admin: the state root whose admin.address rereadAddress() reads again. */
  private stateRoot: string | null = null;
  /** Given no --admin-token: the state root whose admin.key is sent (keyToSend). */
  private keyRoot: string | null = null;
  /** The admin.key the last request sent, or null: a refusal then names the file read. */
  private keySentFrom: string | null = null;
  /** Requests not yet answered in full: close() ends them, as a stopped command leaves no socket open. */
  private readonly open = new Set<ClientRequest>();
  /** The state root's unusable admin.address has been said, beside an answer from the default address. */
  private saidUnusable = false;

  /**
   * `command` is the command line to say again with another --admin (`logs blog -f`); `defaulted`, that none was given
   * and no state root named one, so nobody on the default address may mean a gateway on the systemd unit's socket;
   * `recordedIn`, the state root's admin.address the address was read from, named when nobody answers there;
   * `asGiven`, the command line as its user gave it (its --admin and --state-dir too), --admin-token left out;
   * `given`, the --admin value as its user wrote it, when one was given: nobody answering there is fixed by
   * starting the gateway on that address, not on the default.
   */
  constructor(
    addr: ListenAddress,
    private readonly token: string | null,
    private readonly asked: { command: string; asGiven?: string; defaulted: boolean; given?: string; tokenFile?: string; recordedIn?: string; defaultFile?: string; unusable?: UnusableAdminAddress } = { command: 'status', defaulted: false },
  ) {
    this.aim(addr);
  }

  private aim(addr: ListenAddress): void {
    this.addr = addr;
    this.address = formatAddr(addr);
    // A wildcard --admin (0.0.0.0, ::) is reached on loopback, as the gateway's own line says.
    this.origin = addr.kind === 'tcp' ? addrUrl(addr) : 'http://localhost';
    this.connect =
      addr.kind === 'unix'
        ? { socketPath: addr.path }
        : addr.host.toLowerCase() === 'localhost'
          ? { autoSelectFamily: true, lookup: lookupLoopback as RequestOptions['lookup'] }
          : {};
  }

  /**
   * Given no --admin, reads the state root's admin.address again, as `tail -F` opens a file
   * by its name again: a gateway restarted on another address (another --admin, a TCP port
   * of its own choosing) wrote it there, and a follower that kept asking the old one waited
   * for ever. The address it names from now on is asked, and returned; null when the file
   * names this one, or none (a gateway between its stop and its start: the last one is
   * still the best guess, where the default may be another gateway's).
   */
  rereadAddress(): AddressMoved | null {
    if (this.stateRoot === null) return null;
    const recorded = recordedAddress(this.stateRoot);
    if (recorded === null || !('addr' in recorded) || formatAddr(recorded.addr) === this.address) return null;
    const from = this.address;
    this.aim(recorded.addr);
    Object.assign(this.asked, { defaulted: false, recordedIn: recorded.file, defaultFile: undefined, unusable: undefined });
    return { file: recorded.file, from, to: this.address };
  }

  /** From a command's `--admin` and `--admin-token` values; `command` and `asGiven` as the constructor's. */
  static fromOptions(values: Record<string, unknown>, command: string, asGiven?: string): AdminClient {
    const given = values.admin as string | undefined;
    // The state root as the gateway resolves it; its admin.address is that gateway's listener.
    const root = given === undefined ? resolveStateRoot({ flag: values['state-dir'] as string | undefined }) : null;
    const found = root === null ? null : recordedAddress(root);
    const recorded = found !== null && 'addr' in found ? found : null;
    const addr = recorded?.addr ?? parseAdminAddr(given ?? DEFAULT_ADMIN);
    const file = values['admin-token'] as string | undefined;
    // Read as the gateway reads it (trimmed, no white space inside); its warning about a file
    // others can read is the gateway's to give, not every client's.
    const client = new AdminClient(addr, file === undefined ? null : readAdminToken(file, () => {}), {
      command,
      asGiven,
      defaulted: given === undefined && recorded === null,
      given,
      tokenFile: file,
      recordedIn: recorded?.file,
      defaultFile: root === null || recorded !== null ? undefined : adminAddressFile(root),
      unusable: found !== null && !('addr' in found) ? found : undefined,
    });
    client.stateRoot = root;
    if (file === undefined) client.keyRoot = root ?? stateRootOr(values['state-dir'] as string | undefined);
    return client;
  }

  /**
   * STATE/admin.key, read at each request (a gateway restarted meanwhile made a new one), when
   * this user can read it (root) and the address asked is the one the gateway of that state root
   * wrote beside it, on this host: any other listener (an --admin of another gateway, a port an
   * app's process took) is never sent it. Null: none is sent, and a refusal is as without it.
   */
  private keyToSend(): string | null {
    if (this.keyRoot === null) return null;
    if (this.addr.kind === 'tcp' && !isLoopbackListen(this.addr.host.toLowerCase())) return null;
    const recorded = recordedAddress(this.keyRoot);
    if (recorded === null || !('addr' in recorded) || formatAddr(recorded.addr) !== this.address) return null;
    return readAdminKey(this.keyRoot);
  }

  /** GET /status, as its text: `status --json` prints it unchanged. */
  async statusText(): Promise<string> {
    return this.text('/status', { what: 'GET /status' });
  }

  async status(): Promise<GatewayStatus> {
    return parseStatus(await this.statusText(), this.address);
  }

  /** A GET of text (an app's log): the whole body. */
  async text(path: string, call: Omit<Call, 'what'> & { what?: string } = {}): Promise<string> {
    return (await this.textAnswer(path, call)).text;
  }

  /** A GET of text with the answer's headers (an app's log says which file it read). */
  async textAnswer(path: string, call: Omit<Call, 'what'> & { what?: string } = {}): Promise<{ text: string; headers: Record<string, string | string[] | undefined> }> {
    const res = await this.send('GET', path, { what: `GET ${path}`, ...call });
    return { text: await this.readAll(res), headers: res.headers };
  }

  /** A POST action (restart, rollback): its JSON answer. */
  async post<T>(path: string, call: Omit<Call, 'what'> = {}): Promise<T> {
    const res = await this.send('POST', path, { what: `POST ${path}`, timeoutMs: ACTION_TIMEOUT_MS, ...call });
    const text = await this.readAll(res);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new GatewayError('APPPKG_ADMIN_BAD_ANSWER', { address: this.address, found: `a body that is not JSON to POST ${path}` });
    }
  }

  /**
   * GET `path` and hand each chunk to `onChunk` as it arrives. Returns when the user stops it
   * (SIGINT, SIGTERM) or the reader of our stdout leaves (EPIPE: `logs -f | head`); throws
   * APPPKG_ADMIN_GONE when the answer ends, which a followed route does only when the gateway
   * stops, or APPPKG_ADMIN_TOKEN_CHANGED when the gateway ended it for a rotated token.
   * `onOpen` is given the answer's headers before its first chunk.
   */
  async follow(path: string, call: Omit<Call, 'what' | 'signal'>, onChunk: (chunk: Buffer) => void, onOpen?: (headers: Record<string, string | string[] | undefined>) => void): Promise<void> {
    const controller = new AbortController();
    let stopped = false;
    const stop = (): void => {
      stopped = true;
      controller.abort();
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    // Any error writing stdout means nobody reads it any more (EPIPE, then "write after destroy").
    process.stdout.on('error', stop);
    try {
      // The head bounded, not the stream: a retry that connected to a gateway that never answered
      // (one stopped in a debugger, a SIGSTOP, a listener whose process hangs) waited for ever.
      const res = await this.send('GET', path, { what: `GET ${path}`, timeoutMs: 0, headTimeoutMs: READ_TIMEOUT_MS, ...call, signal: controller.signal, stream: true });
      onOpen?.(res.headers);
      for await (const chunk of res.body) {
        if (stopped) break;
        onChunk(chunk as Buffer);
      }
      if (stopped) return;
      // Not the gateway gone, to be waited for: its token rotated, and this one revoked.
      const why = res.body.trailers[STREAM_END_TRAILER.toLowerCase()];
      if (why === TOKEN_CHANGED) {
        throw new GatewayError('APPPKG_ADMIN_TOKEN_CHANGED', { address: this.address, what: `GET ${path}` });
      }
      throw new GatewayError('APPPKG_ADMIN_GONE', { address: this.address, what: `GET ${path}`, reason: why === GATEWAY_STOPPED ? 'it stopped' : 'it closed the stream' });
    } catch (err) {
      if (stopped) return;
      if (isGatewayError(err)) throw err;
      const e = err as NodeJS.ErrnoException;
      // node:http's "aborted": the connection ended inside the answer's body.
      const reason = e.code === 'ECONNRESET' ? 'the connection closed' : (e.code ?? e.message);
      throw new GatewayError('APPPKG_ADMIN_GONE', { address: this.address, what: `GET ${path}`, reason, cause: err });
    } finally {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.stdout.off('error', stop);
      controller.abort();
    }
  }

  async close(): Promise<void> {
    for (const req of this.open) req.destroy();
    this.open.clear();
  }

  /**
   * The request, resolved once the answer's head arrived. Its waits: READ_TIMEOUT_MS for the
   * connection, then `call.headTimeoutMs` (else `call.timeoutMs`) for the head, and
   * `call.timeoutMs` (0: none, a followed log may be silent for hours) between two chunks of the body.
   */
  private request(method: Method, path: string, call: Call): Promise<IncomingMessage> {
    const timeout = call.timeoutMs ?? READ_TIMEOUT_MS;
    const headTimeout = call.headTimeoutMs ?? timeout;
    const headers: Record<string, string> = { accept: 'application/json, text/plain, text/event-stream' };
    if (call.stream !== true) headers['accept-encoding'] = 'gzip';
    const key = this.token === null ? this.keyToSend() : null;
    const secret = this.token ?? key;
    if (secret !== null) headers.authorization = `Bearer ${secret}`;
    this.keySentFrom = key === null || this.keyRoot === null ? null : adminKeyFile(this.keyRoot);
    return new Promise((resolve, reject) => {
      // A connection of its own (agent: false), closed after the answer: a command asks once or twice.
      const req = request(`${this.origin}${path}`, { ...this.connect, method, headers, agent: false, signal: call.signal });
      this.open.add(req);
      req.once('close', () => this.open.delete(req));
      const giveUp = (code: string) => (): void => {
        req.destroy(timeoutError(code));
      };
      let timer = setTimeout(giveUp(CONNECT_TIMEOUT), READ_TIMEOUT_MS);
      req.once('socket', (socket) => {
        socket.once('connect', () => {
          clearTimeout(timer);
          if (headTimeout > 0) timer = setTimeout(giveUp(ANSWER_TIMEOUT), headTimeout);
        });
      });
      req.once('response', (res) => {
        clearTimeout(timer);
        if (timeout > 0) req.setTimeout(timeout, giveUp(ANSWER_TIMEOUT));
        resolve(res);
      });
      req.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      req.end();
    });
  }

  /** The body of `res`, its early end said as send() says a silent listener. */
  private async readAll(res: Answer): Promise<string> {
    try {
      return await bodyText(res.body);
    } catch (err) {
      throw this.failure(err);
    }
  }

  private async send(method: Method, path: string, call: Call): Promise<Answer> {
    let res: IncomingMessage;
    try {
      res = await this.request(method, path, call);
    } catch (err) {
      if (call.signal?.aborted) throw err;
      throw this.failure(err);
    }
    this.sayUnusableFile();
    const answer: Answer = { statusCode: res.statusCode ?? 0, headers: res.headers, body: res };
    if (answer.statusCode >= 200 && answer.statusCode < 300) return answer;
    throw await this.answerError(answer, call);
  }

  /**
   * Something answers on the default address, tried because the state root's admin.address names
   * none: the command went on as if the file were not there, and its user, who may have meant
   * the gateway of that state root, learned of neither the file nor that another may be answering.
   */
  private sayUnusableFile(): void {
    const unusable = this.asked.unusable;
    if (unusable === undefined || this.saidUnusable) return;
    this.saidUnusable = true;
    const d = { defaultFile: this.asked.defaultFile, unusable: unusable.kind, unusableReason: unusable.reason, user: userName(process.getuid?.() ?? 0), command: this.asked.command };
    process.stderr.write(`apppkg-gateway: warning: ${unusableAddressFile(d)}, so given no --admin this asks the default address, ${this.address}, which may be another gateway than the one of that state root; fix: ${unusableAddressFileHint(d)}\n`);
  }

  /** A request that failed: nobody there, or something there that said nothing. */
  private failure(err: unknown): GatewayError {
    // Not isGatewayError: our own timeouts' codes (APPPKG_ANSWER_TIMEOUT) pass its look at the
    // code, and a silent listener was reported as an internal error (err.format is not a function).
    if (err instanceof GatewayError) return err;
    const e = err as NodeJS.ErrnoException;
    const silence = e.code === undefined ? undefined : SILENCES[e.code];
    if (silence !== undefined) {
      // Something listens, and said nothing: a gateway out of open files, which /proc can tell.
      const files = listenerFiles(this.addr);
      return new GatewayError('APPPKG_ADMIN_NO_ANSWER', { address: this.address, reason: silence, ...(files ?? {}), cause: err });
    }
    // Refused, no such socket, no permission: "nobody answers". A unix: path that is a file or a
    // directory is no socket any gateway made: "start one" sent the user to start a gateway.
    const notSocket = this.addr.kind === 'unix' ? notASocket(this.addr.path) : null;
    const denied = this.addr.kind === 'unix' && e.code === 'EACCES' ? deniedAt(this.addr.path) : {};
    const unitSocket = this.asked.defaulted ? unitAdminSocket() : null;
    const elsewhere = unitSocket ? { unitSocket: unitSocket.socket, unitClosed: unitSocket.closed, command: this.asked.command } : {};
    const unusable = this.asked.unusable;
    const source = { given: this.asked.given, recordedIn: this.asked.recordedIn, defaultFile: this.asked.defaultFile, ...(unusable ? { unusable: unusable.kind, unusableReason: unusable.reason, user: userName(process.getuid?.() ?? 0), command: this.asked.command } : {}) };
    return new GatewayError('APPPKG_ADMIN_UNREACHABLE', { address: this.address, reason: e.code ?? e.message, notSocket, ...denied, ...elsewhere, ...source, cause: err });
  }

  /** The one mapping of an unwanted answer to an error (docs/admin.md "Routes", "Who may do what"). */
  private async answerError(res: Answer, call: Call): Promise<GatewayError> {
    const text = await bodyText(res.body).catch(() => '');
    const said = errorOf(text);
    const reason = `HTTP ${res.statusCode}${said.message ? `: ${said.message}` : ''}`;
    // 421: a gateway that answers to loopback names only, asked by another name (/etc/hosts):
    // a refusal with its fix, not "another server".
    // A gateway whose open-files table has a hole took the connection, then could open nothing
    // to answer it: out of files all the same, which /proc says better than "another server".
    if (res.statusCode === 500 && said.code === 'APPPKG_ADMIN_INTERNAL' && /\bE[MN]FILE\b/.test(said.message ?? '')) {
      const files = listenerFiles(this.addr);
      return new GatewayError('APPPKG_ADMIN_NO_ANSWER', { address: this.address, reason: `it took the connection and could not answer (${said.message})`, ...(files ?? {}) });
    }
    if (res.statusCode === 401 || res.statusCode === 403 || (res.statusCode === 421 && said.code === 'APPPKG_ADMIN_REFUSED')) {
      // Sent no token where the gateway wants one for this (a root gateway's logs and actions):
      // the fix ends with this very command given it, the line its user runs next: with every
      // option it was given (an --admin dropped would ask another gateway, or none).
      // Sent the key of the state root it was given, refused: that file is the one to look at;
      // this command again with a token is not root's fix (the gateway's own state root is).
      const keySent = res.statusCode === 403 && this.keySentFrom !== null ? { keyFile: this.keySentFrom } : null;
      const again = keySent === null && res.statusCode === 403 && this.token === null && said.hint !== undefined ? { again: this.asked.asGiven ?? this.asked.command } : {};
      // Sent a token, refused 401: the file given is the one to look at, not one to go and find.
      const wrong = res.statusCode === 401 && this.token !== null ? { tokenFile: this.asked.tokenFile } : {};
      return new GatewayError('APPPKG_ADMIN_REFUSED', { address: this.address, what: call.what, reason, hint: said.hint, ...again, ...wrong, ...keySent });
    }
    // `mail retry`'s and `mail delete`'s refusals (an unknown id, an app gone, no mail listener): the gateway's words and fix.
    if ((res.statusCode === 404 || res.statusCode === 409) && said.code !== undefined && MAIL_CODES.has(said.code)) {
      return new GatewayError(said.code as ErrorCode, { reason: said.message, hint: said.hint });
    }
    if (res.statusCode === 409 && said.code === 'APPPKG_ADMIN_APP_BROKEN') {
      return new GatewayError('APPPKG_ADMIN_APP_BROKEN', { reason: said.message, hint: said.hint });
    }
    if (res.statusCode === 409 && call.app !== undefined) {
      const action = call.action ?? call.what;
      // The gateway's message may be this very error's, already saying "restart of blog failed: ".
      const why = said.message?.replace(`${action} of ${call.app} failed: `, '') ?? reason;
      return new GatewayError('APPPKG_ADMIN_ACTION_FAILED', { action, app: call.app, reason: why, hint: said.hint });
    }
    if (res.statusCode === 404 && call.app !== undefined) {
      // Only a gateway that does not know the app: one that does but not the route is too old.
      const apps = await this.status().then((s) => s.apps.map((a) => a.name), () => null);
      if (apps !== null && !apps.includes(call.app)) return noSuchAppError({ address: this.address }, call.app, apps);
    }
    // GET /status is what any other server on the port is asked first: its status says enough,
    // unless a gateway explained itself (a 500's internal error).
    const status = call.what === 'GET /status';
    // A gateway's public listener (--listen, the port its apps answer on, a likely mistake)
    // answers a path no app is mounted at with the 404 proxy/front.ts writes: "another server"
    // sent the user looking for one.
    const unmounted = res.statusCode === 404 ? /^no app is mounted at \/.*$/m.exec(text) : null;
    if (unmounted !== null) {
      return new GatewayError('APPPKG_ADMIN_BAD_ANSWER', { address: this.address, found: `HTTP 404${status ? '' : ` to ${call.what}`} (${unmounted[0].slice(0, 200)})`, publicListener: true });
    }
    const found = `HTTP ${res.statusCode}${status ? '' : ` to ${call.what}`}${said.message && (!status || said.fromGateway) ? ` (${said.message})` : ''}`;
    return new GatewayError('APPPKG_ADMIN_BAD_ANSWER', { address: this.address, found });
  }
}

/** `{"error": {"message", "hint"}}` as the admin listener writes it, or the first line of a text body. */
function errorOf(text: string): { code?: string; message?: string; hint?: string; fromGateway?: boolean } {
  try {
    const error = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown; hint?: unknown } }).error;
    if (error && typeof error.message === 'string') {
      return { code: typeof error.code === 'string' ? error.code : undefined, message: error.message, hint: typeof error.hint === 'string' ? error.hint : undefined, fromGateway: true };
    }
  } catch {
    // not JSON: a text answer, or another server's page
  }
  const line = text.split('\n', 1)[0].trim().slice(0, 200);
  return line ? { message: line } : {};
}

export function parseStatus(body: string, address: string): GatewayStatus {
  return checkStatus(() => JSON.parse(body) as GatewayStatus, address, 'a body that is not JSON');
}

/**
 * The status `make` gives (a body parsed, an event of /events applied to a copy), checked to be
 * a gateway's; null (no status yet) passes. `found`: what to call it when `make` throws.
 */
export function checkStatus<T extends GatewayStatus | null>(make: () => T, address: string, found: string): T {
  let status: T;
  try {
    status = make();
  } catch {
    throw new GatewayError('APPPKG_ADMIN_BAD_ANSWER', { address, found });
  }
  if (status === null) return status;
  if (!Array.isArray(status?.apps) || !Array.isArray(status?.broken)) {
    throw new GatewayError('APPPKG_ADMIN_BAD_ANSWER', { address, found: 'JSON without apps and broken' });
  }
  return status;
}

/**
 * A server-sent events parser (the WHATWG format, what `GET /events` speaks): feed it chunks,
 * it calls `onEvent` for each event block; comment lines (the keep-alive) are skipped.
 */
export function sseParser(onEvent: (event: string, data: string) => void): (chunk: Buffer) => void {
  let buffered = '';
  const decoder = new TextDecoder();
  return (chunk) => {
    // The whole buffer, so that a CRLF split between two chunks is still one line end.
    buffered = (buffered + decoder.decode(chunk, { stream: true })).replace(/\r\n/g, '\n');
    let end: number;
    while ((end = buffered.indexOf('\n\n')) >= 0) {
      const block = buffered.slice(0, end);
      buffered = buffered.slice(end + 2);
      let event = 'message';
      const data: string[] = [];
      for (const line of block.split('\n')) {
        if (line === '' || line.startsWith(':')) continue;
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
        if (field === 'event') event = value;
        else if (field === 'data') data.push(value);
      }
      if (data.length > 0) onEvent(event, data.join('\n'));
    }
  };
}

/**
 * `restart NAME` and `rollback NAME`: POST the action for the app named by the one positional,
 * print the gateway's answer; 0 when done (errors are thrown as GatewayErrors, exit 1).
 */
export async function runAppAction(args: ParsedCommand, action: 'restart' | 'rollback'): Promise<number> {
  const name = args.positionals[0];
  if (name === undefined) throw new GatewayError('APPPKG_USAGE', { reason: `expected NAME, the app to ${action === 'restart' ? 'restart' : 'roll back'}`, command: action });
  const roomWaitS = intOption(args.values['room-wait'], '--room-wait', 0, action, DEFAULT_ROOM_WAIT_S) ?? DEFAULT_ROOM_WAIT_S;
  const client = AdminClient.fromOptions(args.values, shellLine([action, name]), commandLineAgain(action, args, ['admin-token']));
  const watch = watchAction({ app: name, action, status: () => client.status(), say: (line) => process.stderr.write(`${line}\n`), roomWaitMs: roomWaitS * 1000 });
  try {
    const posted = client.post<{ message?: string }>(`/apps/${encodeURIComponent(name)}/${action}`, { app: name, action });
    // Given up on (--room-wait): close() below ends it, whose error nobody waits for then.
    posted.catch(() => {});
    const answer = await Promise.race([posted, watch.overdue]);
    process.stdout.write(`${answer.message ?? `${name}: ${action} done`}\n`);
    return 0;
  } finally {
    watch.stop();
    await client.close();
  }
}
