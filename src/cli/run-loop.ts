// What long-running commands (serve, the gateway) share: waiting for a stop signal, and
// printing the Python traceback of an app that failed to start before its one-line error.
import { isGatewayError, type GatewayError } from '../errors.js';

export function waitForStopSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM'];
    const on = (sig: NodeJS.Signals) => {
      for (const s of signals) process.off(s, on);
      // A second Ctrl-C while we drain means "now": the default handler exits at once.
      resolve(sig);
    };
    for (const s of signals) process.on(s, on);
  });
}

export function printAppError(err: unknown): void {
  if (!isGatewayError(err)) return;
  const traceback = (err as GatewayError).details.traceback;
  if (typeof traceback === 'string' && traceback.trim()) process.stderr.write(`${traceback.trimEnd()}\n`);
}
