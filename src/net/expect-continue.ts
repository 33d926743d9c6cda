// Whether a client holds its body back until the server says 100 Continue. An HTTP/1.0 client
// never does: RFC 9110 §10.1.1 has a server ignore the expectation in an HTTP/1.0 request, and
// §15.2 forbids a 1xx answer to one (its client would read the 100 as the final response).
import type { IncomingMessage } from 'node:http';

export function asksToContinue(req: Pick<IncomingMessage, 'headers' | 'httpVersionMajor' | 'httpVersionMinor'>): boolean {
  const expect = req.headers.expect;
  if (expect === undefined || (req.httpVersionMajor === 1 && req.httpVersionMinor === 0)) return false;
  return /100-continue/i.test(expect);
}
