// Latin-1 strings (a char per byte) written into a Buffer on the per-request path: the REQUEST
// frame's fields (link/request-frame.ts) and a lean response's head (proxy/lean-response.ts).
// `buf.write(s, at, n, 'latin1')` checks its arguments, looks the encoding up and crosses into
// C++ for every string, ~0.25 µs a call here, and a hello's REQUEST frame has thirteen of them,
// most a few bytes long ('GET', 'http', a port); a loop in JavaScript writes those in a fraction
// of that. Longer strings still go to C++, whose copy is faster past a few dozen bytes, and
// through `latin1Write`, the method `write` ends in, without the checks and the lookup
// (docs/performance.md, "The front's CPU for a 16 KiB answer and a hello").

/** Past about this many chars the copy in C++ beats the loop (measured: docs/performance.md). */
const LOOP_MAX = 24;

type WithLatin1Write = Buffer & { latin1Write(s: string, at: number, length: number): number };

/** `s` (latin-1) written into `bytes` at `at`, which has room for it; returns where it ends. */
export function putLatin1(bytes: Buffer, at: number, s: string): number {
  const length = s.length;
  if (length <= LOOP_MAX) {
    for (let i = 0; i < length; i++) bytes[at + i] = s.charCodeAt(i);
    return at + length;
  }
  return at + (bytes as WithLatin1Write).latin1Write(s, at, length);
}
