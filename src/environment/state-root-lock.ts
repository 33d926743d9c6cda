// One gateway per state root: a second one on the same root shared the first's logs, data and
// tmp, and each reconciled the same apps' directories under the other. Node has no flock, so
// the root holds a lock file made with O_EXCL ('wx') holding the holder's pid (first line, for
// `kill $(head -1 ...)`) and its start time in /proc (second line): a pid alone is reused, after
// a reboot or in a restarted container, by a process that is no gateway. A lock whose holder is
// gone is taken over. Only `--apps` takes it (src/gateway.ts): serve, check, run, install and
// the admin commands run beside a gateway on the same root. `serve` takes one of the same kind
// on its one app's state instead (serve.lock): a second serve of that app would share its data.
import { readFileSync, unlinkSync } from 'node:fs';
import { readFile, rename, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { GatewayError, systemErrorReason } from '../errors.js';
import { makeDirectory } from '../make-dir.js';
import { procStat } from '../proc-stat.js';
import { appStateDirs } from './state-root.js';

export const LOCK_FILE = 'gateway.lock';

/** Lock files held by this process: a pid equal to ours is ours only if we hold the file. */
const heldHere = new Set<string>();

export interface StateRootLock {
  readonly file: string;
  /** Removes the lock file if it is still ours; idempotent. */
  release(): Promise<void>;
  /**
   * The directories taking it made (serve's STATE/apps/NAME; a root removed under us and made
   * again): the first made, and the lock's own.
   */
  readonly made?: { first: string; deepest: string };
}

interface Holder {
  pid: number;
  startTime: string | null;
}

function parseLock(text: string): Holder | null {
  const [pidText, startTime] = text.split('\n');
  const pid = Number(pidText);
  return Number.isInteger(pid) && pid > 0 ? { pid, startTime: startTime || null } : null;
}

/** Whether the process that wrote the lock is still running. */
function isAlive(holder: Holder, file: string): boolean {
  if (holder.pid === process.pid) return heldHere.has(file);
  try {
    process.kill(holder.pid, 0);
  } catch (err) {
    // EPERM: it runs, as another user.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const now = procStat(holder.pid);
  // A zombie (killed, not yet reaped by its parent) answers kill(pid, 0) but holds nothing.
  if (now?.state === 'Z') return false;
  return holder.startTime === null || now === null || now.startTime === holder.startTime;
}

/** Reads the lock; an empty one may be mid-write by its maker ('wx' then write): read again. */
async function readHolder(file: string): Promise<{ text: string; holder: Holder | null } | null> {
  for (let tries = 0; ; tries++) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    if (text !== '' || tries >= 10) return { text, holder: parseLock(text) };
    await new Promise((r) => setTimeout(r, 50));
  }
}

function lockFailure(file: string, err: unknown): GatewayError {
  return new GatewayError('APPPKG_STATE_DIR_FAILED', { path: file, reason: systemErrorReason(err, file), errno: (err as NodeJS.ErrnoException).code, cause: err });
}

/**
 * Takes `root` for this gateway, or throws APPPKG_STATE_ROOT_IN_USE naming the gateway that
 * holds it. The root exists (prepareStateRoot).
 */
export function lockStateRoot(root: string): Promise<StateRootLock> {
  const file = path.join(root, LOCK_FILE);
  return lockWith(file, (pid) => new GatewayError('APPPKG_STATE_ROOT_IN_USE', { root, pid, lock: file }));
}

/**
 * Whether a gateway holds `root` (its gateway.lock names a live process, or another Gateway of
 * this one): everything under the root is that gateway's to use, its apps/ included, so a start
 * beside it that failed, its own lock released, removes none of the root's shared directories (H310).
 */
export async function heldByAnotherGateway(root: string): Promise<boolean> {
  const file = path.join(root, LOCK_FILE);
  const found = await readHolder(file).catch(() => null);
  return found?.holder != null && isAlive(found.holder, file);
}

/** The lock `serve` holds on its app's state (STATE/apps/NAME/serve.lock), made like gateway.lock. */
export const SERVE_LOCK_FILE = 'serve.lock';

/**
 * Takes the app `name`'s state under `root` for this `serve`, or throws APPPKG_APP_SERVED naming
 * the serve that holds it: two serves of one app (two terminals) would share its data directory,
 * a SQLite database or a migration under way included. Serves of other apps are not held back.
 */
export async function lockServedApp(root: string, name: string): Promise<StateRootLock> {
  const dir = appStateDirs(root, name).app;
  let made: string | undefined;
  try {
    made = await makeDirectory(dir, 0o755);
  } catch (err) {
    throw lockFailure(dir, err);
  }
  const file = path.join(dir, SERVE_LOCK_FILE);
  const lock = await lockWith(file, (pid) => new GatewayError('APPPKG_APP_SERVED', { app: name, root, pid, lock: file }));
  const first = [made, lock.made?.first].filter((d) => d !== undefined).sort((a, b) => a.length - b.length)[0];
  return { ...lock, made: first === undefined ? undefined : { first, deepest: dir } };
}

/** Takes `file` (O_EXCL, holding our pid), or throws `inUse(pid)` of its live holder. */
async function lockWith(file: string, inUse: (pid: number) => GatewayError): Promise<StateRootLock> {
  const mine = `${process.pid}\n${procStat(process.pid)?.startTime ?? ''}\n`;
  let made: string | undefined;
  for (let attempt = 0; ; attempt++) {
    try {
      await writeFile(file, mine, { flag: 'wx', mode: 0o644 });
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && attempt < 5) {
        // Its directory, found or made a moment ago, was removed since: another start on this
        // root that failed took the empty directories it had made. Made again, now ours.
        try {
          made = (await makeDirectory(path.dirname(file), 0o755)) ?? made;
        } catch (again) {
          throw lockFailure(path.dirname(file), again);
        }
        continue;
      }
      if (code !== 'EEXIST' || attempt >= 5) throw lockFailure(file, err);
    }
    let found;
    try {
      found = await readHolder(file);
    } catch (err) {
      throw lockFailure(file, err);
    }
    if (found === null) continue; // released meanwhile
    if (found.holder !== null && isAlive(found.holder, file)) {
      throw inUse(found.holder.pid);
    }
    // Stale. Moved aside, not removed: a gateway that took it over since then wrote a fresh
    // lock, which must not go with it; if what was moved is not what was judged, it goes back.
    const aside = `${file}.stale-${process.pid}`;
    try {
      await rename(file, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw lockFailure(file, err);
    }
    const moved = await readFile(aside, 'utf8').catch(() => found.text);
    if (moved !== found.text) await rename(aside, file).catch(() => {});
    else await unlink(aside).catch(() => {});
  }
  heldHere.add(file);
  // A process that exits without stop() (process.exit, an uncaught error) leaves no lock behind.
  const onExit = () => {
    try {
      if (readFileSync(file, 'utf8') === mine) unlinkSync(file);
    } catch {
      // gone already, or the root with it
    }
  };
  process.on('exit', onExit);
  let released = false;
  return {
    file,
    made: made === undefined ? undefined : { first: made, deepest: path.dirname(file) },
    async release() {
      if (released) return;
      released = true;
      process.off('exit', onExit);
      heldHere.delete(file);
      const text = await readFile(file, 'utf8').catch(() => null);
      if (text === mine) await unlink(file).catch(() => {});
    },
  };
}
