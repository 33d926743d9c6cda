// Node's spawn, except that one refused for want of file descriptors (EMFILE, ENFILE) leaves
// none behind. libuv makes a child's stdio socketpairs first, then its exec pipe, and opens the
// parent's ends of the pairs into Node's pipe handles even when the spawn then fails; Node
// (lib/internal/child_process.js, every version to date) closes those handles for any other
// error, but on EMFILE and ENFILE returns before it wraps them, and nothing can reach them
// after. A spawn that met the limit with room for the pairs but not the pipe (8 or 9 free for
// a worker's four) kept one socket per pipe for the gateway's life: a gateway started under a
// too-low limit, then given room, held 12 more than one started with room, and retrying such
// starts would fill the table with them.
import { ChildProcess, spawn } from 'node:child_process';
import { constants } from 'node:os';

/** What Node's ChildProcess.prototype.spawn makes of `options.stdio`: the pipes it asked libuv for. */
interface SpawnInternals {
  stdio?: Array<{ type?: string; handle?: { close?: () => void } }>;
}

type InternalSpawn = (this: ChildProcess, options: SpawnInternals) => number;

const OUT_OF_FILES = new Set([-constants.errno.EMFILE, -constants.errno.ENFILE]);

/**
 * `start()` (a spawn, an execFile), the pipes of any spawn in it that was refused for want of
 * descriptors closed. ChildProcess.prototype.spawn is wrapped for this synchronous call only:
 * nothing else runs meanwhile. Should Node's insides change shape, nothing is closed, as before.
 */
export function closingRefusedPipes<T>(start: () => T): T {
  const proto = ChildProcess.prototype as unknown as { spawn: InternalSpawn };
  const own = proto.spawn;
  proto.spawn = function (this: ChildProcess, internals: SpawnInternals): number {
    const err = own.call(this, internals);
    if (OUT_OF_FILES.has(err) && Array.isArray(internals.stdio)) {
      for (const pipe of internals.stdio) if (pipe?.type === 'pipe' && typeof pipe.handle?.close === 'function') pipe.handle.close();
    }
    return err;
  };
  try {
    return start();
  } finally {
    proto.spawn = own;
  }
}

/** Node's `spawn`, its overloads kept, leaving no descriptor behind when it fails for want of them. */
export const spawnProcess = ((...args: Parameters<typeof spawn>) => closingRefusedPipes(() => spawn(...args))) as typeof spawn;
