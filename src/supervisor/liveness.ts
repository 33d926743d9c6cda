// Liveness of a process that serves on a loopback port (a `processes:` entry with a route, and
// processes.web): SPEC §4 supervises and restarts processes, and its pid alone said nothing of
// one that hung (SIGSTOPped, an event loop stuck in a call): alive, accepting nothing, each
// request to its route waiting out the proxy's timeout, for ever. As a Kubernetes liveness
// probe does for the exported pod, every LIVENESS_EVERY_MS it is asked, and LIVENESS_FAILURES
// failures in a row have it killed and restarted with the back-off of a crash.
// The question: connect, end our side at once, and wait for the server to close its own. A
// connect alone passes on a stopped process (the kernel completes the handshake into the listen
// backlog); a server that runs accepts, reads the end and closes, so no request reaches the app
// and nothing is written in its log every few seconds, as an HTTP probe would be.
import net from 'node:net';

export const LIVENESS_EVERY_MS = 10_000;
export const LIVENESS_TIMEOUT_MS = 5_000;
export const LIVENESS_FAILURES = 3;

/**
 * Does the server on 127.0.0.1:`port` accept a connection and close it once we end ours, within
 * `timeoutMs`? null when it does, else why not.
 */
export function probeConnection(port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    const settle = (why: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(why);
    };
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      connected = true;
      socket.end();
    });
    socket.on('data', () => {}); // whatever it says is an answer; 'end' follows
    socket.once('end', () => settle(null));
    socket.once('close', () => settle(connected ? null : `nothing accepts connections on 127.0.0.1:${port}`));
    // A reset once connected is the server's answer too (it accepted, and closed without reading).
    socket.once('error', (err: NodeJS.ErrnoException) => settle(connected ? null : `nothing accepts connections on 127.0.0.1:${port} (${err.code ?? err.message})`));
    const timer = setTimeout(() => {
      // Past the timers phase first: a gateway that stalled (a busy host) reads the answer that
      // came meanwhile before it is judged missing.
      setImmediate(() => settle(connected ? `127.0.0.1:${port} took a connection and did not close it within ${timeoutMs / 1000} s` : `127.0.0.1:${port} accepted no connection within ${timeoutMs / 1000} s`));
    }, timeoutMs);
  });
}

export interface LivenessOptions {
  port: number;
  /** Requests in flight: a server busy with them may be slow to accept, and the proxy's timeout judges them. */
  busy: () => boolean;
  /** Told once, after `failures` in a row: why, for the log and the restart line. */
  onUnresponsive: (why: string) => void;
  everyMs?: number;
  timeoutMs?: number;
  failures?: number;
}

export class Liveness {
  private timer: NodeJS.Timeout | null = null;
  private asking = false;
  private failed = 0;
  private firstFailureAt = 0;

  constructor(private readonly opts: LivenessOptions) {}

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => void this.ask(), this.opts.everyMs ?? LIVENESS_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private async ask(): Promise<void> {
    if (this.asking || this.opts.busy()) return;
    this.asking = true;
    const why = await probeConnection(this.opts.port, this.opts.timeoutMs ?? LIVENESS_TIMEOUT_MS).finally(() => (this.asking = false));
    if (this.timer === null) return; // stopped meanwhile: it is going anyway
    if (why === null) {
      this.failed = 0;
      return;
    }
    if (this.failed++ === 0) this.firstFailureAt = performance.now();
    const failures = this.opts.failures ?? LIVENESS_FAILURES;
    if (this.failed < failures) return;
    this.stop();
    const seconds = Math.round((performance.now() - this.firstFailureAt) / 1000) + Math.round((this.opts.timeoutMs ?? LIVENESS_TIMEOUT_MS) / 1000);
    this.opts.onUnresponsive(`unresponsive: ${why}, ${failures} times in a row over ${seconds} s`);
  }
}
