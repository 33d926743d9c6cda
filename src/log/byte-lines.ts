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
