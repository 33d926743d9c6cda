// The frame format of the link between the gateway and a Python worker (docs/protocol.md):
// a 9-byte header, type (u8), request id (u32), payload length (u32), big-endian, then the
// payload. python-shim/apppkg_shim/link.py is the other end; the numbers must agree.

export const HEADER_SIZE = 9;

/**
 * The link's version, sent in the shim's config and checked by it (LINK_PROTOCOL in link.py):
 * an upgrade of apppkg-gateway in place replaces python-shim/ under a running gateway, whose
 * next worker would otherwise run a shim that misreads its frames. Bump it with any change to
 * a frame or to the config that a shim of the other version would misread. 2 (2026-12-06): UNRUN
 * answers a RECLAIM with the request body the worker had (docs/protocol.md §5). 3 (2026-12-07):
 * LIFESPAN_STARTUP, which a gateway of 2 would take for bytes that are no frame. 4 (2026-12-07):
 * REQUEST_FULL, which a shim of 3 would log as an unknown frame and drop, its request never
 * answered.
 */
export const LINK_PROTOCOL = 4;

/** Frame types. 0x0_ go from the gateway to Python, 0x1_ from Python to the gateway. */
export const Frame = {
  /** NUL-separated latin-1 fields: the request line, the route, the body marker, CGI pairs. */
  REQUEST: 0x01,
  /** A piece of the request body. */
  REQUEST_BODY: 0x02,
  /** The request body is complete. */
  REQUEST_END: 0x03,
  /**
   * The client went away (empty), or the gateway answered 504 for the app (u8 ABORT_TIMED_OUT)
   * or 408 for an ASGI request's client (u8 ABORT_CLIENT_TIMED_OUT):
   * stop, and answer with RESPONSE_END.
   */
  ABORT: 0x04,
  /** u32: response bytes the client has taken since the last credit. */
  RESPONSE_CREDIT: 0x05,
  /** Answer to STOPPING: the gateway will route no more requests to this worker. */
  NO_MORE: 0x06,
  /** Heartbeat, id 0: the worker answers PONG whatever its threads are doing. */
  PING: 0x07,
  /** Give this request back if no thread has started it (answered UNRUN); else ignored. */
  RECLAIM: 0x08,
  /** As REQUEST (body marker ""): a client asks an ASGI app to open a websocket (§8). */
  WS_CONNECT: 0x09,
  /** u8 kind (0 text, 1 binary), then a whole client message (text as UTF-8). */
  WS_MESSAGE: 0x0a,
  /** u16 code, then a UTF-8 reason: the client closed or went away, or the gateway closes it. */
  WS_CLOSE: 0x0b,
  /** Development only, before the ABORT of a 504: where is this request? Answered STACK. */
  WHERE: 0x0c,
  /**
   * The client closed its side of the connection (an ASGI request only): it sends nothing more
   * and has likely left. The app's receive() says http.disconnect once the body is read; an
   * answer it still sends goes out (a half-closed client may read it).
   */
  CLIENT_END: 0x0d,
  /**
   * Id 0, to an ASGI worker that said STOPPING, once its drain (or the gateway's grace) is over:
   * cancel every app task still running, then lifespan shutdown and exit (§8).
   */
  CANCEL: 0x0e,
  /**
   * u32 head length, the head (as REQUEST's payload), then the whole body: REQUEST, one
   * REQUEST_BODY and REQUEST_END in one frame, for a body framed by Content-Length that the
   * front had whole when it dispatched the request (request-frame.ts encodeRequestFull).
   */
  REQUEST_FULL: 0x0f,

  /** JSON: {pid, python, implementation, threads, app}. Request id 0. */
  READY: 0x10,
  /** The response head: NUL-separated latin-1 status then header names and values. */
  RESPONSE: 0x11,
  /** u32 head length, the head (as RESPONSE), then the whole body; the response is complete. */
  RESPONSE_FULL: 0x12,
  /** A piece of the response body. */
  RESPONSE_BODY: 0x13,
  /** The response is complete (also the acknowledgement of ABORT). */
  RESPONSE_END: 0x14,
  /** UTF-8 traceback: the app failed. Complete, like RESPONSE_END. */
  ERROR: 0x15,
  /** The app read wsgi.input and the client sent `Expect: 100-continue`. */
  CONTINUE: 0x16,
  /** u32: request-body bytes the app has consumed since the last credit. */
  REQUEST_CREDIT: 0x17,
  /** The worker got SIGTERM: it finishes what it has and exits once NO_MORE arrives. */
  STOPPING: 0x18,
  /** Answer to PING, id 0. */
  PONG: 0x19,
  /**
   * Answer to RECLAIM (with the request body the worker had received) or to a queued request's
   * ABORT (empty): the request was never started and is dropped; terminal.
   */
  UNRUN: 0x1a,
  /** latin-1 `subprotocol\0name\0value...`: the app accepted the websocket (complete the 101). */
  WS_ACCEPT: 0x1b,
  /** protocol.md's WS_MESSAGE from Python: u8 kind, then a whole message for the client. */
  WS_APP_MESSAGE: 0x1c,
  /** protocol.md's WS_CLOSE from Python: u16 code, then a UTF-8 reason: the app closes. */
  WS_APP_CLOSE: 0x1d,
  /** UTF-8: the answer to WHERE, the stack of the request's thread (or coroutine); not terminal. */
  STACK: 0x1e,
  /**
   * Id 0, empty, ASGI only, before READY: the app is imported and its lifespan startup begins.
   * Status tells the two apart (a startup waiting for its database showed as the import).
   */
  LIFESPAN_STARTUP: 0x1f,
} as const;

