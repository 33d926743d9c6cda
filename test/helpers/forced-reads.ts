// A client's bytes falling into the server's reads as a test wants them, on loopback: each piece
// is written alone (TCP_NODELAY: one segment), and the next only once the server has read it all
// (its end of the connection has nothing queued in /proc/net/tcp). A pause between writes does
// not do it on a loaded machine: a server busy for longer reads two pieces as one, and a case
// that needs a read to begin between a CR and its LF passes without ever testing it.
import { readFileSync } from 'node:fs';
import type { Socket } from 'node:net';

const portOf = (address: string): number => parseInt(address.slice(address.indexOf(':') + 1), 16);

/** Bytes the server's end of `client`'s loopback connection has received and not read; null once the connection is gone. */
function unreadByServer(client: Socket): number | null {
  return kernelQueues(client)?.serverUnread ?? null;
}

/**
 * What the kernel holds of `client`'s loopback connection (to 127.0.0.1), from /proc/net/tcp:
 * bytes the server's end has received and not read, has written and not sent, and the client's
 * end has received and not read. Null once the connection is gone.
 */
export function kernelQueues(client: Socket): { serverUnread: number; serverUnsent: number; clientUnread: number } | null {
  let server: string[] | null = null;
  let own: string[] | null = null;
  for (const line of readFileSync('/proc/net/tcp', 'latin1').split('\n').slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 5) continue;
    if (portOf(fields[1]) === client.remotePort && portOf(fields[2]) === client.localPort) server = fields;
    else if (portOf(fields[1]) === client.localPort && portOf(fields[2]) === client.remotePort) own = fields;
  }
  if (server === null) return null;
  // tx_queue:rx_queue, in hexadecimal
  const [serverUnsent, serverUnread] = server[4].split(':').map((hex) => parseInt(hex, 16));
  const clientUnread = own === null ? 0 : parseInt(own[4].split(':')[1], 16);
  return { serverUnread, serverUnsent, clientUnread };
}

/**
 * Writes `pieces` on `client` (connected, to 127.0.0.1), each read by the server on its own.
 * Stops early when the server closes the connection (a refusal) or stops reading it for
 * `ms` (it waits on something else: the test's to say whether that is a failure).
 */
export async function writeAsReads(client: Socket, pieces: Buffer[], ms = 10_000): Promise<void> {
  client.setNoDelay(true);
  for (const piece of pieces) {
    if (client.destroyed || client.readableEnded) return;
    await new Promise<void>((resolve) => client.write(piece, () => resolve()));
    const deadline = Date.now() + ms;
    for (let unread = unreadByServer(client); unread !== null && unread > 0; unread = unreadByServer(client)) {
      if (Date.now() > deadline) return;
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }
}
