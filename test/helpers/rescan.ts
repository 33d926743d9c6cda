// A gateway's scans of its apps waited for by their end (`scan` of /status; README, "Knowing a
// rescan has ended"), as a deploy script waits: not a fixed second or two after the SIGHUP,
// which was slow, and too short on a loaded machine, where the look had not even begun.
import { gatewayStatus } from './status.js';
import { ASK_GATEWAY_EVERY_MS, waitFor, type RunningGateway } from './process.js';

export interface ScanStatus {
  started: number;
  finished: number;
  finishedAt: string | null;
  changed: string[];
}

/** How a test reads the gateway's status: its own fetch for a gateway behind an admin token. */
export type StatusOf = (gw: RunningGateway) => Promise<any>;

/** The gateway's `scan` now. */
export async function scanOf(gw: RunningGateway, statusOf: StatusOf = gatewayStatus): Promise<ScanStatus> {
  const scan = (await statusOf(gw)).scan as ScanStatus | undefined;
  if (scan === undefined) throw new Error('the gateway\'s /status has no `scan`');
  return scan;
}

/**
 * Waits until the scans begun after `started` (a `scan.started` read after the change) have one
 * that ended: it saw the change, and each app it found is judged. Its `scan`.
 */
export function scanEndedAfter(gw: RunningGateway, started: number, ms = 30_000, statusOf: StatusOf = gatewayStatus): Promise<ScanStatus> {
  return waitFor(async () => {
    const scan = await scanOf(gw, statusOf);
    return scan.finished > started ? scan : null;
  }, ms, `a scan begun after scan ${started} to end`, ASK_GATEWAY_EVERY_MS);
}

/**
 * SIGHUP, and a scan waited for to its end (the apps it found judged): what the gateway does
 * about the files as they are now is done. `started` is read before the signal: the scan after it
 * began after the read (the signal's, or the watcher's before it), so it saw the files as they are.
 */
export async function rescanned(gw: RunningGateway, ms = 30_000, statusOf: StatusOf = gatewayStatus): Promise<ScanStatus> {
  const { started } = await scanOf(gw, statusOf);
  gw.child.kill('SIGHUP');
  return scanEndedAfter(gw, started, ms, statusOf);
}
