// A file of /proc read whole, asynchronously: the tree a stop walks, the environment of what it
// finds. /proc's files say size 0, so readFile reads them into a fresh 64 KiB buffer each.
import { open } from 'node:fs/promises';

/**
 * A small file of /proc, whole; null if it cannot be read. Not readFile, which takes a fresh
 * 64 KiB buffer for a file of size 0, as /proc's are (supervisor/marked-processes.ts says what that did).
 */
export async function readProcFile(file: string): Promise<string | null> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch {
    return null;
  }
  try {
    let buffer = Buffer.allocUnsafe(1024);
    let length = 0;
    for (;;) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) return buffer.toString('latin1', 0, length);
      length += bytesRead;
      if (length === buffer.length) buffer = Buffer.concat([buffer, Buffer.allocUnsafe(buffer.length * 3)]);
    }
  } catch {
    return null;
  } finally {
    await handle.close().catch(() => {});
  }
}
