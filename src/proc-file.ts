// A file of /proc read whole, asynchronously: the tree a stop walks, the environment of what it
// finds, every process's environ a mark scan reads (supervisor/marked-processes.ts). /proc's
// files say size 0, so readFile reads each into a fresh 64 KiB buffer; these read into one the
// caller gives (a scan's readers keep theirs between scans), growing it only for a larger file.
import { open } from 'node:fs/promises';

/**
 * The whole of `file`, read into `buffer` or, when it does not fit, into larger ones, each handed
 * to `grown` (which may keep it for the next read); a view valid until the buffer it is in is
 * read into again. null if the file cannot be read.
 */
export async function readProcBytes(file: string, buffer: Buffer, grown?: (larger: Buffer) => void): Promise<Buffer | null> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return null;
  }
  try {
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) return buffer.subarray(0, length);
      length += bytesRead;
      if (length === buffer.length) {
        const larger = Buffer.allocUnsafeSlow(buffer.length * 2);
        buffer.copy(larger, 0, 0, length);
        buffer = larger;
        grown?.(larger);
      }
    }
  } catch {
    return null;
  } finally {
    await handle.close().catch(() => {});
  }
}

/** A small file of /proc (a stat, a children list), whole, as text; null if it cannot be read. */
export async function readProcFile(file: string): Promise<string | null> {
  const bytes = await readProcBytes(file, Buffer.allocUnsafe(1024));
  return bytes === null ? null : bytes.toString('latin1');
}
