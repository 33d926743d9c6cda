// A child's output split into lines on its bytes, each line decoded whole: a pipe's read may end
// inside a UTF-8 character, and decoding each read on its own would turn its halves into U+FFFD.

const NEWLINE = 0x0a;

/**
 * Calls `line` with every complete line of `held` + `chunk` (without its newline) and returns
 * what follows the last newline, to be passed as `held` with the next chunk (null: nothing). The
 * rest is a copy: the chunk's buffer is the stream's.
 */
export function eachLine(held: Buffer | null, chunk: Buffer, line: (text: string) => void): Buffer | null {
  const bytes = held === null ? chunk : Buffer.concat([held, chunk]);
  let start = 0;
  for (let newline = bytes.indexOf(NEWLINE); newline !== -1; newline = bytes.indexOf(NEWLINE, start)) {
    line(bytes.toString('utf8', start, newline));
    start = newline + 1;
  }
  return start < bytes.length ? Buffer.from(bytes.subarray(start)) : null;
}

/**
 * How many of `bytes`' bytes end on a whole UTF-8 character: a read of a pipe may stop inside
 * one, and the mark written between its halves would leave each a U+FFFD.
 */
export function wholeCharacters(bytes: Buffer): number {
  // A character is at most 4 bytes: its lead byte is among the last 4.
  for (let i = bytes.length - 1; i >= Math.max(0, bytes.length - 4); i--) {
    const byte = bytes[i];
    if ((byte & 0xc0) === 0x80) continue; // a continuation byte
    const size = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    return i + size <= bytes.length ? bytes.length : i;
  }
  return bytes.length;
}
