// The `processes:` of one version of one app, supervised like its WSGI workers: started with
// the version (those that serve must accept connections before it takes traffic), restarted
// with back-off when they exit, a crash loop noticed, stopped with their whole trees. It also
// answers which process a request belongs to: the longest `route:` its path falls under, else
// processes.web (a `platform: python, command` app), else none (the WSGI workers).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { ProcessStatus } from '../admin/status-types.js';
import type { ProcessSpec } from '../description/types.js';
import { GatewayError, isGatewayError } from '../errors.js';
import { sendError } from '../proxy/error-response.js';
import { refuseUpgrade } from '../proxy/forward-upgrade.js';
import type { ProxyRoute } from '../proxy/outgoing-headers.js';
import { Backoff } from './backoff.js';
import { CommandProcess, type CommandProcessOptions } from './command-process.js';

/** What every process of the app shares (CommandProcessOptions says what each means). */
type SharedOptions = Pick<CommandProcessOptions, 'app' | 'env' | 'cwd' | 'uid' | 'gid' | 'log' | 'timeoutMs' | 'development'>;

export interface ProcessSetOptions extends SharedOptions {
  processes: Record<string, ProcessSpec>;
  /** `health:`: probed on processes.web (a command app's server) before it takes traffic. */
  health: string | null;
  /** For a serving process to accept connections (and answer its health path). */
  startTimeoutMs: number;
  say: (line: string) => void;
}

type SetState = 'new' | 'starting' | 'running' | 'stopping' | 'stopped';

/** One `processes.NAME`: its current process (null while waiting to restart) and its history. */
class Slot {
  current: CommandProcess | null = null;
  startedAt = 0;
  restarts = 0;
  readonly backoff = new Backoff();
  timer: NodeJS.Timeout | null = null;

  constructor(readonly name: string, readonly spec: ProcessSpec) {}

  /** Takes requests: processes.web, or one with a route. */
  get serves(): boolean {
    return this.name === 'web' || this.spec.route !== null;
  }
}

export class ProcessSet {
  private readonly slots: Slot[];
  /** Slots with a route, longest route first. */
  private readonly routed: Slot[];
  private readonly web: Slot | null;
  private state: SetState = 'new';

  constructor(private readonly opts: ProcessSetOptions) {
    this.slots = Object.entries(opts.processes).map(([name, spec]) => new Slot(name, spec));
    this.routed = this.slots.filter((s) => s.spec.route !== null).sort((a, b) => b.spec.route!.length - a.spec.route!.length);
    this.web = this.slots.find((s) => s.name === 'web') ?? null;
  }

  get size(): number {
    return this.slots.length;
  }

