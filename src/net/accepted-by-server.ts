// Whether a loopback connection we opened has been taken by the server's program or still
// waits in its listen queue. The kernel completes a handshake for a program that never calls
// accept() (stopped, its loop stuck): from our side both look connected. Linux lists the
// server's end in /proc/net/tcp (tcp6 for a server on ::) with the inode of its socket file,
// which a connection gets only once accept() hands it to the program: 0 while it waits.
import { tcpSockets } from './tcp-sockets.js';

/**
 * The server's end of our connection from local port `clientPort` to `serverPort`: true once
 * its program accepted it, false while it waits in the listen queue, null when this cannot be
 * told (no /proc/net, or the server's end is gone).
 */
export function acceptedByServer(serverPort: number, clientPort: number): boolean | null {
  for (const socket of tcpSockets()) {
    if (socket.localPort !== serverPort || socket.remotePort !== clientPort) continue;
    // Open (ESTABLISHED, or CLOSE_WAIT once our end came): its inode says. Closing (LAST_ACK,
    // CLOSING), it has no file left, but only a program that took it could close it.
    if (socket.state === '01' || socket.state === '08') return socket.inode !== '0';
    if (socket.state === '09' || socket.state === '0B') return true;
  }
  return null;
}