export type FrameType = (typeof Frame)[keyof typeof Frame];

/**
 * ABORT's payload when the request got its 504: an ASGI worker cancels the request's task
 * (its loop is not stuck, so the task would otherwise hang on unseen); a WSGI worker reads
 * it as any ABORT.
 */
export const ABORT_TIMED_OUT = 1;
/**
 * The same for a 408 (the client's body stopped arriving): the request is over for the
 * gateway as at a 504, so its task is cancelled too; the shim's log line names the 408.
 */
export const ABORT_CLIENT_TIMED_OUT = 2;

/** Flow control, in bytes; the same numbers as link.py. */
export const REQUEST_WINDOW = 1 << 20;
/**
 * What an app may send past what the client's socket took. The kernel holds up to its
 * tcp_wmem (autotuned to 4 MiB on Debian) for a client that stopped reading, as it does for any
 * server; the window adds to that. At 1 MiB it let an app get ~1 MiB further ahead than uvicorn
 * (issue 12); 256 KiB, credited in 64 KiB steps so the app never waits on a whole window, did
 * not slow a 64 MiB download (docs/protocol.md §5).
 */
export const RESPONSE_WINDOW = 256 * 1024;
/**
 * The largest RESPONSE_BODY piece a worker sends (MAX_BODY_FRAME in link.py): a body over the
 * window streams in pieces of this size, each read in place here (IN_PLACE_MIN). At most the
 * window (link.py says why, and asserts it).
 */
export const MAX_BODY_FRAME = 256 * 1024;
/** Request-body credits from the shim (and websocket messages the app takes). */
export const CREDIT_STEP = 256 * 1024;
/** Response credits to the shim: a quarter of the window. */
export const RESPONSE_CREDIT_STEP = 64 * 1024;

export function frameHeader(type: number, id: number, length: number): Buffer {
  const header = Buffer.allocUnsafe(HEADER_SIZE);
  header[0] = type;
  header.writeUInt32BE(id, 1);
  header.writeUInt32BE(length, 5);
  return header;
}

/** A whole frame whose payload is a latin-1 string (REQUEST): one allocation, one copy. */
export function encodeLatin1Frame(type: number, id: number, payload: string): Buffer {
  const length = payload.length;
  const frame = Buffer.allocUnsafe(HEADER_SIZE + length);
  frame[0] = type;
  frame.writeUInt32BE(id, 1);
  frame.writeUInt32BE(length, 5);
  frame.write(payload, HEADER_SIZE, length, 'latin1');
  return frame;
}

export function encodeFrame(type: number, id: number, payload?: Buffer | string): Buffer {
  if (typeof payload === 'string') return encodeLatin1Frame(type, id, payload);
  const length = payload ? payload.length : 0;
  const frame = Buffer.allocUnsafe(HEADER_SIZE + length);
  frame[0] = type;
  frame.writeUInt32BE(id, 1);
  frame.writeUInt32BE(length, 5);
  if (payload) payload.copy(frame, HEADER_SIZE);
  return frame;
}