  /**
   * Starts every process. Resolves once each that serves accepts connections; rejects (after
   * stopping all of them) with the first that cannot.
   */
  async start(): Promise<void> {
    this.state = 'starting';
    const results = await Promise.allSettled(this.slots.map((slot) => this.spawn(slot)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      await this.stop(1000);
      throw isGatewayError(failed.reason)
        ? failed.reason
        : new GatewayError('APPPKG_PROCESS_START_FAILED', { app: this.opts.app, process: '?', reason: String(failed.reason), cause: failed.reason });
    }
    if (this.state === 'starting') this.state = 'running';
  }

  private spawn(slot: Slot): Promise<void> {
    const opts = this.opts;
    const proc = new CommandProcess({
      app: opts.app,
      env: opts.env,
      cwd: opts.cwd,
      uid: opts.uid,
      gid: opts.gid,
      log: opts.log,
      timeoutMs: opts.timeoutMs,
      development: opts.development,
      name: slot.name,
      command: slot.spec.command,
      route: slot.spec.route,
      serves: slot.serves,
      health: slot.name === 'web' ? opts.health : null,
    });
    slot.current = proc;
    slot.startedAt = Date.now();
    proc.once('exit', (code: number | null, signal: NodeJS.Signals | null) => this.onExit(slot, proc, code, signal));
    return proc.start(opts.startTimeoutMs);
  }

  private onExit(slot: Slot, proc: CommandProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (slot.current === proc) slot.current = null;
    // While the set starts, a serving process's failure is start()'s to report.
    if (this.state === 'stopping' || this.state === 'stopped' || (this.state === 'starting' && slot.serves)) return;
    const now = Date.now();
    const wait = slot.backoff.recordExit(now, now - slot.startedAt);
    slot.restarts++;
    const looping = slot.backoff.isCrashLooping(now);
    this.opts.say(
      `${this.opts.app}: processes.${slot.name} ${proc.pid ?? ''} exited (${signal ?? `status ${code}`}); restarting in ${wait} ms${looping ? ' (crash loop)' : ''}`,
    );
    slot.timer = setTimeout(() => {
      slot.timer = null;
      if (this.state !== 'running' && this.state !== 'starting') return;
      // A failed start ends in an exit, which schedules the next attempt (with a longer wait).
      this.spawn(slot).catch((err: Error) => this.opts.say(`${this.opts.app}: restart of processes.${slot.name} failed: ${err.message}`));
    }, wait);
  }

  /** The process whose route `pathInfo` falls under, else processes.web; null: the WSGI workers. */
  private select(pathInfo: string): Slot | null {
    for (const slot of this.routed) {
      const route = slot.spec.route!;
      if (pathInfo === route || pathInfo.startsWith(`${route}/`)) return slot;
    }
    return this.web;
  }

  /** Does a process take this path (not the WSGI workers)? */
  takes(pathInfo: string): boolean {
    return this.select(pathInfo) !== null;
  }

  /** Forwards a request to the process that takes its path; false when none does. */
  handle(req: IncomingMessage, res: ServerResponse, route: ProxyRoute & { pathInfo: string }): boolean {
    const slot = this.select(route.pathInfo);
    if (slot === null) return false;
    if (slot.current) slot.current.handle(req, res, route);
    else sendError(res, 503, { detail: `processes.${slot.name} of ${this.opts.app} is restarting; try again`, headers: { 'Retry-After': '1' } });
    return true;
  }

  /** Forwards an Upgrade request to the process that takes its path; false when none does. */
  upgrade(req: IncomingMessage, socket: Socket, head: Buffer, route: ProxyRoute & { pathInfo: string }): boolean {
    const slot = this.select(route.pathInfo);
    if (slot === null) return false;
    if (slot.current) slot.current.upgrade(req, socket, head, route);
    else refuseUpgrade(socket, 503, `processes.${slot.name} of ${this.opts.app} is restarting; try again`, { 'Retry-After': '1' });
    return true;
  }

  get pids(): number[] {
    return this.slots.map((s) => s.current?.pid).filter((p): p is number => typeof p === 'number');
  }

  get restarts(): number {
    return this.slots.reduce((sum, s) => sum + s.restarts, 0);
  }

  get crashLooping(): boolean {
    const now = Date.now();
    return this.slots.some((s) => s.backoff.isCrashLooping(now));
  }

  status(): ProcessStatus[] {
    const now = Date.now();
    const idle = this.state === 'stopping' || this.state === 'stopped' ? 'stopped' : 'restarting';
    return this.slots.map((slot) => ({
      name: slot.name,
      pid: slot.current?.pid ?? null,
      state: slot.backoff.isCrashLooping(now) ? 'crash-loop' : (slot.current?.state ?? idle),
      route: slot.spec.route,
      port: slot.current?.port ?? null,
      restarts: slot.restarts,
    }));
  }

  /** Stops every process (SIGTERM to its group, `graceMs`, SIGKILL to its tree); no restarts after. */
  async stop(graceMs: number): Promise<void> {
    this.state = 'stopping';
    for (const slot of this.slots) {
      if (slot.timer) clearTimeout(slot.timer);
      slot.timer = null;
    }
    await Promise.all(this.slots.map((slot) => slot.current?.stop(graceMs)));
    this.state = 'stopped';
  }
}
