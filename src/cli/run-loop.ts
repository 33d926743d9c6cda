// What long-running commands (serve, the gateway) share: waiting for a stop signal, printing
// the Python traceback of an app that failed to start before its one-line error, and how an
// address they listen on is announced.
import { isatty } from 'node:tty';
import { isGatewayError, type GatewayError } from '../errors.js';
import { formatAddr, wildcardReach, type ListenAddress } from '../net/address.js';

/**
 * A SIGTERM this soon after the first is the same stop reaching us again. A process group's kill
 * (`timeout`, systemd's stop of a unit running `npm start`, `kill -TERM -PGID`) reaches the
 * gateway and each parent that passes signals on (npm, scripts/start.mjs), whose copies follow a
 * turn of their event loop later: milliseconds, a few hundred on a loaded host. A second `kill`
 * typed or sent on purpose comes later than a second, and still means "at once". SIGINT gets the
 * same window only with no terminal (a CI job cancelled, `timeout -s INT`), where start.mjs
 * passes the group's SIGINT on too; from a terminal a quick second ^C is meant, and start.mjs
 * passes on none a terminal sent.
 */
export const SAME_SIGTERM_MS = 1000;

/**
 * start.mjs's own test of whether a terminal could have sent the SIGINT (any of fds 0-2 one): the
 * two must agree. isatty, not process.stdin.isTTY, which would open a stream on fd 0 to ask.
 */
const onTerminal = (): boolean => isatty(0) || isatty(1) || isatty(2);

function waitForStopSignal(also: NodeJS.Signals[]): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', ...also];
    let firstAt = 0;
    let first: NodeJS.Signals | null = null;
    // A second Ctrl-C while we drain means "now": said, then the default handler exits at once
    // (130 or 143), the requests still in flight cut; the apps' processes go as at any kill of
    // the gateway (their guard). Unsaid, the user saw the prompt come back with no word of it.
    const again = (sig: NodeJS.Signals) => {
      const copyOfTheFirst = sig === first && (sig === 'SIGTERM' || (sig === 'SIGINT' && !onTerminal()));
      if (copyOfTheFirst && performance.now() - firstAt < SAME_SIGTERM_MS) return;
      for (const s of signals) process.off(s, again);
      process.stderr.write(`apppkg-gateway: ${sig} again: stopping at once; requests still in flight are cut\n`);
      process.kill(process.pid, sig);
    };
    const on = (sig: NodeJS.Signals) => {
      first = sig;
      firstAt = performance.now();
      // `again` before `on` goes: Node gives a signal back to the kernel's default (kill) when
      // its last listener is removed, and a copy arriving in that gap (the script's, a group
      // kill's) ended the gateway with no word and its apps' workers left behind.
      for (const s of signals) process.on(s, again);
      for (const s of signals) process.off(s, on);
      resolve(sig);
    };
    for (const s of signals) process.on(s, on);
  });
}

/**
 * The stop signals from now on: `stopped` resolves with the first (as waitForStopSignal), and
 * `stopWaiting` is aborted by it, for Gateway.start to stop waiting for the apps. Installed
 * before the start, so that a signal while the apps start is a stop, not Node's default kill.
 * `also`: more signals that stop this command (serve's SIGHUP).
 */
export function watchStopSignals(also: NodeJS.Signals[] = []): { stopped: Promise<NodeJS.Signals>; stopWaiting: AbortSignal } {
  const stopped = waitForStopSignal(also);
  const controller = new AbortController();
  void stopped.then(() => controller.abort());
  return { stopped, stopWaiting: controller.signal };
}

export function printAppError(err: unknown): void {
  if (!isGatewayError(err)) return;
  const traceback = (err as GatewayError).details.traceback;
  if (typeof traceback === 'string' && traceback.trim()) process.stderr.write(`${traceback.trimEnd()}\n`);
}

/**
 * An address as the `listening on` and `admin on` lines give it: a URL's root with its slash, a
 * unix socket's path as it is. A wildcard's URL (`asked`, the address given) is a loopback one,
 * what reaches it from here: said as such, beside what it listens on, so that an operator does
 * not read a listener open to the network as one on loopback. The URL stays first, for whoever
 * copies it or a script that reads it (the first word after `listening on`).
 */
export function announced(url: string, asked?: ListenAddress): string {
  const shown = url.startsWith('unix:') ? url : `${url}/`;
  const every = asked === undefined ? null : wildcardReach(asked);
  if (every === null || asked?.kind !== 'tcp') return shown;
  const port = Number(new URL(url).port);
  return `${shown} (this URL reaches it from this host; it listens on ${formatAddr({ ...asked, port })}, ${every})`;
}
