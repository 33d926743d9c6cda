// A node:http response that waits behind another on a pipelined connection has no socket yet:
// node:http gives it the socket once the one before it finishes. When the connection closes
// first, node:http destroys the waiting request and says nothing to its response
// (lib/_http_server.js abortIncoming: "Abort socket._httpMessage ?"): no 'close', ever. Whatever
// listens for that 'close' waited for good: the front's count of requests in flight (a SIGTERM
// then waited out its whole --grace with no client left), the app's queue, and the exchange
// that tells the app its client left.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { endLingering } from '../net/lingering-close.js';

/**
 * The responses waiting for each connection, in request order. One 'close' listener per
 * connection, not one per response: a client pipelining more than ten requests would
 * otherwise get Node's MaxListenersExceededWarning printed on the gateway's stderr.
 */
const waitingFor = new WeakMap<Socket, Set<ServerResponse>>();

/** As node:http closes the response that holds the socket: destroyed (what the app writes after is dropped), then 'close'. */
function closeUnserved(res: ServerResponse): void {
  if (res.socket !== null) return;
  res.destroy();
  res.emit('close');
}

/**
 * Makes `res` close with `socket` when it is still waiting for it then. A response that holds
 * the socket already needs nothing.
 */
export function closeQueuedWithConnection(res: ServerResponse, socket: Socket): void {
  if (res.socket !== null) return;
  if (socket.destroyed) {
    process.nextTick(() => closeUnserved(res));
    return;
  }
  let waiting = waitingFor.get(socket);
  if (waiting === undefined) {
    const responses = new Set<ServerResponse>();
    waiting = responses;
    waitingFor.set(socket, responses);
    socket.once('close', () => {
      waitingFor.delete(socket);
      for (const queued of responses) closeUnserved(queued);
    });
  }
  waiting.add(res);
  res.once('socket', () => waiting.delete(res));
}

/**
 * `res` waits behind others for the socket, and the gateway answers its request itself (its
 * body broke: front.ts 'clientError'): when node:http gives it the socket, `answer` goes out in
 * its place, whatever the app wrote to it meanwhile (held, unsent), and the connection closes.
 * `res` never holds the socket: it closes with the connection (closeQueuedWithConnection).
 */
export function answerInsteadAtTurn(res: ServerResponse, answer: string): void {
  // node:http's only call at a waiting response's turn (lib/_http_server.js resOnFinish).
  res.assignSocket = (socket: Socket) => endLingering(socket, answer);
}
