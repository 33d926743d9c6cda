// GET /apps/NAME/log: the last lines of an app's log file, and with `follow` what is appended
// after, as `tail -F` does: the file is read through an open descriptor, so a rotation
// (app.log -> app.log.1) loses nothing: the old file is read to its end, then the new one from
// its start. A slow reader pauses the reading (backpressure), it is never buffered here.
// Each answer names the file and the offset its body starts at (Apppkg-Log-Position), so that
// a follower cut off by a restart of the gateway asks for the rest from there (`from`), as
// `tail -F` keeps its place in a file that is still the same.
import { closeSync, constants, fstatSync, openSync, readSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { streamEnded, STREAM_END_TRAILER } from './stream-end.js';

/** How often a followed file is looked at for more. */
const POLL_MS = 200;
/** How far back the last lines are looked for: a log of very long lines shows fewer. */
const MAX_TAIL_BYTES = 8 * 1024 * 1024;
const CHUNK = 64 * 1024;

/** The last `lines` lines of the file open as `fd` of `size` bytes, and where they start. */
function tailStart(fd: number, size: number, lines: number): number {
  if (lines <= 0) return size;
  let pos = size;
  let seen = 0;
  const buf = Buffer.alloc(CHUNK);
  // A final newline ends the last line; it does not start another.
  let skipLast = true;
  while (pos > 0 && size - pos < MAX_TAIL_BYTES) {
    const length = Math.min(CHUNK, pos);
    pos -= length;
    readSync(fd, buf, 0, length, pos);
    for (let i = length - 1; i >= 0; i--) {
      if (buf[i] !== 0x0a) {
        skipLast = false;
        continue;
      }
      if (skipLast) {
        skipLast = false;
        continue;
      }
      if (++seen === lines) return pos + i + 1;
    }
  }
  return pos;
}

/** The response header naming where the body starts: `DEV:INO:OFFSET` of the file read. */
export const LOG_POSITION_HEADER = 'Apppkg-Log-Position';

/** `DEV:INO:OFFSET` as the header and `from` write it; null for anything else. */
export function parseLogPosition(text: string | null | undefined): { file: string; offset: number } | null {
  const m = /^(\d+:\d+):(\d+)$/.exec(text ?? '');
  return m === null ? null : { file: m[1], offset: Number(m[2]) };
}

const LOG_HEAD = { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' };

/**
 * The answer to a HEAD of the log route: its head alone, the file neither opened nor read. Where
 * a body would start (Apppkg-Log-Position) is known only by reading the file back for its last
 * lines, which a HEAD (a monitor's check that the route answers) should not pay for.
 */
export function sendLogHead(res: ServerResponse): void {
  res.writeHead(200, LOG_HEAD);
  res.end();
}

/**
 * Writes the last `lines` lines of `file` to `res`, then (with `follow`) what is appended until
 * the client leaves; resolves when done. A file that does not exist yet is empty. `from`: where
 * an earlier answer left off; when the file is still that one and no shorter, the body starts
 * there instead of at the last lines.
 */
export function sendLogTail(file: string, res: ServerResponse, lines: number, follow: boolean, from: string | null = null): Promise<void> {
  return new Promise((resolve) => {
    let fd: number | null = null;
    let pos = 0;
    let ino = -1;
    const resume = parseLogPosition(from);
    const open = (fromEnd: boolean): void => {
      try {
        // O_NONBLOCK: a FIFO in its place would hold the open, and the gateway, until a writer came.
        fd = openSync(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK); // as log-tail.ts
      } catch {
        fd = null; // not written yet (or rotated this instant): looked for again at the next poll
        return;
      }
      try {
        const st = fstatSync(fd);
        // The app may put anything under its log's name: a directory's read threw EISDIR out of
        // a follower's timer and took the gateway, every app with it, down. Only a file is read.
        if (!st.isFile()) throw new Error('not a file');
        const same = fromEnd && resume !== null && resume.file === `${st.dev}:${st.ino}` && resume.offset <= st.size;
        pos = same ? resume.offset : fromEnd ? tailStart(fd, st.size, lines) : 0;
        ino = st.ino;
        if (!res.headersSent) res.setHeader(LOG_POSITION_HEADER, `${st.dev}:${st.ino}:${pos}`);
      } catch {
        // Not a file, or a read the disk refused (EIO): as if there were none yet.
        closeSync(fd);
        fd = null;
      }
    };
    /** Sends what the file holds past `pos`; false when `res` is full (wait for 'drain'). */
    const readMore = (): boolean => {
      if (fd === null) return true;
      for (;;) {
        const buf = Buffer.allocUnsafe(CHUNK);
        let n: number;
        try {
          n = readSync(fd, buf, 0, CHUNK, pos);
        } catch {
          // A read the disk refuses (EIO): the body is cut, as a failed read of a file served is;
          // a follower comes back from where it was (`from`). Thrown, it took the gateway down.
          res.destroy();
          return false;
        }
        if (n === 0) return true;
        pos += n;
        if (!res.write(buf.subarray(0, n))) return false;
      }
    };
    let timer: NodeJS.Timeout | null = null;
    const finish = (): void => {
      if (timer !== null) clearTimeout(timer);
      timer = null;
      if (fd !== null) closeSync(fd);
      fd = null;
      resolve();
    };
    const poll = (): void => {
      timer = null;
      // Ended by the gateway too: its token revoked (admin-server.ts).
      if (streamEnded(res)) return finish();
      if (!readMore()) {
        res.once('drain', poll);
        return;
      }
      // Rotated (another file under the name now) or truncated: the old one was read to its end.
      let current: { ino: number; size: number } | null = null;
      try {
        current = statSync(file);
      } catch {
        current = null;
      }
      if (current !== null && (fd === null || current.ino !== ino || current.size < pos)) {
        if (fd !== null) closeSync(fd);
        open(false);
        if (!readMore()) {
          res.once('drain', poll);
          return;
        }
      }
      timer = setTimeout(poll, POLL_MS);
    };

    /** The body without `follow`: to the file's end as it is now, then ended. */
    const rest = (): void => {
      if (res.destroyed || fd === null) {
        if (!res.destroyed) res.end();
        return finish();
      }
      if (!readMore()) {
        res.once('drain', rest);
        return;
      }
      res.end();
      finish();
    };

    const start = (): void => {
      timer = null;
      if (streamEnded(res)) return finish();
      // Opened before the head is written: the head says where the body starts.
      open(true);
      // A follower coming back (`from`) learns from the head whether this is the file it left; a
      // head without a position reads as an older gateway's, so for a file not yet made anew (a
      // gateway just back, its apps still starting) the head waits for it.
      if (fd === null && follow && resume !== null) {
        timer = setTimeout(start, POLL_MS);
        return;
      }
      // A followed log the gateway ends (its token revoked) says why in a trailer (stream-end.ts).
      res.writeHead(200, { ...LOG_HEAD, ...(follow ? { Trailer: STREAM_END_TRAILER } : {}) });
      // A quiet log must not keep the client waiting for the head until the first line comes.
      res.flushHeaders();
      res.once('close', finish);
      // Not followed, the body is still read as the client takes it: `from` the start of a
      // log of gigabytes was read whole into the gateway's memory, its event loop held meanwhile.
      if (!follow) return rest();
      poll();
    };
    start();
  });
}
