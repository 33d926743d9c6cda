// A file of /proc read whole, asynchronously: the tree a stop walks, the environment of what it
// finds, every process's environ a mark scan reads (supervisor/marked-processes.ts). /proc's
// files say size 0, so readFile reads each into a fresh 64 KiB buffer; these read into one the
// caller gives (a scan's readers keep theirs between scans), growing it only for a larger file.
import { close, open, read } from 'node:fs';

/**
 * The whole of `file`, read into `buffer` or, when it does not fit, into larger ones, each handed
 * to `grown` (which may keep it for the next read); a view valid until the buffer it is in is
 * read into again. null if the file cannot be read. fs's callbacks, not a FileHandle: a mark scan
 * reads every process's environ at each worker's end, and a FileHandle's open, read and close
 * took ~60% more CPU a scan (16.6 against 10.6 ms with ~135 processes). Never synchronous: reading
 * another process's environ can wait on that process's memory lock.
 */
export async function readProcBytes(file: string, buffer: Buffer, grown?: (larger: Buffer) => void): Promise<Buffer | null> {
  const fd = await new Promise<number | null>((resolve) => open(file, 'r', (err, opened) => resolve(err ? null : opened)));
  if (fd === null) return null;
  try {
    let length = 0;
    for (;;) {
      const bytesRead = await readAt(fd, buffer, length);
      if (bytesRead === null) return null;
      if (bytesRead === 0) return buffer.subarray(0, length);
      length += bytesRead;
      if (length === buffer.length) {
        const larger = Buffer.allocUnsafeSlow(buffer.length * 2);
        buffer.copy(larger, 0, 0, length);
        buffer = larger;
        grown?.(larger);
      }
    }
  } finally {
    // Awaited: a scan's readers keep at most a few files open at once (marked-processes.ts), and
    // a reader that went on before its close would open its next while this one is still open.
    await new Promise<void>((resolve) => close(fd, () => resolve()));
  }
}

/** Bytes read into `buffer` from `offset` on (the file's position the same), null on an error. */
function readAt(fd: number, buffer: Buffer, offset: number): Promise<number | null> {
  return new Promise((resolve) => read(fd, buffer, offset, buffer.length - offset, offset, (err, bytesRead) => resolve(err ? null : bytesRead)));
}

/** A small file of /proc (a stat, a children list), whole, as text; null if it cannot be read. */
export async function readProcFile(file: string): Promise<string | null> {
  const bytes = await readProcBytes(file, Buffer.allocUnsafe(1024));
  return bytes === null ? null : bytes.toString('latin1');
}
