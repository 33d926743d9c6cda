// A POST whose body comes a byte every 200 ms, 1 MiB announced: each piece restarts the
// request's own 504 clock (an upload is not a silent app), so its timeout never comes, and 1 MiB
// is past what the lean lane holds a whole answer back for (HOLD_BODY_BYTES), so an answer goes
// out as it is given. What the gateway does with such a request when its worker is stopped or
// recycled is what the tests using it look at.
import { connect } from 'node:net';

/**
 * Sends `POST path` to 127.0.0.1:`port` that way; stops sending and half-closes at the answer's
 * first byte, when `atFirstByte` runs (what the test reads of the world at that moment).
 * Resolves with what came back before the connection closed ('' for nothing); rejects after 30 s.
 */
export function tricklingPost(port: number, path: string, atFirstByte?: () => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    const trickle = setInterval(() => socket.write('x'), 200);
    const bound = setTimeout(() => {
      clearInterval(trickle);
      socket.destroy();
      reject(new Error(`POST ${path}: not closed within 30 s; so far: ${JSON.stringify(answer)}`));
    }, 30_000);
    socket.on('connect', () => socket.write(`POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Length: 1048576\r\n\r\n`));
    socket.on('data', (data) => {
      if (answer === '') {
        atFirstByte?.();
        clearInterval(trickle);
        socket.end();
      }
      answer += data.toString('latin1');
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      clearInterval(trickle);
      clearTimeout(bound);
      resolve(answer);
    });
  });
}
