// One `processes.NAME` command of an app (SPEC §1.1; `processes.web` of a `platform: python,
// command` app is one too): `/bin/sh -c COMMAND` in the app's execution environment, its own
// process group (guarded: it ends if the gateway dies), its output in the app log with a
// `[NAME] ` prefix. A process that serves (processes.web, or one with a `route:`) is told a
// free loopback port through $PORT and is ready once that port accepts connections (and
// `health:` answers 2xx/3xx, for web); the proxy then sends it requests on that port, and its
// liveness is asked from then on (liveness.ts): one that stops answering is killed, and its slot
// restarts it. A background process is ready once spawned.
import { EventEmitter } from 'node:events';
import http from 'node:http';
import net from 'node:net';
import type { Writable } from 'node:stream';
import getPort from 'get-port';
import { outOfFiles, outOfFilesReason, roomToSpawn } from '../open-files.js';
import { GatewayError } from '../errors.js';
import { WsCloseCode } from '../link/frames.js';
import { UNENDED_MARK } from '../link/shim-output.js';
import { eachLine, wholeCharacters } from '../log/byte-lines.js';
import { Child } from './child.js';
import { Liveness } from './liveness.js';
import { delay } from './process-group.js';
import { spawnReason } from './spawn-reason.js';
import { commandProgram, programProblem } from '../lifecycle/command-program.js';
import type { OutputThrottle } from '../log/output-throttle.js';
import type { HealthStatus } from '../admin/status-types.js';

export interface CommandProcessOptions {
  /** The app's name, for messages. */
  app: string;
  /** The key under `processes:`. */
  name: string;
  /** A shell line: $PORT and the app's variables expand. */
  command: string;
  /** Listens on $PORT and takes requests (web, or a route). */
  serves: boolean;
  /** The app's command environment, which has no PORT (app-env.ts givenByGatewayOnly); a serving process gets its own. */
  env: Record<string, string>;
  cwd: string;
  /** The app's user, when the gateway switches users. */
  uid?: number;
  gid?: number;
  /** The app log: each line of output goes there as `[NAME] line`. */
  log: Writable;
  /** Where its stderr goes, when not to `log` (the app log's stderr-marked stream). */
  stderrLog?: Writable;
  /** The app's share of the gateway's time for output (log/output-throttle.ts), shared by its processes. */
  throttle?: OutputThrottle;
  /** `health:` of app.yaml, probed on processes.web before it takes traffic. */
  health: string | null;
  /** The app's mount (APPPKG_MOUNT), empty at the root: `health:` is asked under it first. */
  mount?: string;
  /** Each answer to `health:` as it comes, for the app's `health` in status (a command app has no workers to tell it). */
  onProbe?: (probe: HealthStatus) => void;
}

/** A websocket the proxy carries to it, which the gateway can close (proxy/websocket-tunnel.ts). */
interface GatewayClosable {
  closeByGateway(code: number, reason: string): void;
}

export type ProcessState = 'new' | 'starting' | 'ready' | 'stopping' | 'exited';

const PORT_POLL_MS = 100;
/** What SIGTERM gets before SIGKILL, at least, when the wait for its requests took the grace. */
const MIN_TERM_GRACE_MS = 1000;
const RECENT_LINES = 20;
/** A line not ended past this many bytes is written in pieces (as a worker's: link/shim-output.ts). */
const LONGEST_HELD_LINE = 64 * 1024;

