// One `processes.NAME` command of an app (SPEC §1.1; `processes.web` of a `platform: python,
// command` app is one too): `/bin/sh -c COMMAND` in the app's execution environment, its own
// process group, its output in the app log with a `[NAME] ` prefix. A process that serves
// (processes.web, or one with a `route:`) is told a free loopback port through $PORT and is
// ready once that port accepts connections (and `health:` answers 2xx/3xx, for web); its
// requests then go through an undici Pool of its own. A background process is ready once spawned.
import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import net, { type Socket } from 'node:net';
import type { Writable } from 'node:stream';
import getPort from 'get-port';
import type { Pool } from 'undici';
import { GatewayError } from '../errors.js';
import { sendError } from '../proxy/error-response.js';
import { forwardHttp } from '../proxy/forward-http.js';
import { forwardUpgrade, refuseUpgrade } from '../proxy/forward-upgrade.js';
import type { ProxyRoute } from '../proxy/outgoing-headers.js';
import { delay, guardGroup, killTree, signalGroup, type GroupGuard } from './process-group.js';

export interface CommandProcessOptions {
  /** The app's name, for messages. */
  app: string;
  /** The key under `processes:`. */
  name: string;
  /** A shell line: $PORT and the app's variables expand. */
  command: string;
  route: string | null;
  /** Listens on $PORT and takes requests (web, or a route). */
  serves: boolean;
  /** The app's command environment (app-env.ts commandEnvironment). */
  env: Record<string, string>;
  cwd: string;
  /** The app's user, when the gateway switches users. */
  uid?: number;
  gid?: number;
  /** The app log: each line of output goes there as `[NAME] line`. */
  log: Writable;
  /** `health:` of app.yaml, probed on processes.web before it takes traffic. */
  health: string | null;
  /** A proxied request's response head must come within this, else 504. */
  timeoutMs: number;
  development: boolean;
}

export type ProcessState = 'new' | 'starting' | 'ready' | 'stopping' | 'exited';

/** Requests open to one process at once; more wait in its Pool. */
const POOL_CONNECTIONS = 32;
const PORT_POLL_MS = 100;
const RECENT_LINES = 20;

/** Writes a child's output to the log a line at a time, each line prefixed; keeps the last few. */
class PrefixedLines {
  private partial = '';
  readonly recent: string[] = [];

  constructor(private readonly log: Writable, private readonly prefix: string) {}

  push(chunk: Buffer): void {
    const lines = (this.partial + chunk.toString('utf8')).split('\n');
    this.partial = lines.pop() ?? '';
    for (const line of lines) this.line(line);
  }

  end(): void {
    if (this.partial !== '') this.line(this.partial);
    this.partial = '';
  }

  private line(line: string): void {
    this.recent.push(line);
    if (this.recent.length > RECENT_LINES) this.recent.shift();
    if (this.log.writable) this.log.write(`${this.prefix}${line}\n`);
  }
}

