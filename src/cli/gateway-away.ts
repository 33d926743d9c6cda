// What `status --watch` and `logs -f` share to outlive a restart of the gateway (`systemctl
// restart`, an upgrade), as `tail -F` outlives a file that is replaced: which errors mean the
// gateway is away for now, how often it is tried again, the one line on stderr that says so,
// and Ctrl-C ending the wait with 0.
import { setTimeout as delay } from 'node:timers/promises';
import { isGatewayError, type GatewayError } from '../errors.js';
import type { AddressMoved } from './admin-client.js';
import { endLineAfterInterrupt } from './stdio.js';

/** Between tries to reach a gateway that went away: what a restart takes, said once, not a flood. */
export const RECONNECT_MS = 1000;

/**
 * A gateway that is not there now but may be back: stopped or restarting, its socket gone or
 * refused meanwhile, or one that took the connection and said nothing while it starts. A
 * refused token (401), an app it does not know or another server's answer is not waited out.
 */
const AWAY = new Set(['APPPKG_ADMIN_GONE', 'APPPKG_ADMIN_UNREACHABLE', 'APPPKG_ADMIN_NO_ANSWER']);

/** The gateway asked: where it is now, and, given no --admin, where its state root says it is (AdminClient). */
export interface AwayTarget {
  readonly address: string;
  rereadAddress(): AddressMoved | null;
}

export class GatewayAway {
  private reached = false;
  private lost = false;
  private saidSilent = false;

  constructor(private readonly target: AwayTarget) {}

  /**
   * The gateway answered; true when it had been lost, for the caller to say it is back (with
   * what it knows: the new pid, where the log goes on from).
   */
  back(): boolean {
    this.reached = true;
    const was = this.lost;
    this.lost = false;
    return was;
  }

  /**
   * Runs `follow` (one connection, returning when the user stops it) until it returns or throws
   * what is not the gateway being away; while it is, tries again every RECONNECT_MS. A gateway
   * never reached (never `back()`) is still an error, unless it ended a stream it had begun.
   */
  async run(follow: () => Promise<void>): Promise<void> {
    const stopped = new AbortController();
    const stop = (): void => stopped.abort();
    let interrupted = false;
    const interrupt = (): void => {
      interrupted = true;
      stop();
    };
    // For the whole run: between two connections no follow holds these, and Node's default
    // would end the command by the signal, not with 0.
    process.on('SIGINT', interrupt);
    process.on('SIGTERM', stop);
    try {
      while (!stopped.signal.aborted) {
        try {
          await follow();
          return;
        } catch (err) {
          if (!isGatewayError(err) || !AWAY.has(err.code) || (!this.reached && err.code !== 'APPPKG_ADMIN_GONE')) throw err;
          this.say(err);
        }
        await delay(RECONNECT_MS, undefined, { signal: stopped.signal }).catch(() => {});
        // Each try after a failure asks where the state root's admin.address says it is now.
        const moved = stopped.signal.aborted ? null : this.target.rereadAddress();
        if (moved !== null) {
          process.stderr.write(`apppkg-gateway: ${moved.file} names ${moved.to} now (it named ${moved.from}: the gateway was started again on another address); trying there\n`);
        }
      }
    } finally {
      process.off('SIGINT', interrupt);
      process.off('SIGTERM', stop);
      if (interrupted) endLineAfterInterrupt();
    }
  }

  private say(err: GatewayError): void {
    // A try that connected and got no answer's head within its bound (AdminClient.follow) is
    // given up and made again: said once, as it is no longer the gateway merely gone.
    if (this.lost && err.code === 'APPPKG_ADMIN_NO_ANSWER' && !this.saidSilent) {
      this.saidSilent = true;
      const why = typeof err.details.reason === 'string' ? ` (${err.details.reason})` : '';
      process.stderr.write(`apppkg-gateway: the gateway at ${this.target.address} took the connection and did not answer${why}; trying again every ${RECONNECT_MS / 1000} s\n`);
      return;
    }
    if (this.lost) return;
    this.lost = true;
    const why = typeof err.details.reason === 'string' ? ` (${err.details.reason})` : '';
    process.stderr.write(`apppkg-gateway: lost the gateway at ${this.target.address}${why}; waiting for it to come back, trying every ${RECONNECT_MS / 1000} s (Ctrl-C stops)\n`);
  }
}
