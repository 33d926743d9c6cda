// Whether a client that sent its FIN while an answer is owed to it still reads. A FIN says only
// that the client sends nothing more: `printf ... | nc -N` (shutdown(SHUT_WR)) waits for the
// answer, while curl -m, a closed tab or a client library's timeout close the socket and never
// read it, and TCP sends the same FIN for both. nginx and node:http (httpAllowHalfOpen off)
// take every FIN for a leave; the gateway answers the half-closed client, so it asks instead:
// an interim 100 (Continue) goes out, which an HTTP/1.1 client must take before its answer
// (RFC 9110 §15.2), and a socket already closed answers it with a reset. Linux reports that
// reset at the next write only (Node reads nothing more after the FIN), so a second interim
// follows; its EPIPE closes the connection, and the request's 'close' tells the app, the
// process or the queue that the client left, as a reset from the client does. An answer that
// comes within PROBE_EVERY_MS of the FIN gets no interim at all; HTTP/1.0 clients get none ever
// (RFC 9110 §15.2: no 1xx to them), their leave is found when the answer is written.
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

export const INTERIM_CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
/** From the FIN to the first interim, and between the two: past a round trip on any path worth serving. */
export const PROBE_EVERY_MS = 1000;
const PROBES = 2;

/**
 * Probes `socket`, whose client has just sent its FIN. `interim` writes INTERIM_CONTINUE ahead
 * of the answer the client waits for and says true, or says false when there is nothing to
 * probe for (no answer owed, its head already on its way, an HTTP/1.0 request): then the probe
 * ends. Once per connection at most (its FIN), never on a request's path.
 */
export function probeAfterEnd(socket: Socket, interim: () => boolean): void {
  let probes = 0;
  const timer = setTimeout(() => {
    if (socket.destroyed || !interim()) return;
    if (++probes < PROBES) timer.refresh();
  }, PROBE_EVERY_MS);
  // No 'close' listener to clear it: a socket closed meanwhile is seen at the next tick, and a
  // tunnel's socket (an upgrade, whose FIN comes here too) carries a dozen already.
  timer.unref();
}

/**
 * probeAfterEnd's interim on a connection node:http reads: ahead of the answer that holds the
 * socket (`_httpMessage`; those pipelined behind it wait for it), if its head has not gone.
 */
export function nodeInterim(socket: Socket): boolean {
  const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (res == null || res.headersSent || res.req?.httpVersion !== '1.1') return false;
  res.writeContinue();
  return true;
}
