// RFC 9110 §5.6.2's token: a field name, a method, a Sec-WebSocket-Protocol value (RFC 6455 4.1).
// (The request-head regexes, plain-head.ts and trailer-end.ts, spell the same characters inside
// their own patterns.)

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** Is `text` one token: not empty, visible ASCII but for the delimiters? */
export function isHttpToken(text: string): boolean {
  return TOKEN.test(text);
}
