// The venv seed (virtualenv's "app-data" seeder, stdlib only): `-m venv` spends most of its
// ~7 s of CPU in ensurepip, pip-installing pip (and setuptools) from the interpreter's bundled
// wheels and compiling ~1,000 files, the same files for every venv of that interpreter. So one
// venv per interpreter is made the full way and kept under the state root's cache; each new
// venv is made `--without-pip` and given the seed's site-packages and pip scripts.
//
// The seed's key is what ensurepip's result depends on: the interpreter's file (realpath, size,
// mtime), its version, the bundled wheels' names, and --system-site-packages (with it, a pip
// already on the system may satisfy ensurepip and leave the venv without one of its own).
// A seed is made in a `.making-` directory and renamed into place with its stamp inside, so a
// directory under its key's name with the stamp is whole and is copied from without a lock.
// Making, and removing what is there and not whole, is done under the seeds' lock
// (seed-lock.ts): an install that finds no seed waits for the one making it, then takes it.
// Without the lock, an install that had looked before another's rename removed the new seed
// while a third copied from it. Any failure here is the caller's cue to make the venv the full
// way, as before the seed.

import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, readFile, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Writable } from 'node:stream';
import type { Interpreter } from '../environment/interpreter-probe.js';
import { isAlive } from '../environment/run-helper-holds.js';
import { programOutput } from '../program-output.js';
import { runProgram } from './run-command.js';
import { lockSeeds } from './seed-lock.js';

/** Inside a whole seed, written last before the rename. */
const SEED_STAMP_FILE = 'apppkg-seed.json';
/** Bumped when what a seed holds or how it is copied changes: older seeds are then not used. */
const SEED_FORMAT = 1;
/**
 * How long an install waits for another that is making the seed (ensurepip: seconds, a minute
 * on a loaded host) before it makes its venv in full instead.
 */
const SEED_WAIT_MS = 300_000;
const BUNDLED_WHEELS = "import ensurepip, os; print('\\n'.join(sorted(os.listdir(os.path.join(os.path.dirname(ensurepip.__file__), '_bundled')))))";

export interface SeedVenvOptions {
  interpreter: Interpreter;
  systemSite: boolean;
  /** The state root's cache directory; seeds go in its `venv-seeds/`. */
  cacheDir: string;
  /** The new venv's directory (absent). */
  dir: string;
  cwd: string;
  env: NodeJS.ProcessEnv;
  output?: Writable;
  say: (line: string) => void;
  /**
   * The app's user, who owns `dir` (a root gateway's app that runs as another): its venv is made
   * and the seed copied by that user, so the copy is its own and the seed stays ours, read-only
   * to it: one app cannot change the pip another's venv is given.
   */
  owner?: { uid: number; gid: number };
}

/** The seeds' directory under a state root's cache directory. */
export function venvSeedsDir(cacheDir: string): string {
  return path.join(cacheDir, 'venv-seeds');
}

/**
 * Makes `dir` a venv whose pip comes from the interpreter's seed (made first when there is
 * none). false when anything failed: `dir` may then hold a part, which the caller removes.
 */
export async function seedVenv(opts: SeedVenvOptions): Promise<boolean> {
  try {
    const seed = await readySeed(opts);
    if (seed === null) return false;
    const args = ['-m', 'venv', '--without-pip', ...(opts.systemSite ? ['--system-site-packages'] : []), opts.dir];
    if ((await runProgram({ file: opts.interpreter.executable, args, cwd: opts.cwd, env: opts.env, output: opts.output, uid: opts.owner?.uid, gid: opts.owner?.gid })) !== 0) return false;
    await copySeed(seed, opts.dir, opts.interpreter, opts.owner);
    return true;
  } catch {
    return false;
  }
}

/** The seed's key, or null when this interpreter has no ensurepip wheels to seed from. */
export async function seedKey(interpreter: Interpreter, systemSite: boolean): Promise<string | null> {
  const names = await bundledWheels(interpreter);
  if (names.length === 0) return null;
  const real = await realpath(interpreter.executable);
  const st = await stat(real);
  const facts = [String(SEED_FORMAT), real, String(st.size), String(st.mtimeMs), interpreter.version, systemSite ? 'system-site' : 'isolated', ...names];
  return createHash('sha256').update(facts.join('\0')).digest('hex').slice(0, 32);
}

/**
 * ensurepip's bundled wheels, read in the ensurepip `import ensurepip` finds: the first
 * directory of the interpreter's sys.path (as its probe saw it) that has one. None when that one
 * has no _bundled (Debian's, which takes its wheels from /usr/share/python-wheels), as the
 * interpreter itself would answer. Asked of the interpreter only when no directory has an
 * ensurepip: a Python started for each new venv was ~0.1 s of its CPU.
 */
async function bundledWheels(interpreter: Interpreter): Promise<string[]> {
  for (const dir of interpreter.sysPath ?? []) {
    if (!(await stat(path.join(dir, 'ensurepip', '__init__.py')).then(() => true, () => false))) continue;
    const names = await readdir(path.join(dir, 'ensurepip', '_bundled')).catch(() => []);
    return names.filter((n) => n.endsWith('.whl')).sort();
  }
  const asked = await programOutput(interpreter.executable, ['-c', BUNDLED_WHEELS], { timeoutMs: 60_000 });
  return asked.status === 0 ? asked.stdout.split('\n').filter((n) => n.endsWith('.whl')) : [];
}

