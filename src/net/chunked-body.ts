// The chunked transfer coding of a request body (RFC 9112 §7.1), read by the front's lean lane
// (proxy/lean-lane.ts) so that a chunked upload needs no node:http parser. Its trailer section
// is read and dropped: PEP 3333 and ASGI have no place for trailers, and RFC 9110 §6.5.1 lets a
// recipient discard them. Dropping them is also SPEC 5.8's "fields forbidden in trailers never
// reach the app", where node:http (llhttp) refused the whole request with a 400 when a trailer
// named Content-Length or Transfer-Encoding, which nginx serves.
//
// As strict as llhttp about the framing itself, since a body whose end two parsers see at
// different places is how requests are smuggled: hex digits and nothing else before an
// extension or the CRLF, no bare CR or LF anywhere, CRLF after each chunk's data, no size past
// 2^53, lines of bounded length. Whitespace in a chunk-size line is taken where RFC 9112 §7.1.1
// puts BWS, as nginx and uvicorn with httptools take it (with h11, uvicorn refuses `3 ;a=1`),
// and nowhere else (CHUNK_WHITESPACE).

/** A chunk-size line, extensions included, longer than this is refused. */
const MAX_LINE = 4096;
/** The trailer section as a whole, as node:http bounds it (its header limit): 431 past it. */
const MAX_TRAILERS = 16 * 1024;
export const TRAILERS_TOO_LONG = 'the trailer section is longer than 16 KiB';
/** A bare LF (or CR without it) where a chunk-size line ends: after the size, or an extension. */
const SIZE_LINE_END = 'a chunk-size line does not end in CRLF';
/**
 * Whitespace where chunk-ext's ABNF has no BWS: `chunk = chunk-size [ chunk-ext ] CRLF`,
 * `chunk-ext = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )`. Each BWS is
 * followed by `;`, a name, `=` or a value, so whitespace that ends the line (`3 <CRLF>`,
 * `3;a=b <CRLF>`) is none, nor is any inside a name or a token value (`;a=b c`). node:http's
 * 400 says the same: this decoder reads its size lines too (net/chunk-size-lines.ts).
 */
export const CHUNK_WHITESPACE = 'whitespace in a chunk extension is not accepted here: send the chunk size and its extensions without spaces (3;name=value)';
/** Sizes at or past this are refused: 13 hex digits, the last 2^52 (Number stays exact). */
const MAX_SIZE = 2 ** 52;

const enum State {
  /** The first hex digit of a chunk size. */
  SizeStart,
  /** More hex digits, or `;` (an extension), or CR. */
  Size,
  /** BWS after the size: only `;` may end it. */
  SizeSpace,
  /** An extension's name (a token), after its `;` and BWS. */
  ExtName,
  /** BWS after a name: `=`, or `;`. */
  ExtNameSpace,
  /** The first octet of an extension's value, after its `=`: a token's, or a quote. */
  ExtValue,
  /** BWS after `=`: the value, or (none, as `;a=`) `;`. */
  ExtValueSpace,
  /** More of a token value. */
  ExtToken,
  /** Inside a quoted-string value. */
  ExtQuoted,
  /** The octet after a backslash in a quoted-string. */
  ExtEscaped,
  /** After a quoted-string's closing quote: `;` or CR. */
  ExtQuoteEnd,
  /** BWS after a value: `;`. */
  ExtEndSpace,
  /** LF after a chunk-size line. */
  SizeLf,
  /** Chunk data: `left` more bytes. */
  Data,
  /** CR, then LF, after chunk data. */
  DataCr,
  DataLf,
  /** The start of a trailer line: CR (the end) or a field name. */
  TrailerStart,
  /** A trailer field's name, until its colon. */
  TrailerName,
  /** A trailer field's value, until CR. */
  Trailer,
  /** LF after a trailer field line. */
  TrailerLf,
  /** LF after the empty line that ends the message. */
  EndLf,
  Done,
  Failed,
}

const CR = 0x0d;
const LF = 0x0a;
const HTAB = 0x09;
const SP = 0x20;
const SEMICOLON = 0x3b;
const EQUALS = 0x3d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  const lower = c | 0x20;
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10;
  return -1;
}

