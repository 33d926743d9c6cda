// This network namespace's TCP sockets as Linux lists them in /proc/net/tcp and tcp6: the CLI
// looks for the process behind a listener that does not answer (cli/listener-files.ts), a
// routed process's liveness for whether its server took our connection (accepted-by-server.ts).
import { readFileSync } from 'node:fs';

export interface TcpSocket {
  localPort: number;
  remotePort: number;
  /** The kernel's state, as listed: 01 ESTABLISHED, 08 CLOSE_WAIT, 0A LISTEN, ... */
  state: string;
  /** Its socket file's inode, "0" for one no program holds (a connection not yet accepted). */
  inode: string;
}

/** Every socket of /proc/net/tcp and /proc/net/tcp6; none from a table that cannot be read. */
export function tcpSockets(): TcpSocket[] {
  const sockets: TcpSocket[] = [];
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'latin1');
    } catch {
      continue;
    }
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...; an address
    // is HEXADDR:PORT, the port in hex.
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      sockets.push({ localPort: portOf(f[1]), remotePort: portOf(f[2]), state: f[3], inode: f[9] });
    }
  }
  return sockets;
}

function portOf(address: string): number {
  return parseInt(address.slice(address.lastIndexOf(':') + 1), 16);
}