async function readySeed(opts: SeedVenvOptions): Promise<string | null> {
  const key = await seedKey(opts.interpreter, opts.systemSite);
  if (key === null) return null;
  const seeds = venvSeedsDir(opts.cacheDir);
  const seed = path.join(seeds, key);
  if (await isWholeSeed(seed)) return seed;
  await mkdir(seeds, { recursive: true, mode: 0o755 });
  const lock = await lockSeeds(seeds, {
    python: opts.interpreter.executable,
    onWait: () => opts.say(`==> waiting for another install, which is making the venv seed: ${seeds}`),
    waitMs: SEED_WAIT_MS,
  });
  if (lock === null) return null;
  try {
    // The install we waited for made it.
    if (await isWholeSeed(seed)) return seed;
    return await makeSeed(opts, seeds, key);
  } finally {
    await lock.release();
  }
}

/** Makes the seed `key` in `seeds`, under the seeds' lock. */
async function makeSeed(opts: SeedVenvOptions, seeds: string, key: string): Promise<string | null> {
  const seed = path.join(seeds, key);
  await removeAbandonedSeeds(seeds);
  // What is here is not whole (a seed cut short by hand, a part left by a gateway from before
  // the lock): it would refuse the rename below. Under the lock no whole seed can have come
  // since the look, so none is removed while another install copies from it.
  await rm(seed, { recursive: true, force: true });
  const making = path.join(seeds, `.making-${key}-${process.pid}-${randomBytes(4).toString('hex')}`);
  const started = performance.now();
  try {
    const args = ['-m', 'venv', ...(opts.systemSite ? ['--system-site-packages'] : []), making];
    // Not in the app's directory: `-m` puts the working directory first on sys.path, so an app's
    // venv.py or ensurepip/ would run as us, in a seed every app is given.
    if ((await runProgram({ file: opts.interpreter.executable, args, cwd: seeds, env: opts.env, output: opts.output })) !== 0) return null;
    await writeFile(path.join(making, SEED_STAMP_FILE), `${JSON.stringify({ format: SEED_FORMAT, madeFrom: making, interpreter: opts.interpreter.executable, version: opts.interpreter.version })}\n`);
    await rename(making, seed);
  } finally {
    await rm(making, { recursive: true, force: true });
  }
  opts.say(`==> venv seed made in ${((performance.now() - started) / 1000).toFixed(1)} s (pip for every new venv of ${opts.interpreter.executable}): ${seed}`);
  return seed;
}

/** The seed's stamp when it is a whole seed of this format, else null. */
async function seedStamp(seed: string): Promise<{ format: number; madeFrom?: string } | null> {
  try {
    const stamp = JSON.parse(await readFile(path.join(seed, SEED_STAMP_FILE), 'utf8')) as { format?: number; madeFrom?: string };
    return stamp.format === SEED_FORMAT ? { format: stamp.format, madeFrom: stamp.madeFrom } : null;
  } catch {
    return null;
  }
}

async function isWholeSeed(seed: string): Promise<boolean> {
  return (await seedStamp(seed)) !== null;
}

/** `.making-` directories of installs that were killed (their process is gone). */
async function removeAbandonedSeeds(seeds: string): Promise<void> {
  for (const name of await readdir(seeds)) {
    const pid = Number(/^\.making-[0-9a-f]+-(\d+)-/.exec(name)?.[1]);
    if (Number.isInteger(pid) && pid > 0 && !isAlive(pid)) await rm(path.join(seeds, name), { recursive: true, force: true });
  }
}

/**
 * The seed's site-packages into `dir`'s, and its bin/ entries that `dir` lacks (pip, pip3,
 * pip3.11: the interpreter and activate scripts `--without-pip` made already) with the seed's
 * path in them replaced by `dir`'s. Timestamps are kept (-p), so the seed's .pyc files stay valid.
 */
async function copySeed(seed: string, dir: string, interpreter: Interpreter, owner: SeedVenvOptions['owner']): Promise<void> {
  const [major, minor] = interpreter.version.split('.');
  const site = path.join('lib', `python${major}.${minor}`, 'site-packages');
  // cp(1), not fs.cp: ~1,600 files in 0.5 s where fs.cp took 2.4 s (its per-file JS).
  const copy = await programOutput('cp', ['-pR', '--', `${path.join(seed, site)}/.`, `${path.join(dir, site)}/`], { timeoutMs: 300_000, uid: owner?.uid, gid: owner?.gid, cwd: owner ? '/' : undefined });
  if (copy.status !== 0) throw new Error(`cp of the seed's site-packages: ${copy.message || copy.stderr}`);
  const made = new Set(await readdir(path.join(dir, 'bin')));
  // The `.making-` path the seed was made at: its scripts' shebangs name it, not the seed's.
  const madeFrom = (await seedStamp(seed))?.madeFrom ?? '';
  const seedPaths = [...new Set([await realpath(seed), seed, madeFrom])].filter((p) => p !== '');
  for (const name of await readdir(path.join(seed, 'bin'))) {
    if (made.has(name)) continue;
    const from = path.join(seed, 'bin', name);
    let text = await readFile(from, 'utf8');
    for (const p of seedPaths) text = text.split(p).join(dir);
    // Linux reads 127 bytes of a `#!` line (before 5.1): a longer one would run something else.
    if (text.startsWith('#!') && text.indexOf('\n') > 127) throw new Error(`${name}: its #! line would pass 127 bytes`);
    const to = path.join(dir, 'bin', name);
    // Through the descriptor: `bin/` may be the app's user's, who could swap a link in by name.
    const file = await open(to, 'wx');
    try {
      await file.writeFile(text);
      await file.chmod((await stat(from)).mode & 0o7777);
      if (owner) await file.chown(owner.uid, owner.gid);
    } finally {
      await file.close();
    }
  }
}