/**
 * The body pieces of request `id` among `frames` (whole frames in order, as a link queues them):
 * REQUEST_BODY payloads, and the body a REQUEST_FULL carries after its head. A request whose
 * frames were never written goes to another worker with them.
 */
export function requestBodyIn(frames: readonly Buffer[], id: number): Buffer[] {
  const bytes = Buffer.concat(frames);
  const pieces: Buffer[] = [];
  for (let at = 0; at + HEADER_SIZE <= bytes.length; ) {
    const start = at + HEADER_SIZE;
    const end = start + bytes.readUInt32BE(at + 5);
    if (bytes.readUInt32BE(at + 1) === id) {
      if (bytes[at] === Frame.REQUEST_BODY) pieces.push(bytes.subarray(start, end));
      else if (bytes[at] === Frame.REQUEST_FULL && end > start + 4 + bytes.readUInt32BE(start)) pieces.push(bytes.subarray(start + 4 + bytes.readUInt32BE(start), end));
    }
    at = end;
  }
  return pieces;
}

/** An empty frame of `type` for request `id` (ABORT, REQUEST_END, NO_MORE, PING). */
export function encodeEmptyFrame(type: number, id: number): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_SIZE);
  frame[0] = type;
  frame.writeUInt32BE(id, 1);
  frame.writeUInt32BE(0, 5);
  return frame;
}

export function encodeU32Frame(type: number, id: number, value: number): Buffer {
  const frame = Buffer.allocUnsafe(HEADER_SIZE + 4);
  frame[0] = type;
  frame.writeUInt32BE(id, 1);
  frame.writeUInt32BE(4, 5);
  frame.writeUInt32BE(value, HEADER_SIZE);
  return frame;
}

/**
 * Close codes (RFC 6455 §7.4.1) the gateway says itself in WS_CLOSE or to a client. 1005 and
 * 1006 are never sent in a close frame: they tell the app that the client sent no code, or
 * vanished without a close frame.
 */
export const WsCloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  NO_STATUS: 1005,
  ABNORMAL: 1006,
  INTERNAL_ERROR: 1011,
  SERVICE_RESTART: 1012,
} as const;

/** The kind byte of a WS_MESSAGE: how the client frames the message. */
export const WsKind = { TEXT: 0, BINARY: 1 } as const;

/**
 * The head of a WS_MESSAGE frame, kind byte included; the message follows as its own buffer,
 * so a client's message reaches the link without a copy (as REQUEST_BODY pieces do).
 */
export function wsMessageHeader(id: number, binary: boolean, messageLength: number): Buffer {
  const header = Buffer.allocUnsafe(HEADER_SIZE + 1);
  header[0] = Frame.WS_MESSAGE;
  header.writeUInt32BE(id, 1);
  header.writeUInt32BE(messageLength + 1, 5);
  header[HEADER_SIZE] = binary ? WsKind.BINARY : WsKind.TEXT;
  return header;
}

/** A WS_CLOSE frame: the code, then the reason as UTF-8. */
export function encodeWsClose(id: number, code: number, reason = ''): Buffer {
  const length = 2 + Buffer.byteLength(reason, 'utf8');
  const frame = Buffer.allocUnsafe(HEADER_SIZE + length);
  frame[0] = Frame.WS_CLOSE;
  frame.writeUInt32BE(id, 1);
  frame.writeUInt32BE(length, 5);
  frame.writeUInt16BE(code, HEADER_SIZE);
  frame.write(reason, HEADER_SIZE + 2, 'utf8');
  return frame;
}

/** WS_APP_CLOSE's payload; a payload too short for a code is a normal close (1000). */
export function decodeWsClose(payload: Buffer): { code: number; reason: string } {
  if (payload.length < 2) return { code: 1000, reason: '' };
  return { code: payload.readUInt16BE(0), reason: payload.toString('utf8', 2) };
}

/** WS_ACCEPT's payload: the subprotocol the app chose ('' = none) and its extra response headers. */
export function decodeWsAccept(payload: Buffer): { subprotocol: string; headers: Array<[string, string]> } {
  const fields = payload.toString('latin1').split('\0');
  const headers: Array<[string, string]> = [];
  for (let i = 1; i + 1 < fields.length; i += 2) headers.push([fields[i], fields[i + 1]]);
  return { subprotocol: fields[0], headers };
}

