// Liveness of a process that serves on a loopback port (a `processes:` entry with a route, and
// processes.web): SPEC §4 supervises and restarts processes, and its pid alone said nothing of
// one that hung (SIGSTOPped, an event loop stuck in a call): alive, accepting nothing, each
// request to its route waiting out the proxy's timeout, for ever. As a Kubernetes liveness
// probe does for the exported pod, every LIVENESS_EVERY_MS it is asked, and LIVENESS_FAILURES
// failures in a row have it killed and restarted with the back-off of a crash.
// The question: connect, end our side at once, and wait for the server to take the connection
// (it closes its own, or the kernel says its program accepted it). A connect alone passes on a
// stopped process (the kernel completes the handshake into the listen backlog); a server that
// runs accepts, reads the end and closes, so no request reaches the app and nothing is written
// in its log every few seconds, as an HTTP probe would be.
import net from 'node:net';
import { acceptedByServer } from '../net/accepted-by-server.js';
import { silenceTimeout } from '../net/after-next-poll.js';
import { testKnob } from '../test-knob.js';

export const LIVENESS_EVERY_MS = 10_000;
export const LIVENESS_TIMEOUT_MS = 5_000;
export const LIVENESS_FAILURES = 3;
/** The suite's rounds, so that judging a process is not a minute of waiting in each test of it. */
export const LIVENESS_EVERY_ENV = 'APPPKG_TEST_LIVENESS_EVERY_MS';
export const LIVENESS_TIMEOUT_ENV = 'APPPKG_TEST_LIVENESS_TIMEOUT_MS';

/**
 * Does the program serving 127.0.0.1:`port` take a connection from its listen queue within
 * `timeoutMs`? null when it does, else why not. Taken shows as its close once ours ends, or, for
 * a server that keeps a connection open after the client's end (Node's allowHalfOpen, a
 * protocol that waits for more), as the kernel's word that the program accepted it
 * (net/accepted-by-server.ts): such a server runs, and was judged dead for it.
 */
export function probeConnection(port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    let connected = false;
    let settled = false;
    const settle = (why: string | null, reset = false): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      // Reset, not left half-closed: the kernel would keep our end of a connection the server
      // never closes (FIN_WAIT2) a minute after each probe.
      if (reset) socket.resetAndDestroy();
      else socket.destroy();
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
    // A gateway that stalled (a busy host) reads the answer that came meanwhile before it is judged missing.
    const timer = silenceTimeout(() => {
      if (settled) return;
      if (!connected) return settle(`127.0.0.1:${port} accepted no connection within ${timeoutMs / 1000} s`, true);
      const taken = socket.localPort === undefined ? null : acceptedByServer(port, socket.localPort);
      if (taken === true) return settle(null, true);
      settle(taken === false ? `127.0.0.1:${port} accepted no connection within ${timeoutMs / 1000} s (ours waited in its listen queue)` : `127.0.0.1:${port} took a connection and did not close it within ${timeoutMs / 1000} s`, true);
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
  /** When it last answered one of the proxy's requests (performance.now()), 0 before it did. */
  private answeredAt = 0;
  /** When the last round began. */
  private askedAt = 0;

  constructor(private readonly opts: LivenessOptions) {}

  private timeoutMs(): number {
    return this.opts.timeoutMs ?? testKnob(LIVENESS_TIMEOUT_ENV, LIVENESS_TIMEOUT_MS);
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => void this.ask(), this.opts.everyMs ?? testKnob(LIVENESS_EVERY_ENV, LIVENESS_EVERY_MS));
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * It answered a request of the proxy's (a response head came): it serves, whatever a probe
   * would find. A server that takes one connection at a time (Python's HTTPServer at HTTP/1.1)
   * is inside the proxy's kept-alive connection while traffic comes, and left the probe's in its
   * listen queue: it was killed for it under load.
   */
  answered(): void {
    this.answeredAt = performance.now();
  }

  private async ask(): Promise<void> {
    if (this.asking || this.opts.busy()) return;
    const askedAt = performance.now();
    const answeredSince = this.answeredAt > this.askedAt;
    this.askedAt = askedAt;
    // Answered since the last round: nothing to ask (and nothing for its log).
    if (answeredSince) {
      this.failed = 0;
      return;
    }
    this.asking = true;
    let why = await probeConnection(this.opts.port, this.timeoutMs()).finally(() => (this.asking = false));
    if (this.timer === null) return; // stopped meanwhile: it is going anyway
    if (this.answeredAt > askedAt) why = null; // it answered the proxy meanwhile: the probe waited behind that
    if (why === null) {
      this.failed = 0;
      return;
    }
    if (this.failed++ === 0) this.firstFailureAt = performance.now();
    const failures = this.opts.failures ?? LIVENESS_FAILURES;
    if (this.failed < failures) return;
    this.stop();
    const seconds = Math.round((performance.now() - this.firstFailureAt) / 1000) + Math.round(this.timeoutMs() / 1000);
    this.opts.onUnresponsive(`unresponsive: ${why}, ${failures} times in a row over ${seconds} s`);
  }
}
