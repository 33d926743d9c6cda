// One Python worker process running the shim (python-shim/apppkg_shim_main.py serve): spawned,
// connected by its link (fd 3 in, fd 4 out), ready once it says READY, watched by a heartbeat,
// stopped by the SIGTERM handshake. Requests are the proxy's business: it reads `link`. Exit
// codes are the worker's word (docs/protocol.md): 4 = the app cannot be loaded (do not restart
// until it changes), 3 = the shim could not start, 0 = stopped when asked.

import { EventEmitter } from 'node:events';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import type { Readable } from 'node:stream';
import type { Socket } from 'node:net';
import type { CommandWords } from '../command-words.js';
import { GatewayError } from '../errors.js';
import { SHIM_MAIN } from '../link/shim-path.js';
import { LINK_PROTOCOL } from '../link/frames.js';
import { LineTap, startError, type OutputSink } from '../link/shim-output.js';
import { WorkerLink, type ReadyInfo } from '../link/worker-link.js';
import { Child } from './child.js';
import { EarliestTimer } from './earliest-timer.js';
import { delay } from './process-group.js';
import { probeLink } from './probe.js';
import { mib } from './recycle.js';
import { spawnReason } from './spawn-reason.js';
import { filesKeptError, roomToSpawn } from '../open-files.js';
import { afterNextPoll, silenceTimeout } from '../net/after-next-poll.js';
import { testKnob } from '../test-knob.js';
import type { OutputThrottle } from '../log/output-throttle.js';

export type { OutputSink };

export interface WorkerOptions {
  /** The interpreter (a virtualenv's bin/python picks the virtualenv). */
  python: string;
  /** The complete environment of the process (nothing is inherited implicitly). */
  env: Record<string, string>;
  cwd: string;
  /** `module:object`. */
  app: string;
  /** What `app` is: a WSGI callable (threads run requests) or an ASGI 3 one (an asyncio loop). */
  kind?: 'wsgi' | 'asgi';
  /** Prepended to sys.path in order, .pth files processed (SPEC 2.1). */
  sysPath: string[];
  threads: number;
  /** wsgi.multiprocess: true when the app has more than one worker. */
  multiprocess: boolean;
  /** 500 bodies carry the Python traceback. */
  development: boolean;
  /** The app's name, for logs. */
  name: string;
  /** The app's virtualenv (`python` is its bin/python), if it has one: a spawn that finds it gone says how to build it again. */
  venvDir?: string | null;
  /** What that fix calls the restart (the caller's words: CommandWords); default the CLI's. */
  commandWords?: CommandWords;
  /**
   * The app's max_memory in bytes (0 or absent: none). A SIGKILL nobody here sent is then said
   * to be perhaps the kernel's, for memory: a container's or a unit's limit is set from it.
   */
  maxMemory?: number;
  /** Default: process.stdout / process.stderr. */
  stdout?: OutputSink;
  stderr?: OutputSink;
  /** The app's share of the gateway's time for output (log/output-throttle.ts), shared by its processes. */
  throttle?: OutputThrottle;
  /** Where the traceback of a load failure (import, lifespan startup) goes; default: `stderr`, with the rest of its output. */
  loadFailure?: (traceback: string) => void;
  /** The Unix user and group of the process (the gateway runs as root); default: ours. */
  uid?: number;
  gid?: number;
  /** Heartbeat period and the silence after which an idle worker counts as hung. */
  heartbeatMs?: number;
  hungAfterMs?: number;
  /**
   * Start at this niceness, back to 0 once ready: a cold start (an idle app woken, SPEC 5.6)
   * then takes the CPU the apps already serving leave. Only as root, the one who can lower it back.
   */
  startNice?: number;
  /**
   * The first worker of a start (the version's, a wake's): it alone says in the app log what
   * holds for every worker of the app (an ASGI app that ignored lifespan=), once, not once a worker.
   */
  firstOfStart?: boolean;
  /**
   * The shim counts what its threads read and run (reads, frames, handoffs: docs/protocol.md) and
   * prints it as one `stats {...}` line on its stderr when it stops, for tuning. Default: whether
   * the gateway's own environment has APPPKG_SHIM_STATS. Taken from there, not from `env`: that is
   * the app's, which keeps the caller's APPPKG_* out (app-env.ts), so the variable given to the
   * gateway's command never reached a worker.
   */
  stats?: boolean;
}

