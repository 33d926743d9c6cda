// The lock under which venv seeds are made and replaced (venv-seed.ts), one per seeds
// directory, shared by every process that installs into it (two `install`s at once, a
// gateway building several apps' venvs, the test suite's processes sharing one directory).
// Node has no flock(2); the interpreter the seed is for does: a few lines of Python take it on
// `.lock` in the seeds directory and hold it until their stdin ends. The kernel releases it
// with their file, so an install killed mid-way leaves no lock behind and no pid to judge
// (a pid is reused; a container sees other pids); closing our end of the pipe, or our own
// death, ends the holder.
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { spawnProcess } from '../spawn-process.js';

const LOCK_FILE = '.lock';

// 'waiting' when another holds it, then 'locked' once it is ours; held until stdin ends.
const HOLD_LOCK = [
  'import fcntl, sys',
  "f = open(sys.argv[1], 'a')",
  'try:',
  '    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)',
  'except BlockingIOError:',
  "    sys.stdout.write('waiting\\n'); sys.stdout.flush()",
  '    fcntl.flock(f, fcntl.LOCK_EX)',
  "sys.stdout.write('locked\\n'); sys.stdout.flush()",
  'sys.stdin.read()',
].join('\n');

/** How long a holder may take to go once its stdin ended, before it is killed. */
const RELEASE_KILL_MS = 5_000;

export interface SeedLock {
  /** Ends the holder, which releases the lock; resolves once it is gone. */
  release(): Promise<void>;
}

export interface LockSeedsOptions {
  /** The interpreter that holds the lock (the seed's own: it is there, and has fcntl). */
  python: string;
  /** Told once, when another process holds the lock and this one waits for it. */
  onWait: () => void;
  /** Past this the wait ends without the lock. */
  waitMs: number;
}

/**
 * Takes the lock of the seeds directory `seeds` (which exists), waiting for its holder. null
 * when it could not be had (the holder could not start or open the file, or `waitMs` passed):
 * the caller then makes its venv without a seed.
 */
export function lockSeeds(seeds: string, opts: LockSeedsOptions): Promise<SeedLock | null> {
  return new Promise((resolve) => {
    let child: ChildProcess;
    try {
      // -I -S: nothing from the environment or site-packages; fcntl is in the standard library.
      child = spawnProcess(opts.python, ['-I', '-S', '-c', HOLD_LOCK, path.join(seeds, LOCK_FILE)], { stdio: ['pipe', 'pipe', 'ignore'] });
    } catch {
      resolve(null);
      return;
    }
    const exited = new Promise<void>((done) => {
      child.on('close', () => done());
      child.on('error', () => done());
    });
    child.stdin!.on('error', () => {}); // a holder that died: its exit says so
    const release = async (): Promise<void> => {
      child.stdin!.end();
      const kill = setTimeout(() => child.kill('SIGKILL'), RELEASE_KILL_MS);
      await exited;
      clearTimeout(kill);
    };
    let settled = false;
    const settle = (lock: SeedLock | null) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      resolve(lock);
    };
    const deadline = setTimeout(() => {
      child.kill('SIGKILL');
      settle(null);
    }, opts.waitMs);
    let said = '';
    let waited = false;
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      said += chunk;
      if (said.includes('locked\n')) {
        settle({ release });
      } else if (!waited && said.includes('waiting\n')) {
        waited = true;
        opts.onWait();
      }
    });
    void exited.then(() => settle(null));
  });
}
