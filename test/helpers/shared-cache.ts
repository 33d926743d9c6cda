// What a fresh state root costs the product once per root, paid once per test run instead: the
// interpreter probes (~0.4 s of CPU per gateway start, src/environment/probe-cache.ts) and the
// venv seed (~5-7 s at the first pip install, src/lifecycle/venv-seed.ts). scripts/test.mjs
// makes one directory for every test process of a run and names it in SHARED_CACHE_VARIABLE; a
// test process run by hand makes its own, removed at its exit.
//
// runCli and startCli (the checkout's CLI, run as us) give a root this run's caches when they
// are handed a fresh one (`--state-dir X` or APPPKG_STATE_DIR; X empty or absent): a copy of the probe cache
// (each entry carries what it depends on, so it is as valid in any root: the gateway rewrites the
// file) and cache/venv-seeds as a link to the run's seeds. Sharing the seeds between processes is
// what venv-seed.ts already allows installs at once: a seed is made under the seeds' lock
// (seed-lock.ts; the others wait for it and take it) in a `.making-` directory, renamed into place
// with its stamp inside, and a new venv's scripts are rewritten from the path in the stamp, not
// the root's.
// A root made by markCold (warm-state.ts: coldStateDir) never gets them: the tests about a first
// start's probing, the seed itself, or the root's exact contents.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, resolve, sep } from 'node:path';
import { atSignal } from './on-signal.js';

/** The run's shared cache directory, made and removed by scripts/test.mjs. */
export const SHARED_CACHE_VARIABLE = 'APPPKG_TEST_SHARED_CACHE';
const PROBE_CACHE = 'interpreters.json';

let ownDir: string | null = null;

/** The run's cache directory, or this process's when no run named one (servers.ts keeps its initdb template there too). */
export function sharedCacheDir(): string {
  const named = process.env[SHARED_CACHE_VARIABLE];
  if (named && isAbsolute(named) && existsSync(named)) return named;
  if (ownDir === null) {
    const dir = mkdtempSync(join(tmpdir(), 'apppkg-test-shared-cache-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    atSignal(() => rmSync(dir, { recursive: true, force: true }));
    ownDir = dir;
  }
  return ownDir;
}

const CREATE_NOTHING = new Set(['check', 'describe', 'init', 'export']);

const coldRoots = new Set<string>();
/** Roots given the caches whose probe cache is not yet in the shared one. */
const unread = new Set<string>();

/** `dir`, and every state root inside it, is never given the run's caches. */
export function markCold(dir: string): void {
  coldRoots.add(resolve(dir));
}

function isCold(root: string): boolean {
  return [...coldRoots].some((cold) => root === cold || root.startsWith(cold + sep));
}

/**
 * The state root a CLI run is given (`--state-dir X`, `--state-dir=X`, else APPPKG_STATE_DIR in
 * its own env), or null. Commands that create no state root are left alone: that `check` and
 * `describe` create nothing is what they are tested for.
 */
export function stateRootOf(args: string[], env: NodeJS.ProcessEnv | undefined): string | null {
  if (CREATE_NOTHING.has(args[0])) return null;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--state-dir' && i + 1 < args.length) return args[i + 1];
    if (args[i].startsWith('--state-dir=')) return args[i].slice('--state-dir='.length);
  }
  return env?.APPPKG_STATE_DIR || null;
}

/**
 * Gives `root` the run's caches when it is a fresh root of ours not marked cold: an empty
 * directory, or an absent one in a directory only we may write in (made here as the product
 * makes it, mode 0755). A root with anything in it was started already (its own cache is its
 * own) or set up by its test; one we could not make is the product's to fail on.
 */
export function giveSharedCaches(root: string | null): void {
  if (root === null || !isAbsolute(root) || isCold(resolve(root)) || !isFreshRoot(root)) return;
  const shared = sharedCacheDir();
  gatherProbeCaches();
  const seeds = join(shared, 'venv-seeds');
  mkdirSync(seeds, { recursive: true, mode: 0o755 });
  mkdirSync(join(root, 'cache'), { mode: 0o755 });
  if (existsSync(join(shared, PROBE_CACHE))) copyFileSync(join(shared, PROBE_CACHE), join(root, 'cache', PROBE_CACHE));
  symlinkSync(seeds, join(root, 'cache', 'venv-seeds'));
  unread.add(root);
}

function isFreshRoot(root: string): boolean {
  const ours = (dir: string) => {
    const st = statSync(dir);
    return st.isDirectory() && st.uid === process.getuid?.();
  };
  try {
    if (existsSync(root)) return ours(root) && readdirSync(root).length === 0;
    // Another user could not have made it either: a test of who may make the root is left alone.
    if (!ours(dirname(root)) || (statSync(dirname(root)).mode & 0o022) !== 0) return false;
    mkdirSync(root, { mode: 0o755 });
    return true;
  } catch {
    return false;
  }
}

/** The probe caches the gateways in the roots given ours have written, into the shared one. */
export function gatherProbeCaches(): void {
  for (const root of unread) keepProbeCache(root, sharedCacheDir());
}

interface ProbeCacheFile {
  context: string;
  entries: Record<string, unknown>;
}

function readProbeCache(file: string): ProbeCacheFile | null {
  try {
    const data = JSON.parse(readFileSync(file, 'utf8')) as ProbeCacheFile;
    return typeof data.context === 'string' && typeof data.entries === 'object' && data.entries !== null ? data : null;
  } catch {
    return null;
  }
}

/**
 * The answers a gateway in `root` wrote, added to the shared probe cache: each root's gateway
 * probes the pythons its test put on PATH, and the next roots start with all of them. Another
 * context (a test's own HOME or uid) is not merged: the product would not read it.
 */
function keepProbeCache(root: string, shared: string): void {
  const made = readProbeCache(join(root, 'cache', PROBE_CACHE));
  if (made === null) {
    if (!existsSync(root)) unread.delete(root);
    return;
  }
  unread.delete(root);
  const kept = readProbeCache(join(shared, PROBE_CACHE));
  if (kept !== null && kept.context !== made.context) return;
  const merged = { context: made.context, entries: { ...kept?.entries, ...made.entries } };
  // Renamed into place whole: another test process may be copying it this moment.
  const tmp = join(shared, `${PROBE_CACHE}.${process.pid}.tmp`);
  writeFileSync(tmp, `${JSON.stringify(merged)}\n`, { mode: 0o644 });
  renameSync(tmp, join(shared, PROBE_CACHE));
}

