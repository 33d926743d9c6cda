// One Python worker process running the shim (python-shim/apppkg_shim_main.py serve) and
// the link to it: spawn, the READY handshake, requests, graceful stop, the exit code.
// Exit codes are the worker's word (docs/protocol.md): 4 = the app cannot be loaded (do not
// restart until it changes), 3 = the shim could not start, 0 = stopped when asked.

import { spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { delay, killTree, signalGroup } from './process-group.js';
import { GatewayError } from '../errors.js';
import { SHIM_MAIN } from '../link/shim-path.js';
import { WorkerLink, type ReadyInfo } from '../link/worker-link.js';
import { sendError } from '../proxy/error-response.js';
import { expireRequests, forwardWsgi, type ForwardOptions, type WsgiRoute } from '../proxy/forward-wsgi.js';
import { LineTap, startError, type OutputSink } from '../link/shim-output.js';
import { probeLink } from './probe.js';

export type { OutputSink };
/** The route of a request, as the gateway's router hands it to handle(). */
export type RouteInfo = WsgiRoute;

export interface WorkerOptions {
  /** The interpreter (a virtualenv's bin/python picks the virtualenv). */
  python: string;
  /** The complete environment of the process (nothing is inherited implicitly). */
  env: Record<string, string>;
  cwd: string;
  /** `module:object`. */
  app: string;
  /** Prepended to sys.path in order, .pth files processed (SPEC 2.1). */
  sysPath: string[];
  threads: number;
  /** wsgi.multiprocess: true when the app has more than one worker. */
  multiprocess: boolean;
  /** 500 bodies carry the Python traceback. */
  development: boolean;
  /** The app's name, for logs. */
  name: string;
  /** Default: process.stdout / process.stderr. */
  stdout?: OutputSink;
  stderr?: OutputSink;
  /** The Unix user and group of the process (the gateway runs as root); default: ours. */
  uid?: number;
  gid?: number;
  /** The largest request body, in bytes: 413 past it. Default: no limit. */
  maxBody?: number;
  /**
   * A request without a response head this long gets 504, is aborted in the worker, and the
   * worker emits 'timeout' (a thread of it is stuck: its owner recycles it). Default: none.
   */
  timeoutMs?: number;
}

export type WorkerState = 'new' | 'starting' | 'ready' | 'stopping' | 'exited';

/** The config the shim reads from APPPKG_SHIM_CONFIG. */
export function shimConfig(opts: Pick<WorkerOptions, 'app' | 'sysPath' | 'threads' | 'multiprocess' | 'development' | 'name'>): string {
  return JSON.stringify({
    app: opts.app,
    sysPath: opts.sysPath,
    threads: opts.threads,
    multiprocess: opts.multiprocess,
    development: opts.development,
    name: opts.name,
  });
}

function pipeOutput(stream: Readable | null, tap: LineTap): void {
  if (!stream) return;
  stream.on('data', (chunk: Buffer) => tap.push(chunk));
  stream.on('end', () => tap.end());
}

// Detached: the worker leads its own process group, which reaches grandchildren that
// tree-kill cannot find once their parent has exited.
const killGroup = (pid: number): void => signalGroup(pid, 'SIGKILL');

export class Worker extends EventEmitter {
  readonly opts: WorkerOptions;
  private child: ChildProcess | null = null;
  private link: WorkerLink | null = null;
  private _state: WorkerState = 'new';
  private exitPromise: Promise<void> | null = null;
  private _requests = 0;
  private sweeper: NodeJS.Timeout | null = null;
  private readonly forward: ForwardOptions;
  /** Taken out of rotation by its owner (being recycled, or failed its probe). */
  retired = false;
  readyInfo: ReadyInfo | null = null;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;

  constructor(opts: WorkerOptions) {
    super();
    this.opts = opts;
    // One options object for every request (no allocation per request).
    this.forward = { development: opts.development, maxBody: opts.maxBody };
  }

  get state(): WorkerState {
    return this._state;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Requests sent to the worker and not yet answered. */
  get inFlight(): number {
    return this.link?.inFlight ?? 0;
  }

  /** Requests the worker runs at once (its threads). */
  get capacity(): number {
    return this.opts.threads;
  }

  /** Requests handled since start. */
  get requests(): number {
    return this._requests;
  }

  /** Ready, not stopping, link open: handle() will reach the worker. */
  get available(): boolean {
    return this._state === 'ready' && this.link !== null && !this.link.closed && !this.link.draining;
  }

  /** Available and not retired by its owner: the worker should get new requests. */
  get healthy(): boolean {
    return !this.retired && this.available;
  }

  /** Every thread has a request: more would wait inside the worker, where no one can move them. */
  get full(): boolean {
    return this.inFlight >= this.opts.threads;
  }

  /** Spawn and wait for READY. Rejects with a GatewayError; the process is gone by then. */
  start(deadlineMs: number): Promise<void> {
    if (this._state !== 'new') return Promise.reject(new Error(`Worker.start: already ${this._state}`));
    this._state = 'starting';
    const opts = this.opts;
    const scanning = (): boolean => this._state === 'starting';
    const out = new LineTap(opts.stdout ?? process.stdout, () => false);
    const err = new LineTap(opts.stderr ?? process.stderr, scanning);

    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (error: GatewayError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
      };

      let child: ChildProcess;
      try {
        child = spawn(opts.python, [SHIM_MAIN, 'serve'], {
          cwd: opts.cwd,
          env: { ...opts.env, APPPKG_SHIM_CONFIG: shimConfig(opts), PYTHONUNBUFFERED: '1' },
          stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
          detached: true, // own process group: a terminal's Ctrl-C reaches the gateway only
          uid: opts.uid,
          gid: opts.gid,
        });
      } catch (e) {
        this._state = 'exited';
        reject(new GatewayError('APPPKG_WORKER_START_FAILED', { app: opts.app, reason: (e as Error).message, cause: e }));
        return;
      }
      this.child = child;
      pipeOutput(child.stdout, out);
      pipeOutput(child.stderr, err);

      const link = new WorkerLink(child.stdio[3] as Socket);
      this.link = link;
      // 'idle': a request finished, a thread is free (the app's queue drains on it).
      link.onSettled = () => {
        if (this.listenerCount('idle') > 0) this.emit('idle');
      };
      link.on('stopping', () => {
        if (this._state === 'ready') this._state = 'stopping';
        this.emit('stopping');
      });
      link.on('ready', (info: ReadyInfo) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.readyInfo = info;
        if (this._state === 'starting') this._state = 'ready'; // not if stop() came first
        err.end();
        this.startSweeper(link);
        resolve();
      });

      const timer = setTimeout(() => {
        fail(new GatewayError('APPPKG_WORKER_START_FAILED', { app: opts.app, reason: `not ready within ${deadlineMs} ms` }));
        this.kill();
      }, deadlineMs);

      this.exitPromise = new Promise<void>((resolveExit) => {
        child.once('error', (e) => {
          fail(new GatewayError('APPPKG_WORKER_START_FAILED', { app: opts.app, reason: `cannot run ${opts.python}: ${e.message}`, cause: e }));
          if (child.pid === undefined) {
            this._state = 'exited';
            link.fail('the worker could not be spawned');
            resolveExit();
            this.emit('exit', null, null);
          }
        });
        child.once('exit', (code, signal) => {
          this.exitCode = code;
          this.exitSignal = signal;
          this._state = 'exited';
          if (this.sweeper !== null) clearInterval(this.sweeper);
          if (child.pid !== undefined) killGroup(child.pid);
          link.fail(code !== null ? `the worker exited with status ${code}` : `the worker was killed by ${signal}`);
          // Let the last stderr lines (the marker) arrive before judging the exit.
          let judged = false;
          const judge = (): void => {
            if (judged) return;
            judged = true;
            err.end();
            if (!settled) fail(startError(opts.app, code, signal, err));
            resolveExit();
            this.emit('exit', code, signal);
          };
          if (child.stderr && !child.stderr.readableEnded) {
            child.stderr.once('end', judge);
            setTimeout(judge, 500).unref();
          } else {
            judge();
          }
        });
      });
    });
  }

  /**
   * Forward one request. When the worker takes no requests (not ready, stopping, gone)
   * it answers 503 with Retry-After itself and returns false; check `available` first to
   * pick another worker instead.
   */
  handle(req: IncomingMessage, res: ServerResponse, route: WsgiRoute): boolean {
    const link = this.link;
    if (link === null || this._state !== 'ready') {
      sendError(res, 503, { detail: 'the worker is not running; try again', headers: { 'Retry-After': '1' } });
      return false;
    }
    this._requests++;
    return forwardWsgi(link, req, res, route, this.forward);
  }

  /**
   * GET `path` through the link, as the health probe (SPEC §4): resolves with the status the
   * app answered (500 when it raised); rejects when the worker is not ready, goes away, or
   * does not answer within timeoutMs.
   */
  probe(path: string, timeoutMs: number): Promise<number> {
    const link = this.link;
    if (link === null || this._state !== 'ready') return Promise.reject(new Error(`the worker is ${this._state}`));
    return probeLink(link, path, timeoutMs);
  }

  /**
   * The 504 clock: one interval per worker advances the link's tick counter, and requests
   * past the timeout without a response head get their 504 (no timer per request).
   */
  private startSweeper(link: WorkerLink): void {
    const timeoutMs = this.opts.timeoutMs;
    if (timeoutMs === undefined || !(timeoutMs > 0)) return;
    const tickMs = Math.min(1000, Math.max(20, Math.round(timeoutMs / 10)));
    const limitTicks = Math.ceil(timeoutMs / tickMs);
    this.sweeper = setInterval(() => {
      link.ticks++;
      if (link.inFlight > 0 && expireRequests(link, limitTicks, timeoutMs) > 0) this.emit('timeout');
    }, tickMs);
    this.sweeper.unref();
  }

  /**
   * SIGTERM: the worker stops taking requests, finishes those in flight and exits 0. After
   * graceMs, SIGKILL for the whole tree (and the process group). Resolves once it is gone.
   */
  async stop(graceMs: number): Promise<void> {
    const child = this.child;
    if (child === null || this._state === 'exited' || child.pid === undefined) return;
    const exited = this.exitPromise ?? Promise.resolve();
    if (this._state !== 'stopping') this._state = 'stopping';
    try {
      child.kill('SIGTERM');
      // A stopped worker (SIGSTOP, a debugger) holds SIGTERM pending until SIGKILL past the
      // grace: wake it so that it stops gracefully now (systemd sends SIGCONT likewise).
      child.kill('SIGCONT');
    } catch {
      // already gone
    }
    const inTime = await Promise.race([exited.then(() => true), delay(graceMs).then(() => false)]);
    if (!inTime) {
      this.kill();
      await Promise.race([exited, delay(5000)]);
    }
  }

  /** SIGKILL the tree now (no grace). */
  kill(): void {
    const pid = this.child?.pid;
    if (pid === undefined || this._state === 'exited') return;
    killTree(pid);
  }

  /** Resolves when the process has exited (immediately if it never started). */
  exited(): Promise<void> {
    return this.exitPromise ?? Promise.resolve();
  }
}