export type WorkerState = 'new' | 'starting' | 'ready' | 'stopping' | 'exited';

/**
 * A worker with nothing in flight that has not answered a PING for HUNG_AFTER_MS is hung (a
 * SIGSTOP, a deadlock with the GIL held): it is killed and replaced. Requests in flight are
 * the proxy timeout's to judge, so a busy worker is never killed by the heartbeat.
 * Bound (docs/architecture.md): replaced within HEARTBEAT_MS + HUNG_AFTER_MS + restart delay.
 */
export const HEARTBEAT_MS = 2000;

/**
 * HTTP requests an ASGI worker is sent at once (docs/protocol.md §8): each is a task on its
 * loop as soon as it arrives, so this bounds memory, not concurrency as `threads` does for WSGI.
 */
export const ASGI_IN_FLIGHT = 1000;
export const HUNG_AFTER_MS = 6000;
/** The suite's bounds, so that a test of a hung worker (or of one that is not) waits a second, not eight. */
export const HEARTBEAT_ENV = 'APPPKG_TEST_HEARTBEAT_MS';
export const HUNG_AFTER_ENV = 'APPPKG_TEST_HUNG_AFTER_MS';

/**
 * Once a stopping ASGI worker's grace (a drain, the gateway's stop) is over and its tasks are
 * cancelled, how long it has to run their `finally` blocks and its lifespan shutdown before
 * SIGKILL: the gateway's own bound for its workers after --grace (gateway.ts).
 */
export const CANCEL_BOUND_MS = 5000;

/**
 * The config the shim reads from APPPKG_SHIM_CONFIG; `unsetEnv`: variables it takes out of
 * os.environ before the app loads; `readyWithinMs`: the start deadline, which an ASGI lifespan
 * startup that hangs gives up a little before, saying where it waits (APPPKG_APP_LIFESPAN_FAILED).
 */
export function shimConfig(opts: Pick<WorkerOptions, 'app' | 'kind' | 'sysPath' | 'threads' | 'multiprocess' | 'development' | 'name' | 'firstOfStart' | 'stats'>, unsetEnv: string[] = [], readyWithinMs?: number): string {
  return JSON.stringify({
    protocol: LINK_PROTOCOL,
    app: opts.app,
    kind: opts.kind ?? 'wsgi',
    sysPath: opts.sysPath,
    threads: opts.threads,
    multiprocess: opts.multiprocess,
    development: opts.development,
    name: opts.name,
    firstOfStart: opts.firstOfStart ?? true,
    unsetEnv,
    // A duration, not an instant of the wall clock, which a step moves between here and the
    // shim's reading (python-shim/apppkg_shim/ready_deadline.py counts it from the spawn).
    readyWithinMs,
    stats: opts.stats ?? Boolean(process.env.APPPKG_SHIM_STATS),
  });
}

/** How long a 502 in development waits for the dead worker's last output to be read. */
const LAST_WORDS_WAIT_MS = 500;

/**
 * glibc's malloc gives the top of its heap back to the kernel whenever more than 128 KiB of it
 * is free, and takes it back at the next large allocation. With 64 KiB request bodies in flight
 * that was a brk and about two page faults per request in an ASGI worker, whose requests all
 * allocate on the main thread's heap: 25-35 µs more CPU a request (docs/performance.md). A
 * worker keeps up to 4 MiB of its heap's top instead, unless the app's settings tune malloc
 * themselves. glibc reads the variable at exec; the shim then takes it out of os.environ, so
 * neither the app nor what it starts inherits it.
 */
