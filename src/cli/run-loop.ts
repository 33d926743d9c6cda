// What long-running commands (serve, the gateway) share: waiting for a stop signal, printing
// the Python traceback of an app that failed to start before its one-line error, and how an
// address they listen on is announced.
import { isGatewayError, type GatewayError } from '../errors.js';

function waitForStopSignal(also: NodeJS.Signals[]): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', ...also];
    // A second Ctrl-C while we drain means "now": said, then the default handler exits at once
    // (130 or 143), the requests still in flight cut; the apps' processes go as at any kill of
    // the gateway (their guard). Unsaid, the user saw the prompt come back with no word of it.
    const again = (sig: NodeJS.Signals) => {
      for (const s of signals) process.off(s, again);
      process.stderr.write(`apppkg-gateway: ${sig} again: stopping at once; requests still in flight are cut\n`);
      process.kill(process.pid, sig);
    };
    const on = (sig: NodeJS.Signals) => {
      for (const s of signals) process.off(s, on);
      for (const s of signals) process.on(s, again);
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

/** An address as the `listening on` and `admin on` lines give it: a URL's root with its slash, a unix socket's path as it is. */
export function announced(url: string): string {
  return url.startsWith('unix:') ? url : `${url}/`;
}
