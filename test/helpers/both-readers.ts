// Two gateways over one apps directory, for what must be the same whichever reader has the
// request: the lean lane (src/proxy/lean-lane.ts), and node:http reading every request
// (APPPKG_LEAN_LANE=0). Each has its own state root. The lane's value is set either way: one
// left off by the caller's environment would make a comparison vacuous.
import { startCli, tempDir, type RunningGateway } from './process.js';

export interface BothReaders {
  lean: RunningGateway;
  node: RunningGateway;
  /** Stops both, then removes their state roots and the apps directory. */
  stop(): Promise<void>;
}

export async function startBothReaders(apps: { path: string; remove(): void }, args: string[] = []): Promise<BothReaders> {
  const states = [tempDir('apppkg-lean-reader-'), tempDir('apppkg-node-reader-')];
  const start = (state: string, lane: string): Promise<RunningGateway> =>
    startCli(['--apps', apps.path, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', state, ...args], { env: { APPPKG_LEAN_LANE: lane } });
  const started = await Promise.allSettled([start(states[0].path, '1'), start(states[1].path, '0')]);
  const stop = async (): Promise<void> => {
    await Promise.all(started.map((s) => (s.status === 'fulfilled' ? s.value.stop() : undefined)));
    apps.remove();
    for (const state of states) state.remove();
  };
  const failed = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  const [lean, node] = started.map((s) => (s as PromiseFulfilledResult<RunningGateway>).value);
  return { lean, node, stop };
}

/** The port a gateway listens on, for raw sockets. */
export const portOf = (gw: RunningGateway): number => Number(new URL(gw.url).port);

/** An answer's bytes with its Date fields made equal: the two gateways answer in different seconds. */
export const withoutDates = (raw: string): string => raw.replace(/\r\nDate: [^\r]*/g, '\r\nDate: -');

/** The access-log lines of requests whose target has `tag`, without their time and duration. */
export const logLinesOf = (gw: RunningGateway, tag: string): string[] =>
  gw
    .output()
    .split('\n')
    .filter((l) => l.includes(tag))
    .map((l) => l.replace(/\[[^\]]*\]/, '[-]').replace(/ dur=[\d.]+$/, ''));
