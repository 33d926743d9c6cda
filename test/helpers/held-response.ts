// A response held back for a client that stopped reading, measured: how much the app produced
// before it was held, and how much of that is still in the gateway (its Node side, the link,
// the worker) rather than in the kernel. The kernel's share, read from /proc/net/tcp (the
// server side's unacknowledged send queue, the client side's unread receive queue), grows with
// the host's tcp_wmem (autotuned up to 4 MiB on Debian, more elsewhere) as it would under any
// server; what is left is what the response window (docs/protocol.md §5) lets through.
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';

export interface HeldResponse {
  /** Body bytes the app produced, once it stopped producing. */
  produced: number;
  /** Bytes in the kernel's queues of the connection. */
  inKernel: number;
  /** produced - inKernel: held by the gateway and the worker. */
  inGateway: number;
}

function portOf(address: string): number {
  return parseInt(address.slice(address.indexOf(':') + 1), 16);
}

/** The kernel's queues of `client`'s loopback connection (both ends in this network namespace). */
function kernelQueued(client: Socket): number {
  const clientPort = client.localPort!;
  const serverPort = client.remotePort!;
  let sendQueue: number | null = null;
  let receiveQueue: number | null = null;
  for (const line of readFileSync('/proc/net/tcp', 'latin1').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5) continue;
    const [local, remote] = [portOf(fields[1]), portOf(fields[2])];
    const [tx, rx] = fields[4].split(':').map((hex) => parseInt(hex, 16));
    if (local === serverPort && remote === clientPort) sendQueue = tx;
    else if (local === clientPort && remote === serverPort) receiveQueue = rx;
  }
  if (sendQueue === null || receiveQueue === null) throw new Error(`no connection ${clientPort} <-> ${serverPort} in /proc/net/tcp`);
  return sendQueue + receiveQueue;
}

/**
 * Waits until `produced()` (the app's own count of the body bytes it sent) stops growing, read
 * every 300 ms, for at most `ms`; `client` is the connection that stopped reading.
 */
export async function heldResponse(client: Socket, produced: () => Promise<number>, ms = 10_000): Promise<HeldResponse> {
  const deadline = Date.now() + ms;
  let last = -1;
  let now = await produced();
  while (now !== last) {
    if (Date.now() > deadline) throw new Error(`the app still produced after ${ms} ms (${now} bytes): not held back`);
    await new Promise((r) => setTimeout(r, 300));
    last = now;
    now = await produced();
  }
  const inKernel = kernelQueued(client);
  return { produced: now, inKernel, inGateway: now - inKernel };
}
