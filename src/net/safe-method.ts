// Safe methods (RFC 9110 §9.2.1): a request with one changes nothing on the server, so those
// pipelined on a connection may be run side by side (RFC 9112 §9.3.2); any other waits its turn.

/** Whether `method` is GET, HEAD, OPTIONS or TRACE (methods are case-sensitive: `get` is not GET). */
export function isSafeMethod(method: string | undefined): boolean {
  return method === 'GET' || method === 'HEAD' || method === 'OPTIONS' || method === 'TRACE';
}
