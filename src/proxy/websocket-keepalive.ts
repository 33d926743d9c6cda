// A websocket client that stops answering (a laptop closed, a network gone, a process stopped)
// sends no close frame and no FIN: unasked, the gateway would hold its websocket for ever,
// counted in status, the app's handler waiting on it, an idle app kept awake and a drain held
// to its end. So the gateway pings it, as uvicorn does (a ping every 20 s, 20 s for the pong).
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import { testKnob } from '../test-knob.js';

const PING_INTERVAL_MS = 20_000;
/** Shortens the interval for the test suite alone (test/proxy/asgi-websocket-ping; test-knob.ts). */
const PING_INTERVAL_ENV = 'APPPKG_TEST_WS_PING_MS';
/** A server's ping with no payload: FIN+opcode, then length 0, unmasked. */
const PING_FRAME_BYTES = 2;

/**
 * Pings `ws` every interval. A client that by the next ping has sent nothing (no pong, no
 * frame) and taken none of what was sent to it is cut: `onSilent` runs, then ws's 'close' says
 * 1006 as for any connection lost. Bytes the client takes count as an answer: a client reading
 * a long stream slowly gets the ping behind the stream, and is alive meanwhile.
 */
export function keepAlive(ws: WebSocket, socket: Socket, onSilent: (silentMs: number) => void): void {
  const intervalMs = testKnob(PING_INTERVAL_ENV, PING_INTERVAL_MS);
  let heard = true;
  let taken = takenBy(socket);
  const hear = () => {
    heard = true;
  };
  ws.on('pong', hear);
  ws.on('ping', hear);
  ws.on('message', hear);
  const timer = setInterval(() => {
    const now = takenBy(socket);
    const movedOn = now - taken > PING_FRAME_BYTES;
    taken = now;
    if (!heard && !movedOn) {
      clearInterval(timer);
      onSilent(intervalMs);
      ws.terminate();
      return;
    }
    heard = false;
    ws.ping();
  }, intervalMs);
  timer.unref();
  ws.once('close', () => clearInterval(timer));
}

/** Bytes the socket has handed to the kernel: what it buffers itself is not yet taken. */
function takenBy(socket: Socket): number {
  return socket.bytesWritten - socket.writableLength;
}
