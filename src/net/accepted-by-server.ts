// Whether a loopback connection we opened has been taken by the server's program or still
// waits in its listen queue. The kernel completes a handshake for a program that never calls
// accept() (stopped, its loop stuck): from our side both look connected. Linux lists the
// server's end in /proc/net/tcp (tcp6 for a server on ::) with the inode of its socket file,
// which a connection gets only once accept() hands it to the program: 0 while it waits.
import { readFileSync } from 'node:fs';

const TABLES = ['/proc/net/tcp', '/proc/net/tcp6'];

/**
 * The server's end of our connection from local port `clientPort` to `serverPort`: true once
 * its program accepted it, false while it waits in the listen queue, null when this cannot be
 * told (no /proc/net, or the server's end is gone).
 */
export function acceptedByServer(serverPort: number, clientPort: number): boolean | null {
  // Addresses are written HEXADDR:PORT, the port as 4 upper-case hex digits.
  const local = `:${serverPort.toString(16).toUpperCase().padStart(4, '0')}`;
  const remote = `:${clientPort.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const table of TABLES) {
    let text: string;
    try {
      text = readFileSync(table, 'latin1');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode ...
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || !fields[1].endsWith(local) || !fields[2].endsWith(remote)) continue;
      // Open (ESTABLISHED, or CLOSE_WAIT once our end came): its inode says. Closing (LAST_ACK,
      // CLOSING), it has no file left, but only a program that took it could close it.
      if (fields[3] === '01' || fields[3] === '08') return fields[9] !== '0';
      if (fields[3] === '09' || fields[3] === '0B') return true;
    }
  }
  return null;
}