export type FrameHandler = (type: number, id: number, payload: Buffer) => void;

/**
 * `pieces` as one buffer of `length` bytes: a view when they lie one after another in the same
 * memory (a link read into slabs, net/slab-reads.ts: a frame split between two reads), else a copy.
 */
function joined(pieces: Buffer[], length: number): Buffer {
  const first = pieces[0];
  let end = first.byteOffset + first.length;
  for (let i = 1; i < pieces.length; i++) {
    const piece = pieces[i];
    if (piece.buffer !== first.buffer || piece.byteOffset !== end) return Buffer.concat(pieces, length);
    end += piece.length;
  }
  return Buffer.from(first.buffer, first.byteOffset, length);
}

/**
 * Incremental parser: feed it socket chunks; it calls onFrame once per complete frame,
 * whatever the chunk boundaries. A payload inside one chunk is a view of that chunk (no
 * copy; a chunk's bytes must not change once pushed); one split across chunks is joined once,
 * without a copy when the chunks are neighbours in memory.
 */
/**
 * A frame at least this long is read in place (FrameParser.readInto): a RESPONSE_FULL whose head
 * and body reach it, a large websocket message, a RESPONSE_BODY piece of 256 KiB whose exchange
 * takes it whole (others go on in parts: inParts); up to IN_PLACE_MAX, past which a length is more
 * likely garbage than a body, and the frame's memory would be taken before its bytes come. A
 * shorter RESPONSE_FULL is joined from the slabs it came in, a copy: passing it on in parts did
 * not pay (docs/performance.md, H236).
 */
const IN_PLACE_MIN = MAX_BODY_FRAME;
const IN_PLACE_MAX = 256 * 1024 * 1024;

export class FrameParser {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Bytes the frame at the front of `pending` needs in all; 0 while its header is incomplete. */
  private need = 0;
  /** The large frame being read in place (readInto), whole; null almost always. */
  private inPlace: Buffer | null = null;
  /** A byte that is no frame type came where a frame begins: nothing after it can be framed. */
  private broken = false;
  /** The frame being passed on in parts (inParts): its type, id, and the payload bytes still to come. */
  private partType = 0;
  private partId = 0;
  private partLeft = 0;

  /**
   * `isType`: whether a byte may begin a frame. A byte that may not is told to `onGarbage` once,
   * and the parser reads nothing more: its length field is garbage too, and waiting for that
   * many bytes (up to 4 GiB) would hold every frame after it.
   * `inParts`: whether a frame (its type and id) may be told in parts, as its bytes come: one whose
   * payload a chunk does not hold whole is then told as several frames of its type and id, each
   * with the next non-empty part of the payload (a view of the chunk it came in), never joined
   * or copied. For a RESPONSE_BODY piece, whose bytes go on to the client as they are: read in
   * place, the part that came with its header was copied (docs/performance.md, H228).
   */
  constructor(
    private readonly onFrame: FrameHandler,
    private readonly isType: (type: number) => boolean = () => true,
    private readonly onGarbage: (type: number) => void = () => {},
    private readonly inParts: (type: number, id: number) => boolean = () => false,
  ) {}

  push(chunk: Buffer): void {
    if (this.broken) return;
    if (this.pendingBytes > 0 || this.partLeft > 0) {
      chunk = this.resume(chunk);
      if (chunk.length === 0 || this.broken) return;
    }
    const onFrame = this.onFrame;
    const end = chunk.length;
    let pos = 0;
    while (end - pos >= HEADER_SIZE) {
      if (!this.isType(chunk[pos])) {
        this.garbage(chunk[pos]);
        return;
      }
      const length = chunk.readUInt32BE(pos + 5);
      const stop = pos + HEADER_SIZE + length;
      if (stop > end) {
        if (this.toldInParts(chunk, pos)) return;
        break;
      }
      onFrame(chunk[pos], chunk.readUInt32BE(pos + 1), chunk.subarray(pos + HEADER_SIZE, stop));
      pos = stop;
    }
    if (pos < end) this.keep(chunk.subarray(pos));
  }

