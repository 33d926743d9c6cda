// Whether a client holds its body back until the server says 100 Continue. An HTTP/1.0 client
// never does: RFC 9110 §10.1.1 has a server ignore the expectation in an HTTP/1.0 request, and
// §15.2 forbids a 1xx answer to one (its client would read the 100 as the final response).
import type { IncomingMessage, ServerResponse } from 'node:http';

export function asksToContinue(req: Pick<IncomingMessage, 'headers' | 'httpVersionMajor' | 'httpVersionMinor'>): boolean {
  const expect = req.headers.expect;
  if (expect === undefined || (req.httpVersionMajor === 1 && req.httpVersionMinor === 0)) return false;
  return /100-continue/i.test(expect);
}

/**
 * The expectation an HTTP/1.1 request asks for that the gateway cannot meet (RFC 9110
 * §10.1.1: a member other than 100-continue; its answer is 417), or null. node:http asks the
 * same question, with the same test for 100-continue, before it emits 'checkExpectation'; an
 * empty field lists no expectation at all, so nothing in it can fail.
 */
export function unmetExpectation(req: Pick<IncomingMessage, 'headers' | 'httpVersionMajor' | 'httpVersionMinor'>): string | null {
  const expect = req.headers.expect;
  if (expect === undefined || req.httpVersionMajor !== 1 || req.httpVersionMinor !== 1) return null;
  if (/(?:^|\W)100-continue(?:$|\W)/i.test(expect) || expect.replace(/[\s,]/g, '') === '') return null;
  return expect;
}

type ExpectingResponse = ServerResponse & { _expect_continue?: boolean };

/**
 * node:http closes the connection after any answer to an `Expect: 100-continue` request that
 * got no 100 Continue: it cannot tell whether the client still holds its body back, and so
 * where the next request starts. When the whole body has been read by the time the answer
 * begins (a client that did not wait for the 100, as curl after 1 s; `Content-Length: 0`),
 * there is nothing left to tell apart: the connection is kept, as nginx keeps it, and a
 * request pipelined behind is answered. A body still unread keeps node:http's close (RFC 9110
 * §10.1.1: the client may or may not send it now).
 */
export function keepAliveOnceBodyRead(req: IncomingMessage, res: ServerResponse): void {
  const expecting = res as ExpectingResponse;
  if (expecting._expect_continue !== true) return;
  const writeHead = res.writeHead;
  // Every head node:http writes goes through writeHead (_implicitHeader calls it too).
  res.writeHead = function (this: ServerResponse, ...args: unknown[]) {
    if (req.complete) expecting._expect_continue = false;
    return (writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as ServerResponse['writeHead'];
}

/**
 * Whether a 100 Continue still asks for something: never once the final answer has begun
 * (RFC 9110 §15.2: 1xx only before it), nor when the body has all arrived without it.
 */
export function continueWanted(req: IncomingMessage, res: ServerResponse): boolean {
  const sent = (res as ServerResponse & { _sent100?: boolean })._sent100 === true;
  return asksToContinue(req) && !sent && !res.headersSent && !req.complete;
}
