// Two gateways over one apps directory, for what must be the same whichever reader has the
// request: the lean lane (src/proxy/lean-lane.ts), and node:http reading every request
// (APPPKG_LEAN_LANE=0). Each has its own state root. The lane's value is set either way: one
// left off by the caller's environment would make a comparison vacuous.
import net from 'node:net';
import { recorded, startCli, tempDir, waitFor, type RunningGateway } from './process.js';

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

/** The status code of each HTTP/1.1 answer in a connection's raw bytes, in order. */
export const statusesOf = (raw: string): number[] => [...raw.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

/** The access-log lines of requests whose target has `tag`, without their time and duration. */
export const logLinesOf = (gw: RunningGateway, tag: string): string[] =>
  gw
    .output()
    .split('\n')
    .filter((l) => l.includes(tag))
    .map((l) => l.replace(/\[[^\]]*\]/, '[-]').replace(/ dur=[\d.]+$/, ''));

export type Reader = 'the lean lane' | 'node:http';

/**
 * A request line llhttp refuses at the `x` where its version's digit belongs, sent without its
 * LF: node:http answers it 400 at once, while the lean lane holds any request line until its LF
 * comes (docs/architecture.md), here until the client's FIN, and then hands it to node:http,
 * which answers it the same 400. Both log it with this line. (A head the client's FIN cuts told
 * the readers apart until node:http logged its line too, as the lane does.)
 */
export const READER_PROBE = 'GET /which-reader HTTP/x';

/**
 * On one connection: `first`, then, once `until` has come back, READER_PROBE, and the FIN a
 * moment later (within 1 s of a 400, or after 1 s without one): which reader had the connection
 * then, and everything that came back. What either reader answers and logs is the same.
 */
export async function readerAfter(connect: () => net.Socket, first: string, until: string): Promise<{ got: string; reader: Reader }> {
  const socket = connect();
  const seen = recorded(socket);
  try {
    socket.write(first);
    await waitFor(() => seen.got.includes(until) || seen.closed, 20_000, () => `"${until}" in the answers, got ${JSON.stringify(seen.got)}`);
    const before = seen.got.length;
    socket.write(READER_PROBE);
    const refused = (): boolean => seen.got.includes('HTTP/1.1 400 ', before);
    await waitFor(refused, 1000).catch(() => {});
    const reader: Reader = refused() ? 'node:http' : 'the lean lane';
    socket.end();
    await waitFor(() => seen.closed, 5000, 'the close after the 400');
    return { got: seen.got, reader };
  } finally {
    socket.destroy();
  }
}

/**
 * What one connection that writes `bytes` gets back until the gateway closes it, or `ms` passes
 * (then `closed` is false: a kept connection is an answer of its own, never a failure here).
 */
export async function answersUntilClose(port: number, bytes: string, ms = 5000): Promise<{ got: string; closed: boolean }> {
  const socket = net.connect(port, '127.0.0.1');
  const seen = recorded(socket);
  socket.write(Buffer.from(bytes, 'latin1'));
  try {
    await waitFor(() => seen.closed, ms);
  } catch {
    // Still open: said by `closed`.
  } finally {
    socket.destroy();
  }
  return { got: seen.got, closed: seen.closed };
}
