// A node:http response that waits behind another on a pipelined connection has no socket yet:
// node:http gives it the socket once the one before it finishes. When the connection closes
// first, node:http destroys the waiting request and says nothing to its response
// (lib/_http_server.js abortIncoming: "Abort socket._httpMessage ?"): no 'close', ever. Whatever
// listens for that 'close' waited for good: the front's count of requests in flight (a SIGTERM
// then waited out its whole --grace with no client left), the app's queue, and the exchange
// that tells the app its client left.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * Makes `res` close with `socket` when it is still waiting for it then, as node:http closes the
 * response that holds the socket: destroyed (what the app writes after is dropped), then
 * 'close'. A response that holds the socket already needs nothing.
 */
export function closeQueuedWithConnection(res: ServerResponse, socket: Socket): void {
  if (res.socket !== null) return;
  const closed = (): void => {
    if (res.socket !== null) return;
    res.destroy();
    res.emit('close');
  };
  if (socket.destroyed) {
    process.nextTick(closed);
    return;
  }
  socket.once('close', closed);
  res.once('socket', () => socket.removeListener('close', closed));
}