/** tchar (RFC 9110 §5.6.2): what a field name is made of. */
function isTokenOctet(c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || ((c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a) || "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c));
}

/** What may stand in an extension or a trailer line: HTAB, SP, VCHAR, obs-text (RFC 9110 §5.5). */
function isLineOctet(c: number): boolean {
  return c === HTAB || (c >= 0x20 && c !== 0x7f);
}

export class ChunkedBody {
  private state = State.SizeStart;
  /** Bytes of the current chunk's data still to come (Data), or the size being read (Size). */
  private left = 0;
  /** Octets of the current chunk-size line, extensions included, for MAX_LINE. */
  private lineLength = 0;
  /** Octets of the extension name being read (one of none is refused). */
  private extNameLength = 0;
  /** BWS came after the extension's `;`. */
  private extSpaced = false;
  private trailerLength = 0;
  /**
   * The sizes of every chunk whose size line has ended, data read or not: what the body has
   * announced it will carry (net/announced-body.ts), known before the bytes come.
   */
  announced = 0;
  /**
   * A size line has ended (the last chunk's `0` too): `announced` is a total the body said, not
   * nothing yet. What waits to hear the first one (a sleeping app's wake, proxy/app-dispatcher.ts)
   * hears an empty body's `0` by it.
   */
  sized = false;
  /** Why the body cannot be read, once it cannot. */
  problem: string | null = null;
  /** The state it failed in. */
  private failedIn = State.SizeStart;

  /** The status that refuses it: 431 for a trailer section past its bound, as node:http's. */
  get refusal(): 400 | 431 {
    return this.problem === TRAILERS_TOO_LONG ? 431 : 400;
  }

  /** The last chunk and the trailer section have been read: the body is whole. */
  get done(): boolean {
    return this.state === State.Done;
  }

  get failed(): boolean {
    return this.state === State.Failed;
  }

  /** It failed at an octet of a chunk-size line up to its CR: the size, BWS, an extension. */
  get failedInSizeLine(): boolean {
    return this.state === State.Failed && this.failedIn <= State.ExtEndSpace;
  }

  /**
   * Reads `data` from `start`: each run of chunk data goes to `onData` as a view of `data`
   * (the caller copies what it keeps), and the offset of each octet of a chunk-size line after
   * its size and before its CR (BWS, `;`, extensions; not one it fails at) to `onExtension`.
   * Returns where the body ends in `data` (its length when the body goes on past it). Once done
   * or failed, reads nothing more.
   */
  read(data: Buffer, start: number, onData: (piece: Buffer) => void, onExtension?: (at: number) => void): number {
    let i = start;
    const length = data.length;
    while (i < length) {
      switch (this.state) {
        case State.Data: {
          const end = Math.min(length, i + this.left);
          this.left -= end - i;
          onData(data.subarray(i, end));
          i = end;
          if (this.left === 0) this.state = State.DataCr;
          continue;
        }
        case State.Done:
        case State.Failed:
          return i;
      }
      const c = data[i++];
      // The states from Size to ExtEndSpace are the rest of a chunk-size line.
      if (this.state >= State.Size && this.state <= State.ExtEndSpace && ++this.lineLength > MAX_LINE) {
        return this.fail('a chunk-size line is too long', i);
      }
      // And those from TrailerStart to TrailerLf, the trailer section's.
      if (this.state >= State.TrailerStart && this.state <= State.TrailerLf && ++this.trailerLength > MAX_TRAILERS) {
        return this.fail(TRAILERS_TOO_LONG, i);
      }
      switch (this.state) {
        case State.SizeStart: {
          const digit = hexValue(c);
          if (digit < 0) return this.fail('a chunk size is not a hexadecimal number', i);
          this.left = digit;
          this.lineLength = 1;
          this.state = State.Size;
          break;
        }
        case State.Size: {
          const digit = hexValue(c);
          if (digit >= 0) {
            this.left = this.left * 16 + digit;
            if (this.left >= MAX_SIZE) return this.fail('a chunk size is too large', i);
          } else if (c === SEMICOLON) this.startExtension();
          else if (c === CR) this.state = State.SizeLf;
          else if (c === LF) return this.fail(SIZE_LINE_END, i);
          else if (c === SP || c === HTAB) this.state = State.SizeSpace;
          else return this.fail('a chunk size is not a hexadecimal number', i);
          break;
        }
        // A size's bad octet stays one after a space (`3 x`), as llhttp's leniency for spaces
        // after a size said it, and the line's end is CRLF.
        case State.SizeSpace:
          if (c === SEMICOLON) this.startExtension();
          else if (c === CR) return this.fail(CHUNK_WHITESPACE, i);
          else if (c === LF) return this.fail(SIZE_LINE_END, i);
          else if (c !== SP && c !== HTAB) return this.fail('a chunk size is not a hexadecimal number', i);
          break;
        // chunk-ext = *( BWS ";" BWS ext-name [ BWS "=" BWS ( token / quoted-string ) ] ).
        case State.ExtName:
          if (isTokenOctet(c)) this.extNameLength++;
          else if (this.extNameLength === 0 && (c === SP || c === HTAB)) this.extSpaced = true;
          else if (this.extSpaced && this.extNameLength === 0) return this.fail(CHUNK_WHITESPACE, i);
          else if (c === SEMICOLON && this.extNameLength === 0) break; // `;;a`, as llhttp takes it
          else if (this.extNameLength === 0) return this.fail('a chunk extension has no name', i);
          else if (c === EQUALS) this.state = State.ExtValue;
          else if (c === SP || c === HTAB) this.state = State.ExtNameSpace;
          else if (!this.endOfExtension(c)) return this.fail(c === LF ? SIZE_LINE_END : 'a chunk extension is malformed', i);
          break;
        case State.ExtNameSpace:
          if (c === EQUALS) this.state = State.ExtValue;
          else if (c === SEMICOLON) this.startExtension();
          else if (c !== SP && c !== HTAB) return this.fail(CHUNK_WHITESPACE, i);
          break;
        case State.ExtValue:
          if (c === QUOTE) this.state = State.ExtQuoted;
          else if (isTokenOctet(c)) this.state = State.ExtToken;
          else if (c === SP || c === HTAB) this.state = State.ExtValueSpace;
          // `;a=` ended there (CR, or `;` and the next): llhttp takes the empty value, as nginx,
          // which reads no extension, does; the line's end is not in doubt.
          else if (!this.endOfExtension(c)) return this.fail(c === LF ? SIZE_LINE_END : 'a chunk extension value is malformed', i);
          break;
        // `;a= ;b` is `;a=` (taken, above) and BWS before the next `;`.
        case State.ExtValueSpace:
          if (c === QUOTE) this.state = State.ExtQuoted;
          else if (isTokenOctet(c)) this.state = State.ExtToken;
          else if (c === SEMICOLON) this.startExtension();
          else if (c !== SP && c !== HTAB) return this.fail(CHUNK_WHITESPACE, i);
          break;
        case State.ExtToken:
          if (c === SP || c === HTAB) this.state = State.ExtEndSpace;
          else if (!isTokenOctet(c) && !this.endOfExtension(c)) return this.fail(c === LF ? SIZE_LINE_END : 'a chunk extension value is malformed', i);
          break;
        case State.ExtEndSpace:
          if (c === SEMICOLON) this.startExtension();
          else if (c !== SP && c !== HTAB) return this.fail(CHUNK_WHITESPACE, i);
          break;
        case State.ExtQuoted:
          if (c === QUOTE) this.state = State.ExtQuoteEnd;
          else if (c === BACKSLASH) this.state = State.ExtEscaped;
          else if (!isLineOctet(c)) return this.fail('a quoted chunk extension value is not closed on its line', i);
          break;
        case State.ExtEscaped:
          if (!isLineOctet(c)) return this.fail('a quoted chunk extension value is not closed on its line', i);
          this.state = State.ExtQuoted;
          break;
        case State.ExtQuoteEnd:
          if (c === SP || c === HTAB) this.state = State.ExtEndSpace;
          else if (!this.endOfExtension(c)) return this.fail(c === LF ? SIZE_LINE_END : 'a chunk extension value is malformed', i);
          break;
        case State.SizeLf:
          if (c !== LF) return this.fail(SIZE_LINE_END, i);
          this.announced += this.left;
          this.sized = true;
          this.state = this.left === 0 ? State.TrailerStart : State.Data;
          break;
        case State.DataCr:
          // A bare LF ends data of the right size in the wrong line end, as llhttp reports it.
          if (c === LF) return this.fail('chunk data does not end in CRLF', i);
          if (c !== CR) return this.fail('chunk data is longer than its size', i);
          this.state = State.DataLf;
          break;
        case State.DataLf:
          if (c !== LF) return this.fail('chunk data does not end in CRLF', i);
          this.state = State.SizeStart;
          break;
        case State.TrailerStart:
          if (c === CR) {
            this.state = State.EndLf;
            break;
          }
          if (c === LF) return this.fail('the chunked body does not end in CRLF', i);
          // obs-fold (a line starting with SP or HTAB) is refused, as it is in a head.
          if (!isTokenOctet(c)) return this.fail('a trailer field line is malformed', i);
          this.state = State.TrailerName;
          break;
        case State.TrailerName:
          if (c === 0x3a) this.state = State.Trailer;
          // The words of a fold too: node:http's parser says the same of both, and whether the
          // octet began its line is in the read before when the client sends a byte at a time.
          else if (!isTokenOctet(c)) return this.fail('a trailer field line is malformed', i);
          break;
        case State.Trailer:
          if (c === CR) this.state = State.TrailerLf;
          else if (c === LF) return this.fail('a trailer field line does not end in CRLF', i);
          else if (!isLineOctet(c)) return this.fail('a trailer field line has a control character', i);
          break;
        case State.TrailerLf:
          if (c !== LF) return this.fail('a trailer field line does not end in CRLF', i);
          this.state = State.TrailerStart;
          break;
        case State.EndLf:
          if (c !== LF) return this.fail('the chunked body does not end in CRLF', i);
          this.state = State.Done;
          return i;
      }
      if (onExtension !== undefined && this.state >= State.SizeSpace && this.state <= State.ExtEndSpace) onExtension(i - 1);
    }
    return i;
  }

  private startExtension(): void {
    this.extNameLength = 0;
    this.extSpaced = false;
    this.state = State.ExtName;
  }

  /** `;` (the next extension) or CR (the line's end) after an extension; false for anything else. */
  private endOfExtension(c: number): boolean {
    if (c === SEMICOLON) this.startExtension();
    else if (c === CR) this.state = State.SizeLf;
    else return false;
    return true;
  }

  private fail(problem: string, at: number): number {
    this.failedIn = this.state;
    this.state = State.Failed;
    this.problem = problem;
    return at;
  }
}