const WORKER_MALLOC_ENV: Record<string, string> = { MALLOC_TRIM_THRESHOLD_: String(4 * 1024 * 1024) };

/** The worker's own malloc variables the app's environment does not set already. */
function mallocEnvFor(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(WORKER_MALLOC_ENV).filter(([name]) => env[name] === undefined));
}

/**
 * Sets the niceness of every thread of a process (Linux keeps it per thread, and the threads a
 * worker started while niced inherited it); false when it could not (gone, not permitted).
 */
function setNice(pid: number, nice: number): boolean {
  try {
    let threads: number[];
    try {
      threads = readdirSync(`/proc/${pid}/task`).map(Number);
    } catch {
      threads = [pid];
    }
    for (const tid of threads) os.setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}

function pipeOutput(stream: Readable | null, tap: LineTap): void {
  if (!stream) return;
  stream.on('data', (chunk: Buffer) => tap.push(chunk));
  stream.on('end', () => tap.end());
}

export class Worker extends EventEmitter {
  readonly opts: WorkerOptions;
  private child: Child | null = null;
  private _link: WorkerLink | null = null;
  private _state: WorkerState = 'new';
  private exitPromise: Promise<void> | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  readyInfo: ReadyInfo | null = null;
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  /** Killed by the gateway (the heartbeat, garbage on its link): why, for the restart line. */
  killedFor: string | null = null;
  /** When it began to stop (Date.now()): status tells how long a slow shutdown has taken. */
  private stoppingAt: number | null = null;
  /** Its ASGI lifespan startup has begun (LIFESPAN_STARTUP came): a stop before READY comes in it, not in the import. */
  private lifespanBegun = false;
  /** Stopped before it said READY: in which step of its start (stoppedStarting). */
  private stoppedIn: 'import' | 'lifespan' | null = null;
  /** A stop under way (ASGI): when its CANCEL goes to the worker. */
  private cancelling: EarliestTimer | null = null;
  /** A stop under way (WSGI): when its responses under way are cut, before the SIGKILL. */
  private cutting: EarliestTimer | null = null;
  /** Its stderr, read line by line: its last line is why it died, as far as it said. */
  private errorTap: LineTap | null = null;

  constructor(opts: WorkerOptions) {
    super();
    this.opts = opts;
  }

  get state(): WorkerState {
    return this._state;
  }

  /** When it began to stop (asked, or on its own: a max_requests recycle), or null. */
  get stoppingSince(): number | null {
    return this.stoppingAt;
  }

  /**
   * The step of its start a stop came in (its import, its ASGI lifespan startup), or null for one
   * that had started: such a worker never served, so it has no shutdown of its own to run, and
   * one still there after its SIGTERM is an app that took the signal for itself.
   */
  get stoppedStarting(): 'import' | 'lifespan' | null {
    return this.stoppedIn;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** The link to the worker: requests go through it (the proxy), and the health probe. */
  get link(): WorkerLink | null {
    return this._link;
  }

  /** Ready, and its link takes requests (not closed, not stopping). */
  get available(): boolean {
    return this._state === 'ready' && this._link !== null && this._link.accepting;
  }

  /** What it runs: a WSGI app on threads, or an ASGI app on one event loop. */
  get kind(): 'wsgi' | 'asgi' {
    return this.opts.kind ?? 'wsgi';
  }

  /** Requests it runs at once: its threads, or for an ASGI app as many as the loop is given. */
  get capacity(): number {
    return this.opts.kind === 'asgi' ? ASGI_IN_FLIGHT : this.opts.threads;
  }

  /** Requests in flight. */
  get inFlight(): number {
    return this._link?.inFlight ?? 0;
  }

  /** Of inFlight, the requests its threads (or its ASGI loop) run now. */
  get running(): number {
    return Math.min(this.inFlight, this.capacity);
  }

  /** Of inFlight, the requests sent ahead that wait in it for a thread (the proxy's pipeline). */
  get waiting(): number {
    return Math.max(0, this.inFlight - this.capacity);
  }

  /** Requests opened since start (the health probe not counted). */
  get requests(): number {
    return this._link?.requests ?? 0;
  }

  /** The last line it wrote on stderr with something in it, or null. */
  get lastErrorLine(): string | null {
    return this.errorTap?.lastLine() ?? null;
  }

  /** When it last wrote on stderr (performance.now()), 0 before it has. */
  get lastErrorLineAt(): number {
    return this.errorTap?.lastOutputAt ?? 0;
  }

  /** How it ended, for messages: `status 1`, `SIGKILL`. */
  get how(): string {
    return this.killedFor ?? this.exitSignal ?? `status ${this.exitCode}`;
  }

  /** How it ended, as a 502 in development says it. */
  private ending(code: number | null, signal: NodeJS.Signals | null): string {
    if (this.killedFor !== null) return `the gateway killed the worker (${this.killedFor})`;
    if (signal === null) return `the worker exited with status ${code}`;
    const maxMemory = this.opts.maxMemory ?? 0;
    const limit = signal === 'SIGKILL' && maxMemory > 0 ? ` (max_memory is ${mib(maxMemory)}: it may have been killed for its memory, by the kernel's out-of-memory killer or a container's limit)` : '';
    return `the worker was killed by ${signal}${limit}`;
  }

  /** Spawn and wait for READY. Rejects with a GatewayError; the process is gone by then. */
  start(deadlineMs: number): Promise<void> {
    if (this._state !== 'new') return Promise.reject(new Error(`Worker.start: already ${this._state}`));
    this._state = 'starting';
    const opts = this.opts;
    // Until READY, whatever the state: the exit of a worker whose import failed is often seen
    // before its last stderr lines are read (the marker among them), and its state is `exited`
    // by then; a marker read unscanned went to serve's terminal raw and its start was judged
    // without it.
    const scanning = (): boolean => this.readyInfo === null;
    const out = new LineTap(opts.stdout ?? process.stdout, () => false);
    const err = new LineTap(opts.stderr ?? process.stderr, scanning, true);
    this.errorTap = err;
    if (opts.loadFailure) err.onLoadFailure = opts.loadFailure;
    // A start that fails names the app by these first: `app:` (wsgi:app) names no app.
    const whose = { name: opts.name, dir: opts.cwd };

    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const fail = (error: GatewayError): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        reject(error);
      };

      const spawnFailed = (e: Error | null): GatewayError => {
        const { reason, openFiles } = spawnReason(e, opts.python, opts.cwd, opts.venvDir ? { dir: opts.venvDir, app: opts.name, words: opts.commandWords } : undefined);
        return new GatewayError('APPPKG_WORKER_START_FAILED', { ...whose, app: opts.app, reason, openFiles, cause: e ?? undefined });
      };
      // Its link, its pipes and its guard's, and the descriptors the admin keeps.
      if (!roomToSpawn(4)) {
        this._state = 'exited';
        settled = true;
        reject(spawnFailed(filesKeptError()));
        return;
      }
      let child: Child;
      const malloc = mallocEnvFor(opts.env);
      try {
        child = new Child({
          file: opts.python,
          args: [SHIM_MAIN, 'serve'],
          cwd: opts.cwd,
          env: { ...malloc, ...opts.env, APPPKG_SHIM_CONFIG: shimConfig(opts, Object.keys(malloc), deadlineMs), PYTHONUNBUFFERED: '1' },
          stdio: ['ignore', 'pipe', 'pipe', 'pipe', 'pipe'],
          uid: opts.uid,
          gid: opts.gid,
          termGroup: false,
          // The kernel kills the worker itself when the gateway dies (PDEATHSIG), but not what
          // the app started (a subprocess.Popen at import): the guard ends the group.
          guard: true,
        });
      } catch (e) {
        this._state = 'exited';
        reject(new GatewayError('APPPKG_WORKER_START_FAILED', { ...whose, app: opts.app, reason: (e as Error).message, cause: e }));
        return;
      }
      this.child = child;
      // Out of file descriptors, Node gives up before it makes the pipes (no stdio at all) and
      // says why only on the next tick, as the child's spawnError.
      if (child.process.stdio === undefined) {
        this.exitPromise = child.whenExited().then(() => {
          this._state = 'exited';
          settled = true;
          reject(spawnFailed(child.spawnError));
          this.emit('exit', null, null);
        });
        return;
      }
      const niced = opts.startNice !== undefined && process.getuid?.() === 0 && child.pid !== undefined && setNice(child.pid, opts.startNice);
      pipeOutput(child.process.stdout, out);
      pipeOutput(child.process.stderr, err);
      opts.throttle?.read(child.process.stdout);
      opts.throttle?.read(child.process.stderr);

      const link = new WorkerLink(child.process.stdio[4] as Socket, child.process.stdio[3] as Socket);
      this._link = link;
      const stderrDone = new Promise<void>((done) => (child.process.stderr ? child.process.stderr.once('close', done) : done()));
      let exitSeen: () => void = () => {};
      const exited = new Promise<void>((done) => (exitSeen = done));
      link.lastWords = async (since) => {
        // The exit too: the socket often closes before the exit is reaped, and the 502 says how it ended.
        await Promise.race([Promise.all([stderrDone, exited]), delay(LAST_WORDS_WAIT_MS)]);
        return err.lastOutput(undefined, since);
      };
      // The shim writes nothing but frames on fd 4: the app wrote there, and what it writes is
      // lost (a log line), or breaks the frames its worker sends after it. No frame of this link
      // can be trusted now: its requests fail (502), and a fresh worker serves.
      link.on('garbage', () => this.killFor(
        'wrote bytes that are no frames of its link to the gateway (fd 4)',
        'the app writes to a file descriptor it did not open (os.write(4, ...), or a file or socket kept by its number after it was closed), and fds 3 and 4 of a worker are its link: write only to descriptors the app opened itself, sys.stdout and sys.stderr',
      ));
      // A frame out of its request's order (a body before the head) is as untrustworthy: the
      // app's bytes on fd 4 that happened to frame, or a fault of the shim.
      link.on('out-of-order', (what: string) => this.killFor(
        `sent ${what} on its link to the gateway`,
        'an app that writes to fd 4 (os.write(4, ...), or a file or socket kept by its number after it was closed) puts its bytes among its worker\'s frames: write only to descriptors the app opened itself, sys.stdout and sys.stderr; an app that never does has met a fault of apppkg-gateway: report it with this line',
      ));
      link.on('stopping', () => {
        this.stoppingAt ??= Date.now();
        if (this._state === 'ready') this._state = 'stopping';
        this.emit('stopping');
      });
      // An ASGI app imported, its lifespan startup begun: status says which of the two it waits for.
      link.once('lifespan-startup', () => {
        this.lifespanBegun = true;
        if (!settled) this.emit('lifespan-startup');
      });
      link.on('ready', (info: ReadyInfo) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.readyInfo = info;
        if (this._state === 'starting') this._state = 'ready'; // not if stop() came first
        if (niced) setNice(child.pid!, 0);
        err.end();
        this.startHeartbeat(link);
        resolve();
      });

      // Its READY may be in the kernel, sent in time, after a stall of the gateway's loop.
      const timer = silenceTimeout(() => {
        if (settled) return;
        fail(new GatewayError('APPPKG_WORKER_START_FAILED', { ...whose, app: opts.app, reason: `not ready within ${deadlineMs} ms`, seconds: Math.round(deadlineMs / 100) / 10 }));
        this.kill();
      }, deadlineMs);

      this.exitPromise = new Promise<void>((resolveExit) => {
        child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
          this.exitCode = code;
          this.exitSignal = signal;
          this._state = 'exited';
          this.stopHeartbeat();
          if (child.spawnError !== null && child.pid === undefined) {
            fail(spawnFailed(child.spawnError));
            link.fail('the worker could not be spawned');
            resolveExit();
            this.emit('exit', null, null);
            return;
          }
          link.ended = this.ending(code, signal);
          exitSeen();
          link.fail(link.ended);
          // Let the last stderr lines (the marker) arrive before judging the exit.
          let judged = false;
          const judge = (): void => {
            if (judged) return;
            judged = true;
            err.end();
            if (!settled) fail(startError(opts.app, code, signal, err, whose));
            resolveExit();
            this.emit('exit', code, signal);
          };
          const stderr = child.process.stderr;
          if (stderr && !stderr.readableEnded) {
            stderr.once('end', judge);
            setTimeout(judge, 500).unref();
          } else {
            judge();
          }
        });
      });
    });
  }

  /**
   * GET `path` through the link, as the health probe (SPEC §4): resolves with the status the
   * app answered (500 when it raised); rejects when the worker is not ready, goes away, or
   * does not answer within timeoutMs.
   */
  probe(path: string, timeoutMs: number): Promise<number> {
    const link = this._link;
    if (link === null || this._state !== 'ready') return Promise.reject(new Error(`the worker is ${this._state}`));
    return probeLink(link, path, timeoutMs);
  }

  private startHeartbeat(link: WorkerLink): void {
    const every = this.opts.heartbeatMs ?? testKnob(HEARTBEAT_ENV, HEARTBEAT_MS);
    const hungAfter = this.opts.hungAfterMs ?? testKnob(HUNG_AFTER_ENV, HUNG_AFTER_MS);
    let pingedAt = 0;
    link.on('pong', () => {
      pingedAt = 0;
    });
    // Said only of a silence that was said: one that began in a drain (a recycle after a held
    // loop's 504) took nothing from the rotation.
    let saidSilent = false;
    link.on('silent', (silentMs: number) => {
      if (!link.accepting) return;
      saidSilent = true;
      this.emit('silent', silentMs, link.inFlight);
    });
    link.on('answering', (silentMs: number) => {
      if (saidSilent) this.emit('answering', silentMs);
      saidSilent = false;
    });
    this.heartbeat = setInterval(() => {
      if (link.closed) return;
      // performance.now(): after a step back of the wall clock, a hung worker went unnoticed for as long.
      const now = performance.now();
      if (pingedAt === 0) {
        pingedAt = now;
        link.ping();
        // The beat's bound runs from the turn's flush (an immediate write() queued before this
        // one): a stall of the gateway's loop between the two was counted as the worker's
        // silence, and a worker that had the PING for no time was killed as hung.
        setImmediate(() => {
          if (pingedAt === now) pingedAt = performance.now();
        });
        return;
      }
      const asked = pingedAt;
      if (now - asked < hungAfter) {
        if (link.silentSince === 0) afterNextPoll(() => this.judgeSilent(link, asked, () => pingedAt));
        return;
      }
      // A pong sent while the gateway's own loop stalled waits unread in the kernel: read first.
      afterNextPoll(() => {
        if (pingedAt !== asked || this.heartbeat === null || link.closed) return;
        // A released request (an ASGI 504) is judged by WorkerPool.judgeTimedOut, which recycles.
        if (link.inFlight !== 0 || link.releasedRequests !== 0) return;
        this.killFor(`hung: no answer to the heartbeat for ${Math.round((now - asked) / 1000)} s`);
      });
    }, every);
    this.heartbeat.unref();
  }

  /**
   * The PING sent at `asked` has gone a beat without its PONG (read after the poll, as the hung
   * check's): the link is silent, and takes no new request until it answers (WorkerLink.silentSince).
   */
  private judgeSilent(link: WorkerLink, asked: number, pingedAt: () => number): void {
    if (pingedAt() !== asked || this.heartbeat === null || link.closed || link.silentSince !== 0) return;
    link.markSilent(asked);
  }

  private stopHeartbeat(): void {
    if (this.heartbeat !== null) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  /**
   * SIGTERM: the worker stops taking requests, finishes those in flight and exits 0. After
   * graceMs, SIGKILL for the whole tree (and the process group); an ASGI worker first has its
   * requests ended (WorkerLink.endInFlight: a response under way cut, one with no head 502) and
   * its tasks cancelled, and CANCEL_BOUND_MS more to run its `finally` blocks
   * and its lifespan shutdown; a WSGI worker whose streams were cut has as long for their
   * generators to close. Asked again while it stops, the earlier bounds hold (child.ts).
   * Resolves once it is gone.
   */
  async stop(graceMs: number): Promise<void> {
    const child = this.child;
    if (child === null || this._state === 'exited' || child.pid === undefined) return;
    if (this._state === 'starting') this.stoppedIn ??= this.lifespanBegun ? 'lifespan' : 'import';
    if (this._state !== 'stopping') this._state = 'stopping';
    this.stoppingAt ??= Date.now();
    if (this._link === null) {
      await child.stop(graceMs);
    } else if (this.opts.kind !== 'asgi') {
      // A WSGI request cannot be cancelled: its thread runs until the process ends, killed at
      // the bound, where the responses under way are cut first, as the gateway's doing (and
      // the requests with no head yet answered 502, as an ASGI worker's are). A cut
      // stream is ABORTed, which closes its generator at its next yield (GeneratorExit, its
      // `finally` runs: a subscription let go, a lock released), so a worker that cut streams
      // has CANCEL_BOUND_MS more to end by itself; one that cut none is killed at the bound.
      const link = this._link;
      this.cutting ??= new EarliestTimer(() => this.cutInFlight(link, () => {
        const cut = link.endInFlight();
        if (cut === 0) void child.stop(0);
        return cut;
      }));
      this.cutting.within(graceMs);
      await child.stop(graceMs + CANCEL_BOUND_MS);
      this.cutting.clear();
    } else {
      const link = this._link;
      this.cancelling ??= new EarliestTimer(() => this.cutInFlight(link, () => link.cancelAll()));
      this.cancelling.within(graceMs);
      await child.stop(graceMs + CANCEL_BOUND_MS);
      this.cancelling.clear();
    }
    // The exit is judged once stderr has ended (the last lines reach the log first).
    if (this.exitPromise) await Promise.race([this.exitPromise, delay(1000)]);
  }

  /**
   * The stop's bound is over with requests still in flight (streams, long polls): `cut` ends
   * them now and returns how many responses under way it cut (444s). 'cut' tells how many, so
   * that a drain can say in the log why those clients lost them; apart, how many had no answer
   * yet (answered 502 by `cut`) and how many a thread still ran whose client had its answer (a
   * 504) or had left.
   */
  private cutInFlight(link: WorkerLink, cut: () => number): void {
    let answered = 0;
    for (const exchange of link.requestsInFlight()) if (exchange.aborted === true) answered++;
    const pending = link.inFlight - answered;
    const cutNow = Math.min(cut(), pending);
    const unanswered = pending - cutNow;
    if (pending > 0 || answered > 0) this.emit('cut', cutNow, unanswered, answered);
  }

  /** SIGKILL the tree now, saying why ('killing': the app's log and the restart line tell it). */
  private killFor(why: string, fix?: string): void {
    if (this.killedFor !== null || this._state === 'exited') return;
    this.killedFor = why;
    this.emit('killing', why, fix);
    this.kill();
  }

  /** SIGKILL the tree now (no grace). */
  kill(): void {
    if (this._state === 'exited') return;
    this.child?.kill();
  }

  /** Resolves when the process has exited (immediately if it never started). */
  exited(): Promise<void> {
    return this.exitPromise ?? Promise.resolve();
  }
}
