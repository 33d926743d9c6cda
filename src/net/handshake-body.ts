// The body of a websocket handshake that says `Transfer-Encoding: chunked`. RFC 6455 §4.1 asks
// for a GET and RFC 9110 §9.3.1 gives a GET's content no meaning, but neither forbids the
// framing of none: `chunked` with only its last chunk is a handshake nginx and uvicorn switch.
// node:http switches at the head, whatever its framing says, and hands over what follows it as
// the upgrade's first bytes: the empty chunked body (`0\r\n\r\n`, a trailer section perhaps) is
// read here and dropped, so that the websocket begins after it. Content is refused: its bytes
// would reach the app as frames (or a routed process as more of the request than it framed).
import type { Socket } from 'node:net';
import { ChunkedBody } from './chunked-body.js';

/** Why a handshake with content is refused (its Content-Length or its chunks). */
export const BODY_IN_HANDSHAKE = 'a body in a websocket handshake: its bytes would run into the websocket\'s; send the handshake (a GET) without a body (Content-Length: 0, or a chunked body of its last chunk alone, is taken)';

export type HandshakeBody = { rest: Buffer } | { problem: string; status: 400 | 431 };

/**
 * Reads the empty chunked body of a handshake from `head`, then from `socket` until it ends.
 * Resolves to the bytes after it (the websocket's first), or to why the handshake is refused:
 * content, framing that is not chunked, the connection's end or `timeoutMs` before the body's.
 */
export function readEmptyChunkedBody(socket: Socket, head: Buffer, timeoutMs: number): Promise<HandshakeBody> {
  const body = new ChunkedBody();
  let content = false;
  /** The answer once `data` has settled it, else null (more is needed). */
  const feed = (data: Buffer): HandshakeBody | null => {
    const end = body.read(data, 0, (piece) => {
      if (piece.length > 0) content = true;
    });
    if (content) return { problem: BODY_IN_HANDSHAKE, status: 400 };
    if (body.failed) return { problem: `the websocket handshake's chunked body: ${body.problem}`, status: body.refusal };
    return body.done ? { rest: data.subarray(end) } : null;
  };
  const settled = feed(head);
  if (settled !== null) return Promise.resolve(settled);
  return new Promise((resolve) => {
    const finish = (answer: HandshakeBody): void => {
      clearTimeout(timer);
      // 'readable', not 'data': once it is removed the socket is back where node:http left it
      // (neither flowing nor paused), and whoever takes the websocket reads on from there.
      socket.off('readable', onReadable);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      resolve(answer);
    };
    const onReadable = (): void => {
      let data: Buffer | null;
      while ((data = socket.read() as Buffer | null) !== null) {
        const answer = feed(data);
        if (answer !== null) return finish(answer);
      }
    };
    const onEnd = (): void => finish({ problem: 'the websocket handshake\'s chunked body was cut short by the end of the connection', status: 400 });
    const timer = setTimeout(() => finish({ problem: `the websocket handshake's chunked body did not end within ${Math.round(timeoutMs / 1000)} s`, status: 400 }), timeoutMs);
    socket.on('readable', onReadable);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
  });
}