/** A line `exec` would change: lists, pipes, subshells, assignments, compound commands, builtins. */
const COMPOUND = /[;&|()`\n]|^\s*(?:[A-Za-z_][A-Za-z0-9_]*=|[!{]|if\b|for\b|while\b|until\b|case\b|exec\b|cd\b|eval\b|source\b|\.\s|:)/;

/**
 * `command` as the shell line to run: a simple command (`python app.py --port $PORT`) gets
 * `exec`, so that the shell becomes it, as a Procfile runner's `exec` form does: status then
 * shows the app's own pid, RSS and CPU, not the waiting shell's (Debian's dash forks a `-c`
 * command instead of becoming it). A line with lists, pipes, subshells, assignments or
 * compound commands runs as written.
 */
export function execForm(command: string): string {
  return becomesProgram(command) ? `exec ${command}` : command;
}

/** Whether the shell becomes `command`'s program (execForm): its pid is then the program's own. */
export function becomesProgram(command: string): boolean {
  return !COMPOUND.test(command);
}

/**
 * Writes a child's output to the log a line at a time, each line prefixed; keeps the last few.
 * Split on the bytes, decoded a whole line at a time (log/byte-lines.ts).
 */
class PrefixedLines {
  private held: Buffer | null = null;
  /** Its last line with something in it: a stderr's is why its process died, as far as it said. */
  lastLine: string | null = null;
  /** When lastLine was written (performance.now()), 0 before one was. */
  lastLineAt = 0;

  /** `recent` may be shared by the lines of stdout and stderr: the last lines of either. */
  constructor(private readonly log: Writable, private readonly prefix: string, readonly recent: string[] = []) {}

  push(chunk: Buffer): void {
    this.held = eachLine(this.held, chunk, (line) => this.line(line));
    // A line with no end in sight (a progress bar's \r, a stream without newlines) goes out in
    // pieces, as a worker's does: held whole, it was copied again at every read, which took the
    // gateway's whole time (every app's requests and heartbeats) and its memory without bound.
    if (this.held !== null && this.held.length >= LONGEST_HELD_LINE) {
      const long = this.held;
      const whole = wholeCharacters(long);
      this.held = whole === long.length ? null : Buffer.from(long.subarray(whole));
      this.line(`${long.toString('utf8', 0, whole)}${UNENDED_MARK.trimEnd()}`);
    }
  }

  end(): void {
    if (this.held !== null) this.line(this.held.toString('utf8'));
    this.held = null;
  }

  private line(line: string): void {
    if (line.trim() !== '') {
      this.lastLine = line.trim();
      this.lastLineAt = performance.now();
    }
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

/** GET http://127.0.0.1:port/path: the status, or why there was none. */
function getStatus(port: number, path: string, timeoutMs: number, prefix = ''): Promise<{ status?: number; reason?: string }> {
  const headers: Record<string, string> = { 'user-agent': 'apppkg-gateway-probe' };
  if (prefix !== '') headers['x-forwarded-prefix'] = prefix;
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false, timeout: timeoutMs }, (res) => {
      res.resume();
      resolve({ status: res.statusCode });
    });
    req.once('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.once('error', (err) => resolve({ reason: err.message }));
  });
}

export class CommandProcess extends EventEmitter {
  private child: Child | null = null;
  private _state: ProcessState = 'new';
  private _port: number | null = null;
  private output: PrefixedLines;
  private errorOutput: PrefixedLines;
  private exitPromise: Promise<void> = Promise.resolve();
  exitCode: number | null = null;
  exitSignal: NodeJS.Signals | null = null;
  /** Killed by the gateway (it stopped answering): why, for the restart line. */
  killedFor: string | null = null;
  private liveness: Liveness | null = null;
  /** Requests and websockets the proxy has sent it that have not ended. */
  private holding = 0;
  /** Until then (performance.now()) a request the proxy gave up on may still hold it (held.abandoned). */
  private abandonedUntil = 0;
  private websockets = 0;
  private whenIdle: Array<() => void> = [];
  /** Its open websockets, as the gateway can close them. */
  private readonly tunnels = new Set<GatewayClosable>();
  /** What the proxy tells of the requests it sends here (the endpoint's `held`). */
  readonly held = {
    opened: (websocket: boolean): void => {
      this.holding++;
      if (websocket) this.websockets++;
    },
    closed: (websocket: boolean): void => {
      if (websocket) this.websockets--;
      if (--this.holding === 0) this.whenIdle.splice(0).forEach((resolve) => resolve());
    },
    answered: (): void => this.liveness?.answered(),
    abandoned: (until: number): void => {
      this.abandonedUntil = Math.max(this.abandonedUntil, until);
    },
    websocket: (tunnel: GatewayClosable, client: { once(event: 'close', listener: () => void): unknown }): void => {
      this.tunnels.add(tunnel);
      client.once('close', () => this.tunnels.delete(tunnel));
    },
  };

  constructor(readonly opts: CommandProcessOptions) {
    super();
    this.output = new PrefixedLines(opts.log, `[${opts.name}] `);
    this.errorOutput = new PrefixedLines(opts.stderrLog ?? opts.log, `[${opts.name}] `, this.output.recent);
  }

  get name(): string {
    return this.opts.name;
  }

  /** The last line it wrote on stderr with something in it, or null. */
  get lastErrorLine(): string | null {
    return this.errorOutput.lastLine;
  }

  /** When lastErrorLine was written (performance.now()), 0 before one was. */
  get lastErrorLineAt(): number {
    return this.errorOutput.lastLineAt;
  }

  get state(): ProcessState {
    return this._state;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get port(): number | null {
    return this._port;
  }

  /** "processes.live of chat": how error bodies and the log name it. */
  get label(): string {
    return `processes.${this.opts.name} of ${this.opts.app}`;
  }

  /** Of what the proxy sent it, the requests not answered yet (its websockets aside). */
  get inFlight(): number {
    return this.holding - this.websockets;
  }

  /** Of what the proxy sent it, the websockets still open (status counts them, as an ASGI worker's). */
  get openWebsockets(): number {
    return this.websockets;
  }

  /**
   * What the gateway found its exit to mean, with the fix (a status 127 or 126 whose program is
   * not on its PATH, not executable, or a script whose `#!` interpreter is not there), or null.
   * The gateway's words on app.yaml, not the app's output.
   */
  diagnosis: string | null = null;

  /** How it ended, for messages: `status 1`, `SIGKILL`. */
  get how(): string {
    return this.killedFor ?? this.child?.how ?? 'not started';
  }

  /**
   * Spawns the command and, for one that serves, waits until its port accepts connections and
   * its health path answers, within `deadlineMs`. Rejects with a GatewayError once the process
   * is gone; an 'exit' event follows every spawned process's end, whether start settled or not.
   */
  async start(deadlineMs: number): Promise<void> {
    if (this._state !== 'new') throw new Error(`CommandProcess.start: already ${this._state}`);
    this._state = 'starting';
    // performance.now(): a step forward of the wall clock while the program came up refused it at once.
    const deadline = performance.now() + deadlineMs;
    const opts = this.opts;
    if (opts.serves) {
      try {
        this._port = await getPort({ host: '127.0.0.1' });
      } catch (err) {
        const kind = outOfFiles(err);
        if (kind === null) throw err;
        throw this.startError(`no port for it: ${outOfFilesReason(kind)}`, kind);
      }
    }
    if (this._state !== 'starting') throw this.startError('stopped while starting');
    // Its pipes and its guard's, and the descriptors the admin keeps.
    if (!roomToSpawn(2)) throw this.startError(`cannot run /bin/sh: ${outOfFilesReason('EMFILE', true)}`, 'EMFILE');
    const env: Record<string, string> = { ...opts.env, PYTHONUNBUFFERED: '1' };
    if (this._port !== null) env.PORT = String(this._port);
    const child = new Child({
      file: '/bin/sh',
      args: ['-c', execForm(opts.command)],
      cwd: opts.cwd,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      uid: opts.uid,
      gid: opts.gid,
      // A program that leads a pool (a Celery or RQ worker, gunicorn) ends it itself on SIGTERM,
      // waiting for the tasks and requests in progress; the group's SIGTERM reached its children
      // at the same moment and killed that work (Celery: WorkerLostError). So the program alone
      // has it, as `docker stop` and systemd's KillMode=mixed do, and what it leaves gets its
      // own once it has exited. A shell that stays (a pipe, a list) passes no signal on: its group.
      termGroup: !becomesProgram(opts.command),
      guard: true,
      followStrays: true,
    });
    this.child = child;
    child.process.stdout?.on('data', (chunk: Buffer) => this.output.push(chunk));
    child.process.stderr?.on('data', (chunk: Buffer) => this.errorOutput.push(chunk));
    opts.throttle?.read(child.process.stdout);
    opts.throttle?.read(child.process.stderr);
    this.exitPromise = new Promise<void>((resolve) => {
      const exited = (code: number | null, signal: NodeJS.Signals | null, diagnosis: string | null): void => {
        if (child.spawnError !== null) this.output.push(Buffer.from(`apppkg-gateway: cannot run /bin/sh: ${child.spawnError.message}\n`));
        this.diagnosis = diagnosis;
        this._state = 'exited';
        this.liveness?.stop();
        this.exitCode = code;
        this.exitSignal = signal;
        this.output.end();
        this.errorOutput.end();
        resolve();
        this.emit('exit', code, signal);
      };
      // 127 is the shell's "not found" (126 its "Permission denied"), said only in the app log:
      // the gateway's log and status said `exited (status 127)`, and a user read the app log to
      // learn which program was missing, or that "not found" meant a script's #! interpreter.
      // Looked for before the exit is told, so that every line about this exit can say it.
      child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
        if ((code !== 127 && code !== 126) || child.spawnError !== null) return exited(code, signal, null);
        this.whyNotRun().then(
          (diagnosis) => exited(code, signal, diagnosis),
          () => exited(code, signal, null),
        );
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
    if (this._state === 'ready' && this._port !== null) {
      this.liveness = new Liveness({ port: this._port, busy: () => this.inFlight > 0 || performance.now() < this.abandonedUntil, onUnresponsive: (why) => this.killFor(why) });
      this.liveness.start();
    }
  }

  /**
   * For a status 127 or 126: why the shell could not run the program the command runs (not on
   * the command's PATH or in the app directory, not executable, its #! interpreter not there),
   * said with the PATH and the fix; null when it could (another word of a compound line failed)
   * or the shell decides what runs.
   */
  private async whyNotRun(): Promise<string | null> {
    const { command, cwd, env, name, uid, gid } = this.opts;
    const program = commandProgram(command);
    if (program === null) return null;
    const searchPath = env.PATH ?? '';
    // Judged as the app's user runs it: the gateway, as root, may execute a file it may not.
    const runner = uid === undefined ? null : { user: String(uid), uid, gid: gid ?? uid };
    // The kernel asked as that user (ACLs, the directories on the way): once it failed, never before.
    const problem = await programProblem(program, cwd, searchPath, runner, 'kernel');
    if (problem === null) return null;
    const dirs = searchPath.split(':').filter(Boolean).join(', ');
    const missing = new GatewayError('APPPKG_PROGRAM_MISSING', { key: `processes.${name}.command`, command, program, dir: cwd, dirs, ...problem });
    return `${missing.message} (fix: ${missing.hint})`;
  }

  private startError(reason: string, openFiles: string | null = outOfFiles(this.child?.spawnError)): GatewayError {
    const last = this.output.recent.filter((l) => l.trim() !== '').slice(-3).join(' | ');
    return new GatewayError('APPPKG_PROCESS_START_FAILED', {
      openFiles: openFiles ?? undefined,
      app: this.opts.app,
      process: this.opts.name,
      dir: this.opts.cwd, // the app directory, for the `run` command its fix names
      reason: last ? `${reason}; its last output: ${last}` : reason,
      appOutput: last || undefined,
    });
  }

  private gone(): string {
    const child = this.child;
    if (child?.spawnError) return `it could not be spawned: ${spawnReason(child.spawnError, '/bin/sh', this.opts.cwd).reason}`;
    if (this.exitCode === null) return `it was killed by ${this.exitSignal ?? 'a signal'}`;
    return this.diagnosis !== null ? `it exited with status ${this.exitCode}: ${this.diagnosis}` : `it exited with status ${this.exitCode}`;
  }

  private async waitUntilServing(port: number, deadline: number, deadlineMs: number): Promise<void> {
    while (!(await accepts(port))) {
      if (this._state !== 'starting') throw this.startError(this._state === 'exited' ? this.gone() : 'stopped while starting');
      if (performance.now() > deadline) throw this.startError(`nothing accepted connections on 127.0.0.1:$PORT (${port}) within ${deadlineMs / 1000} s`);
      await delay(PORT_POLL_MS);
    }
    if (this.opts.health !== null) await this.probe(port, this.opts.health, deadline);
  }

  /**
   * GET `path` until it answers 2xx or 3xx, or the deadline passes (SPEC §4). Under a mount it
   * is asked as the app's requests come, `MOUNT/path` with X-Forwarded-Prefix, since a server
   * with a base URL (Jupyter's base_url from $APPPKG_MOUNT) answers nothing else; one that
   * answers that 404 is asked `path` as well, as at a virtual host's root, where a server that
   * knows nothing of mounts (and was probed only there before) answers it.
   */
  private async probe(port: number, path: string, deadline: number): Promise<void> {
    const mount = this.opts.mount ?? '';
    let last: { status?: number; reason?: string } = {};
    let asked = path;
    while (this._state === 'starting') {
      const timeoutMs = Math.max(1000, deadline - performance.now());
      asked = mount === '' ? path : mount + path;
      last = await getStatus(port, asked, timeoutMs, mount);
      if (last.status === 404 && mount !== '') {
        asked = `${mount}${path} (404) and ${path}`;
        last = await getStatus(port, path, timeoutMs);
      }
      const ok = last.status !== undefined && last.status >= 200 && last.status < 400;
      const error = ok ? null : last.status !== undefined ? `GET ${asked} answered ${last.status}; asked again until it answers 2xx or 3xx` : `GET ${asked}: ${last.reason ?? 'no answer'}`;
      this.told(path, ok, last.status ?? null, error);
      if (ok) return;
      if (performance.now() > deadline) break;
      await delay(200);
    }
    if (this._state === 'exited') throw this.startError(this.gone());
    const failed = new GatewayError('APPPKG_APP_PROBE_FAILED', { app: this.opts.app, path: asked, ...last });
    this.told(path, false, last.status ?? null, failed.message);
    throw failed;
  }

  private told(path: string, ok: boolean, status: number | null, error: string | null): void {
    this.opts.onProbe?.({ path, at: new Date().toISOString(), ok, status, error, pid: this.pid ?? null });
  }

  /**
   * SIGTERM to the program (to the group, for a line the shell runs itself), up to `graceMs` to
   * exit, then SIGKILL to the tree. Resolves once gone. `closeReason`: what its websockets'
   * clients are told at the end of the grace (a drain's cause, drainCloseReason).
   */
  async stop(graceMs: number, closeReason = `${this.opts.app} is stopping`): Promise<void> {
    if (this._state === 'starting' && this.child === null) this._state = 'stopping'; // start() sees it before spawning
    if (this.child === null || this._state === 'exited') return;
    this._state = 'stopping';
    this.liveness?.stop();
    // Out of rotation already: what it holds finishes first (SPEC 4, no failed request across a
    // deploy or a restart), within the grace. Many servers (Python's http.server, a plain
    // Flask run) die at SIGTERM in the middle of a request, so the signal waits for its end.
    const deadline = performance.now() + graceMs;
    if (this.holding > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        new Promise<void>((resolve) => this.whenIdle.push(resolve)),
        new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs))),
        this.exitPromise,
      ]);
      clearTimeout(timer);
    }
    // A drain over with websockets still open: they are closed as an ASGI app's are, 1012 (the
    // client reconnects to the new version), not cut by the SIGTERM, which many servers take
    // to drop them without a close frame (1006).
    this.closeWebsockets(WsCloseCode.SERVICE_RESTART, closeReason);
    await this.child.stop(Math.max(deadline - performance.now(), Math.min(graceMs, MIN_TERM_GRACE_MS)));
  }

  /** Every websocket it holds is closed by the gateway with `code` (1001: the gateway stops). */
  closeWebsockets(code: number, reason: string): void {
    for (const tunnel of [...this.tunnels]) tunnel.closeByGateway(code, reason);
  }

  /** SIGKILL the tree now. */
  kill(): void {
    if (this._state === 'exited') return;
    this.liveness?.stop();
    this.child?.kill();
  }

  /** SIGKILL the tree now, saying why ('killing': the log tells it, and the restart line through `how`). */
  private killFor(why: string): void {
    if (this.killedFor !== null || this._state !== 'ready') return;
    this.killedFor = why;
    this.emit('killing', why);
    // Its clients are told to come back (1012, as at a drain's end), to the process its slot
    // starts: the kill alone cut their connections without a close frame (1006), which a page
    // may take as the server gone for good.
    this.closeWebsockets(WsCloseCode.SERVICE_RESTART, `${this.opts.app} is restarting`);
    this.kill();
  }

  /** Resolves when the process has exited (at once if it never started). */
  exited(): Promise<void> {
    return this.exitPromise;
  }
}
