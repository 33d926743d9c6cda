// The replies the mail listener writes itself: each refusal carries its RFC 3463 enhanced status
// code (the listener announces ENHANCEDSTATUSCODES, RFC 2034, so every reply must have one), and
// no reply line outgrows the 512 octets, CRLF included, that RFC 5321 4.5.3.1.5 allows: an
// address or a name quoted from the client is cut to fit, so that the fix at the end survives.

/** RFC 5321 4.5.3.1.5: a reply line is at most 512 octets, the CRLF included. */
export const REPLY_LINE_OCTETS = 512;

/** An address quoted in a reply: room for the status, the code and the rest of the sentence. */
const QUOTED_OCTETS = 160;

/** `2.1.5`, `4.5.3`, `5.7.1` at the start of a reply's text (RFC 3463 2: class.subject.detail). */
const ENHANCED_CODE = /^[245]\.\d{1,3}\.\d{1,3} /;

/** A refusal for a smtp-server hook: it sends `responseCode`, then the message, which begins with the enhanced code. */
export function mailReply(code: number, enhancedCode: string, text: string): Error & { responseCode: number } {
  return Object.assign(new Error(`${enhancedCode} ${text}`), { responseCode: code });
}

/** Whether a reply's text already begins with its enhanced code (a mailReply's does). */
export function hasEnhancedCode(text: string): boolean {
  return ENHANCED_CODE.test(text);
}

/** `value` (an address, a domain, a parameter's name from the client) cut to fit in a reply: head and tail kept. */
export function quoted(value: string, octets = QUOTED_OCTETS): string {
  if (Buffer.byteLength(value) <= octets) return value;
  const chars = [...value];
  const half = Math.floor((octets - 3) / 2);
  let head = '';
  for (const c of chars) {
    if (Buffer.byteLength(head + c) > half) break;
    head += c;
  }
  let tail = '';
  for (let i = chars.length - 1; i >= 0; i--) {
    if (Buffer.byteLength(chars[i] + tail) > half) break;
    tail = chars[i] + tail;
  }
  return `${head}...${tail}`;
}

/** One reply line as written, cut (at a character) so that with its CRLF it fits REPLY_LINE_OCTETS. */
export function fitReplyLine(line: string): string {
  const room = REPLY_LINE_OCTETS - 2;
  if (Buffer.byteLength(line) <= room) return line;
  let cut = '';
  for (const c of line) {
    if (Buffer.byteLength(cut + c) > room - 3) break;
    cut += c;
  }
  return `${cut}...`;
}
