// The wait in Gateway.start for the first reconcile: serve waits for its one app to be judged;
// --apps for every app, within a bound, naming those still starting past it, so that an import
// that is slow or hangs holds back neither the other apps nor "listening on".
import type { Registry } from './supervisor/registry.js';

/** Did `work` settle within `ms`? */
async function settlesWithin(work: Promise<void>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([work.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** How long the start waits for versions still being copied. */
const START_SETTLE_LIMIT_MS = 30_000;
/**
 * Under --apps, how long start() waits for every app to be judged before it returns (the CLI
 * then says "listening on"). Requests are answered before: an app that serves is routed to, an
 * app still starting holds its requests until it serves. Past this an app whose import is slow
 * or hangs is named, and the start goes on without it.
 */
const START_ANNOUNCE_LIMIT_MS = 10_000;

/**
 * Resolves once the first reconcile has judged the apps (under --apps, or after
 * START_ANNOUNCE_LIMIT_MS), or at once when `stopWaiting` is aborted: false then.
 */
export async function waitForFirstJudgement(registry: Registry, single: boolean, say: (line: string) => void, stopWaiting?: AbortSignal): Promise<boolean> {
  const judged = (async () => {
    await registry.reconcile();
    // A version still being copied when the gateway starts is waited for, within a bound.
    // serve has its one app alone: it waits out that app's service back-off, within the bound.
    await registry.settled(START_SETTLE_LIMIT_MS, { backOff: single });
  })();
  let stopped = false;
  const done = stopWaiting === undefined ? judged : Promise.race([judged, abortOf(stopWaiting).then(() => void (stopped = true))]);
  if (single) {
    await done;
  } else if (!(await settlesWithin(done, START_ANNOUNCE_LIMIT_MS))) {
    const starting = registry.startingNames;
    if (starting.length > 0) say(`still starting after ${START_ANNOUNCE_LIMIT_MS / 1000} s: ${starting.join(', ')}; the other apps serve, and requests for these wait for them`);
  }
  return !stopped;
}

function abortOf(signal: AbortSignal): Promise<void> {
  return signal.aborted ? Promise.resolve() : new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
