// A command's scratch directory under TMPDIR (check's app TMPDIR, vendor's pip staging), gone
// when the command ends, however it ends. `finally` covers a return or a throw; a stop signal
// (^C, SIGTERM, SIGHUP) ends the process by Node's default before any `finally` runs, and left
// one apppkg-* directory in /tmp per interrupted command. Its processes end with it already
// (their guard, process-group.ts). It is removed by descriptor, never following a link
// (no-follow.ts removeTree): vendor lends part of it to the app's user, and should the take-back
// not have run (a stop signal, a failure in it), a process of that user's may still be swapping
// its entries for links to another's files as root removes them.
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { removeTree, removeTreeSync } from '../no-follow.js';

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** `work` given a new directory `os.tmpdir()/PREFIXxxxxxx`, removed after it, or at a stop signal. */
export async function withScratchDir<T>(prefix: string, work: (dir: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  const removeNow = () => removeTreeSync(dir);
  const onSignal = (signal: NodeJS.Signals) => {
    // Someone else listens (runProgram forwarding it to a hook, a library user's handler): the
    // process goes on, and `work` ends as they decide; the `finally` below removes it then.
    if (process.listenerCount(signal) > 1) return;
    release();
    removeNow();
    // Node's default for the signal, now that nobody listens: the process ends by it, as it would have.
    process.kill(process.pid, signal);
  };
  // process.exit() from elsewhere skips `finally` too.
  const release = () => {
    for (const signal of STOP_SIGNALS) process.off(signal, onSignal);
    process.off('exit', removeNow);
  };
  for (const signal of STOP_SIGNALS) process.on(signal, onSignal);
  process.on('exit', removeNow);
  try {
    return await work(dir);
  } finally {
    release();
    await removeTree(dir);
  }
}