/** Does 127.0.0.1:port accept a connection now? */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export class CommandProcess extends EventEmitter {
  private child: ChildProcess | null = null;
  private _state: ProcessState = 'new';
  private _port: number | null = null;
  private pool: Pool | null = null;
  private output: PrefixedLines;
  private exitPromise: Promise<void> = Promise.resolve();
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  /** Why spawn itself failed (EPERM for the app's user, say), if it did. */
  private spawnError: string | null = null;

  constructor(readonly opts: CommandProcessOptions) {
    super();
    this.output = new PrefixedLines(opts.log, `[${opts.name}] `);
  }

  get name(): string {
    return this.opts.name;
  }

  get state(): ProcessState {
    return this._state;
  }

  get pid(): number | null {
    return this.child?.pid ?? null;
  }

  get port(): number | null {
    return this._port;
  }

  /** "processes.live of chat": how error bodies and the log name it. */
  get label(): string {
    return `processes.${this.opts.name} of ${this.opts.app}`;
  }

  /**
   * Spawns the command and, for one that serves, waits until its port accepts connections and
   * its health path answers, within `deadlineMs`. Rejects with a GatewayError once the process
   * is gone; an 'exit' event follows every spawned process's end, whether start settled or not.
   */
  async start(deadlineMs: number): Promise<void> {
    if (this._state !== 'new') throw new Error(`CommandProcess.start: already ${this._state}`);
    this._state = 'starting';
    const deadline = Date.now() + deadlineMs;
    const opts = this.opts;
    if (opts.serves) this._port = await getPort({ host: '127.0.0.1' });
    if (this._state !== 'starting') throw this.startError('stopped while starting');
    const env: Record<string, string> = { ...opts.env, PYTHONUNBUFFERED: '1' };
    if (this._port !== null) env.PORT = String(this._port);
    const child = spawn('/bin/sh', ['-c', opts.command], {
      cwd: opts.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // its own process group: stopped as a whole, untouched by a terminal's Ctrl-C
      uid: opts.uid,
      gid: opts.gid,
    });
    this.child = child;
    const guard: GroupGuard | null = child.pid !== undefined ? guardGroup(child.pid) : null;
    child.stdout!.on('data', (chunk: Buffer) => this.output.push(chunk));
    child.stderr!.on('data', (chunk: Buffer) => this.output.push(chunk));
    this.exitPromise = new Promise<void>((resolve) => {
      const exited = (code: number | null, signal: NodeJS.Signals | null): void => {
        if (this._state === 'exited') return;
        this._state = 'exited';
        this.exitCode = code;
        this.exitSignal = signal;
        this.output.end();
        // What it left behind in its group goes with it (a server's forked helpers).
        if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
        guard?.release();
        void this.pool?.destroy().catch(() => {});
        this.pool = null;
        resolve();
        this.emit('exit', code, signal);
      };
      child.once('exit', exited);
      child.once('error', (err) => {
        this.spawnError = err.message;
        this.output.push(Buffer.from(`apppkg-gateway: cannot run /bin/sh: ${err.message}\n`));
        if (child.pid === undefined) exited(null, null);
      });
    });

    try {
      if (this._port !== null) await this.waitUntilServing(this._port, deadline, deadlineMs);
    } catch (err) {
      this.kill();
      await this.exitPromise;
      throw err;
    }
    if (this._state === 'starting') this._state = 'ready';
  }

  private startError(reason: string): GatewayError {
    const last = this.output.recent.filter((l) => l.trim() !== '').slice(-3).join(' | ');
    return new GatewayError('APPPKG_PROCESS_START_FAILED', {
      app: this.opts.app,
      process: this.opts.name,
      reason: last ? `${reason}; its last output: ${last}` : reason,
    });
  }

  private gone(): string {
    if (this.spawnError !== null) return `it could not be spawned: ${this.spawnError}`;
    return this.exitCode !== null ? `it exited with status ${this.exitCode}` : `it was killed by ${this.exitSignal ?? 'a signal'}`;
  }

  private async waitUntilServing(port: number, deadline: number, deadlineMs: number): Promise<void> {
    while (!(await accepts(port))) {
      if (this._state !== 'starting') throw this.startError(this._state === 'exited' ? this.gone() : 'stopped while starting');
      if (Date.now() > deadline) throw this.startError(`nothing accepted connections on 127.0.0.1:$PORT (${port}) within ${deadlineMs / 1000} s`);
      await delay(PORT_POLL_MS);
    }
    // undici costs ~60 ms to load: only gateways with command processes pay it, once.
    const { Pool } = await import('undici');
    this.pool = new Pool(`http://127.0.0.1:${port}`, {
      connections: POOL_CONNECTIONS,
      headersTimeout: this.opts.timeoutMs,
      bodyTimeout: 0,
    });
    if (this.opts.health !== null) await this.probe(this.pool, this.opts.health, deadline);
  }

  /** GET `path` until it answers 2xx or 3xx, or the deadline passes (SPEC §4). */
  private async probe(pool: Pool, path: string, deadline: number): Promise<void> {
    let last: { status?: number; reason?: string } = {};
    while (this._state === 'starting') {
      try {
        const answer = await pool.request({
          method: 'GET',
          path,
          headers: { 'user-agent': 'apppkg-gateway-probe' },
          headersTimeout: Math.max(1000, deadline - Date.now()),
        });
        await answer.body.dump();
        if (answer.statusCode >= 200 && answer.statusCode < 400) return;
        last = { status: answer.statusCode };
      } catch (err) {
        last = { reason: (err as Error).message };
      }
      if (Date.now() > deadline) break;
      await delay(200);
    }
    if (this._state === 'exited') throw this.startError(this.gone());
    throw new GatewayError('APPPKG_APP_PROBE_FAILED', { app: this.opts.app, path, ...last });
  }

  /** Forwards one request (the full original path); 503 while not ready. */
  handle(req: IncomingMessage, res: ServerResponse, route: ProxyRoute): void {
    if (this._state !== 'ready' || this.pool === null) {
      sendError(res, 503, { detail: `${this.label} is not running; try again`, headers: { 'Retry-After': '1' } });
      return;
    }
    forwardHttp(this.pool, req, res, route, { timeoutMs: this.opts.timeoutMs, label: this.label, development: this.opts.development });
  }

  /** Forwards an Upgrade request (a websocket); 503 on the raw socket while not ready. */
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer, route: ProxyRoute): void {
    if (this._state !== 'ready' || this._port === null) {
      refuseUpgrade(socket, 503, `${this.label} is not running; try again`, { 'Retry-After': '1' });
      return;
    }
    forwardUpgrade(req, socket, head, this._port, route, { timeoutMs: this.opts.timeoutMs, label: this.label });
  }

  /** SIGTERM to the group, up to `graceMs` to exit, then SIGKILL to the tree. Resolves once gone. */
  async stop(graceMs: number): Promise<void> {
    const pid = this.child?.pid;
    if (this._state === 'starting' && this.child === null) this._state = 'stopping'; // start() sees it before spawning
    if (pid === undefined || this._state === 'exited') return;
    this._state = 'stopping';
    void this.pool?.close().catch(() => {});
    signalGroup(pid, 'SIGTERM');
    signalGroup(pid, 'SIGCONT'); // a stopped process could not act on SIGTERM (see worker.ts stop)
    const inTime = await Promise.race([this.exitPromise.then(() => true), delay(graceMs).then(() => false)]);
    if (!inTime) {
      this.kill();
      await Promise.race([this.exitPromise, delay(5000)]);
    }
  }

  /** SIGKILL the tree now. */
  kill(): void {
    const pid = this.child?.pid;
    if (pid === undefined || this._state === 'exited') return;
    killTree(pid);
  }

  /** Resolves when the process has exited (at once if it never started). */
  exited(): Promise<void> {
    return this.exitPromise;
  }
}
