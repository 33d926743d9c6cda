// Which process listens on an admin address, and how many of its open files it holds: a gateway
// out of open files cannot accept the CLI's connection (libuv accepts it and closes it at once,
// or leaves it waiting), so `status` reads what it can from /proc instead of its answer. Read
// only when an answer did not come; a listener of another user's is found only by root.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import type { ListenAddress } from './args.js';
import { tcpSockets } from '../net/tcp-sockets.js';
import { openFilesLimit } from '../open-files.js';

export interface ListenerFiles {
  pid: number;
  open: number;
  /** Its open-files (soft) limit, or null when not known. */
  limit: number | null;
}

/** The listening socket's inode for `addr`, from /proc/net (this network namespace), or null. */
function listeningInode(addr: ListenAddress): string | null {
  if (addr.kind === 'unix') {
    // Num RefCount Protocol Flags Type St Inode Path; a listener has __SO_ACCEPTCON (0x10000).
    for (const line of readLines('/proc/net/unix')) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 8 && f.slice(7).join(' ') === addr.path && (parseInt(f[3], 16) & 0x10000) !== 0) return f[6];
    }
    return null;
  }
  // LISTEN is state 0A.
  return tcpSockets().find((s) => s.localPort === addr.port && s.state === '0A')?.inode ?? null;
}

function readLines(file: string): string[] {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(1);
  } catch {
    return [];
  }
}

/** The process holding socket `inode`, looked for in every process's fds we may read. */
function holderOf(inode: string): number | null {
  const link = `socket:[${inode}]`;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${entry}/fd`);
    } catch {
      continue; // another user's, or gone
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${entry}/fd/${fd}`) === link) return Number(entry);
      } catch {
        // closed meanwhile
      }
    }
  }
  return null;
}

/** The process listening on `addr` and its open files, or null when it cannot be found (no /proc, not ours to read). */
export function listenerFiles(addr: ListenAddress): ListenerFiles | null {
  try {
    const inode = listeningInode(addr);
    const pid = inode === null ? null : holderOf(inode);
    if (pid === null) return null;
    return { pid, open: readdirSync(`/proc/${pid}/fd`).length, limit: openFilesLimit(pid) };
  } catch {
    return null;
  }
}