  /**
   * Where the next read should land, or null for anywhere: the rest of a large frame whose
   * length is known, in one buffer of its size. Read into the reader's slabs, its pieces were
   * joined into a copy of the whole frame, which, with the slabs it came in, held twice the
   * frame until a GC (a 4 MiB answer cost the front 8 MiB, and as much again per answer that
   * followed it before the collector ran). The bytes read so far are copied in once.
   */
  readInto(): Buffer | null {
    if (this.need < IN_PLACE_MIN || this.need > IN_PLACE_MAX || this.broken) return null;
    if (this.inPlace === null) {
      const frame = Buffer.allocUnsafeSlow(this.need);
      let at = 0;
      for (const piece of this.pending) at += piece.copy(frame, at);
      this.pending = [frame.subarray(0, at)];
      this.inPlace = frame;
    }
    return this.inPlace.subarray(this.pendingBytes);
  }

  /** Bytes held for an incomplete frame (tests and diagnostics). */
  get buffered(): number {
    return this.pendingBytes;
  }

  private garbage(type: number): void {
    this.broken = true;
    this.inPlace = null;
    this.partLeft = 0;
    this.pending = [];
    this.pendingBytes = 0;
    this.need = 0;
    this.onGarbage(type);
  }

  /** What `chunk` holds of the frame held or told in parts; return what is left of chunk. */
  private resume(chunk: Buffer): Buffer {
    if (this.pendingBytes > 0) chunk = this.completePending(chunk);
    return this.partLeft > 0 ? this.nextPart(chunk) : chunk;
  }

  /** The frame at `pos`, not whole in `chunk`, begun in parts if its type and id may be (inParts). */
  private toldInParts(chunk: Buffer, pos: number): boolean {
    const id = chunk.readUInt32BE(pos + 1);
    if (!this.inParts(chunk[pos], id)) return false;
    this.startParts(chunk[pos], id, chunk.readUInt32BE(pos + 5));
    this.nextPart(chunk.subarray(pos + HEADER_SIZE));
    return true;
  }

  private startParts(type: number, id: number, length: number): void {
    this.partType = type;
    this.partId = id;
    this.partLeft = length;
  }

  /** Tell what `chunk` holds of the frame passed on in parts; return what is left of chunk. */
  private nextPart(chunk: Buffer): Buffer {
    const n = Math.min(this.partLeft, chunk.length);
    if (n === 0) return chunk;
    this.partLeft -= n;
    this.onFrame(this.partType, this.partId, chunk.subarray(0, n));
    return chunk.subarray(n);
  }

  private keep(rest: Buffer): void {
    if (this.pendingBytes === 0 && !this.isType(rest[0])) {
      this.garbage(rest[0]);
      return;
    }
    this.pending.push(rest);
    this.pendingBytes += rest.length;
    if (this.need === 0 && this.pendingBytes >= HEADER_SIZE) {
      const head = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
      this.need = HEADER_SIZE + head.readUInt32BE(5);
    }
  }

  /** Add chunk to the held partial frame; deliver it when whole; return what is left of chunk. */
  private completePending(chunk: Buffer): Buffer {
    if (this.need === 0) {
      // The header itself was split: take just enough to read the length.
      const missing = HEADER_SIZE - this.pendingBytes;
      if (chunk.length < missing) {
        this.keep(chunk);
        return chunk.subarray(chunk.length);
      }
      this.keep(chunk.subarray(0, missing));
      chunk = chunk.subarray(missing);
      const head = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
      const id = head.readUInt32BE(1);
      if (this.need > HEADER_SIZE && this.inParts(head[0], id)) {
        this.startParts(head[0], id, this.need - HEADER_SIZE);
        this.pending = [];
        this.pendingBytes = 0;
        this.need = 0;
        return chunk;
      }
    }
    const missing = this.need - this.pendingBytes;
    if (chunk.length < missing) {
      this.pending.push(chunk);
      this.pendingBytes += chunk.length;
      return chunk.subarray(chunk.length);
    }
    this.pending.push(chunk.subarray(0, missing));
    const frame = joined(this.pending, this.need);
    this.inPlace = null;
    this.pending = [];
    this.pendingBytes = 0;
    this.need = 0;
    this.onFrame(frame[0], frame.readUInt32BE(1), frame.subarray(HEADER_SIZE));
    return chunk.subarray(missing);
  }
}
