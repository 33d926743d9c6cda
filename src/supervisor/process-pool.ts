// An app version's `processes:` (SPEC §1.1), one slot each with a back-off of its own: each is
// spawned in the app's command environment and is up once its port accepts (and `health:`
// answers, for web). Those that take requests (web, or one with a `route`) are published to the
// rotation and sleep with the workers when the app is idle; the others run in the background.
import { RequestTally } from '../admin/request-tally.js';
import type { HealthStatus, ProcessStatus } from '../admin/status-types.js';
import { commandEnvironment, restoreForSpawn } from '../environment/app-env.js';
import { Backoff } from './backoff.js';
import { CommandProcess } from './command-process.js';
import type { PoolContext, PoolOptions } from './pool-context.js';
import { Slot } from './slot.js';
import type { StartStep } from './start-steps.js';
import { wallTimeOf } from '../wall-clock.js';

/** Durations kept per routed process for its percentiles (an app's keep LATENCY_WINDOW). */
const PROCESS_LATENCY_WINDOW = 512;

/** A process that takes requests: web (a command app's server, `route` null) or one with a route. */
export interface ProcessRoute {
  name: string;
  route: string | null;
}

export class ProcessPool {
  /** The processes that take requests, longest route first; web (route null) last. */
  readonly routes: ProcessRoute[];
  /** `serves`: web or a process with a route (it sleeps with the workers); else a background process. */
  private readonly entries: Array<{ name: string; slot: Slot<CommandProcess>; serves: boolean; tally: RequestTally }> = [];
  /** The last answer of processes.web to `health:` (its starts are the only times it is asked), across its restarts. */
  lastProbe: HealthStatus | null = null;
  /** The step of the version's start each serving process is in, while it comes up (onProbe tells it the probe's answers). */
  private readonly starting = new Map<CommandProcess, StartStep>();

  constructor(private readonly opts: PoolOptions, private readonly ctx: PoolContext) {
    for (const [name, spec] of Object.entries(opts.desc.processes)) {
      const serves = name === 'web' || spec.route !== null;
      // Per process name, across its restarts: what its route answered since the version started.
      const tally = new RequestTally(ctx.tally, PROCESS_LATENCY_WINDOW);
      const slot = new Slot<CommandProcess>({
        app: opts.desc.name,
        spawn: () => this.spawn(name, spec.command, serves),
        bringUp: (p) => this.bringUp(p, name, serves),
        label: (p) => `processes.${name} ${p.pid ?? ''}`.trimEnd(),
        backoff: new Backoff(),
        say: opts.say,
        onLive: (p) => {
          if (serves && p.port !== null) ctx.rotation.publish(p, { kind: 'process', name, port: p.port, label: p.label, held: p.held, tally, say: (line) => opts.say(`${opts.desc.name}: ${line}`) });
        },
        onRetired: (p) => ctx.rotation.unpublish(p),
        drain: (p) => ctx.members.stopOnce(p, () => p.stop(ctx.drainMs())),
        onExited: ctx.onExited,
      });
      this.entries.push({ name, slot, serves, tally });
    }
    this.routes = Object.entries(opts.desc.processes)
      .filter(([name, spec]) => name === 'web' || spec.route !== null)
      .map(([name, spec]) => ({ name, route: name === 'web' ? null : spec.route }))
      .sort((a, b) => (b.route?.length ?? -1) - (a.route?.length ?? -1));
  }

  /** Every process's slot. */
  get slots(): Array<Slot<CommandProcess>> {
    return this.entries.map((p) => p.slot);
  }

  /** The slots of the processes that take requests (they sleep when the app is idle). */
  get servingSlots(): Array<Slot<CommandProcess>> {
    return this.entries.filter((p) => p.serves).map((p) => p.slot);
  }

  /** `stopped`: the instance is stopping or stopped, so a process without one is not restarting. */
  status(stopped: boolean): ProcessStatus[] {
    const idle = stopped ? 'stopped' : 'restarting';
    return this.entries.map(({ name, slot, serves, tally }) => ({
      name,
      pid: slot.current?.pid ?? null,
      state: slot.crashLooping ? 'crash-loop' : (slot.current?.state ?? idle),
      route: this.opts.desc.processes[name].route,
      port: slot.current?.port ?? null,
      restarts: slot.restarts,
      startedAt: slot.currentSince === null ? null : new Date(wallTimeOf(slot.currentSince)).toISOString(),
      rssBytes: null,
      cpuPercent: null,
      lastExit: slot.lastExit,
      ...(serves ? { inFlight: slot.current?.inFlight ?? 0, queued: 0, websockets: slot.current?.openWebsockets ?? 0, ...tally.figures() } : {}),
    }));
  }

  /** Up once its port accepts (and web's probe answers); the version's start is told each step. */
  private async bringUp(proc: CommandProcess, name: string, serves: boolean): Promise<void> {
    const step = serves ? this.ctx.startSteps()?.begin('listen', () => `processes.${name}${proc.pid === undefined ? '' : ` ${proc.pid}`} to accept connections on 127.0.0.1:${proc.port ?? '$PORT'}`) : undefined;
    if (step !== undefined) this.starting.set(proc, step);
    try {
      await proc.start(this.opts.startTimeoutMs);
    } finally {
      step?.end();
      this.starting.delete(proc);
    }
  }

  private spawn(name: string, command: string, serves: boolean): CommandProcess {
    const { appEnv, desc } = this.opts;
    restoreForSpawn(appEnv, this.opts.uid === undefined ? undefined : { uid: this.opts.uid, gid: this.opts.gid! });
    const proc = new CommandProcess({
      app: desc.name,
      name,
      command,
      serves,
      env: { ...commandEnvironment(appEnv), APPPKG_MOUNT: this.opts.mount ?? '' },
      cwd: desc.dir,
      uid: this.opts.uid,
      gid: this.opts.gid,
      log: this.ctx.output.stdout,
      stderrLog: this.ctx.output.stderr,
      throttle: this.ctx.output.throttle,
      health: name === 'web' ? desc.health : null,
      mount: this.opts.mount,
      onProbe: (probe) => {
        this.lastProbe = probe;
        const step = this.starting.get(proc);
        if (step === undefined || probe.ok) return;
        if (step.kind !== 'probe') step.to('probe', () => `processes.${name} ${proc.pid ?? '?'}'s health probe GET ${probe.path} to answer 2xx or 3xx`);
        step.probeFailed(probe.status, probe.status === null ? probe.error : null);
      },
    });
    proc.on('killing', (why: string) => this.opts.say(`${desc.name}: processes.${name} ${proc.pid ?? '?'} ${why}; killing it`));
    this.ctx.members.enlist(proc);
    return proc;
  }
}
