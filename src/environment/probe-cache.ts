// The probe cache: what each binary interpreter said, kept across starts (a pyenv shim's probe
// is 0.4 s of bash, most of a cold start: issue 11).
//
// A file in the state root, used once setProbeCacheDir() names it: Gateway.start does, under the
// root's `cache/`, and so does every command that picks an interpreter
// (useStateRootProbeCache()), in one of two ways. A command that writes into the state root
// anyway (`run`, `test`, `install`, `uninstall`, `restore`) reads the file and writes it, making
// `cache/` when it is not there. A command that promises to create nothing there (`check`,
// `describe`; `backup`, which writes into its --to directory and reads the app's state; `vendor`,
// which writes into the app directory) reads the file when it exists and never writes it nor
// makes its directory: an entry whose host
// changed since (the checks below say so) is probed afresh for this run and left as it was, for
// the next command that writes to renew. An answer is
// reused only while nothing it depends on has changed:
//   - the binary: realpath(command)'s size, mtime and inode (an upgrade replaces the file);
//   - what Python reads around it: pyvenv.cfg beside the command and one level up (PEP 405:
//     that is what makes a symlink to /usr/bin/python3 a virtualenv), its site directories and
//     the .pth files in them (they add to sys.path), its sitecustomize;
//   - the host and the probe: the probe's own text, the kernel (platform_release in the
//     markers), the uid and HOME (the user site directory).
// A script is cached only when we know what it reads: a wrapper may decide what it runs each
// time without changing itself. The one we know is pyenv's shim (python3 on PATH on many
// hosts, and 0.4 s of bash per run, most of a cold start): it runs the version PYENV_VERSION
// names, else the first `.python-version` from the working directory up, else
// PYENV_ROOT/version (pyenv-version-file). Those files, the PYENV_* variables, the versions
// directory and the binary the shim ran are its entry's dependencies. Only successes are kept.

import { createHash } from 'node:crypto';
import { open, readdir, realpath, rename, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { PROBE, probe, safeRealpath, type ProbeFailure, type ProbeResult } from './interpreter-probe.js';
import { resolveStateRoot, stateCacheDir } from './state-root.js';
import { makeDirectory } from '../make-dir.js';

const CACHE_FILE = 'interpreters.json';

interface FileIdentity {
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

interface CacheEntry {
  file: FileIdentity;
  /** What else the answer depends on that is not a file: a pyenv shim's PYENV_* variables. */
  env?: string;
  /** Paths and their mtimes when probed (null: absent then). */
  deps: Array<[string, number | null]>;
  result: ProbeResult;
}

interface CacheFile {
  context: string;
  entries: Record<string, CacheEntry>;
}

/** Whether a command may write the cache file (and make its directory), or only read it. */
export type ProbeCacheAccess = 'read-write' | 'read-only';

let probeCacheDir: string | null = null;
let probeCacheAccess: ProbeCacheAccess = 'read-write';
const cacheFiles = new Map<string, Promise<CacheFile>>();

/**
 * Where the probe cache lives from now on in this process (a directory, created when first
 * written), or null for none (the default). Gateway.start passes STATE_ROOT/cache.
 */
export function setProbeCacheDir(dir: string | null, access: ProbeCacheAccess = 'read-write'): void {
  probeCacheDir = dir;
  probeCacheAccess = access;
}

/**
 * The cache of the state root `stateDir` (--state-dir) resolves to, for a command that picks the
 * app's interpreter: each probed every python3.N on PATH at each call, a pyenv shim's 0.4 s of
 * bash each, what its gateway had probed already. `read-only` for one that creates nothing under
 * the root (`check`, `describe`).
 */
export function useStateRootProbeCache(stateDir: string | undefined, access: ProbeCacheAccess): void {
  setProbeCacheDir(stateCacheDir(resolveStateRoot({ flag: stateDir })), access);
}

/**
 * No longer `dir` (a gateway's, as it stops or fails to start): a probe after it, by the library's
 * runCommand or the next test in the process, must not write under a state root that may be
 * removed or another's by then. Another gateway's directory, set since, stays.
 */
export function releaseProbeCacheDir(dir: string): void {
  if (probeCacheDir === dir) setProbeCacheDir(null);
}

function cacheContext(): string {
  const facts = [PROBE, os.release(), os.version(), String(process.getuid?.() ?? ''), os.homedir()];
  return createHash('sha256').update(facts.join('\0')).digest('hex').slice(0, 32);
}

function loadCacheFile(dir: string): Promise<CacheFile> {
  let pending = cacheFiles.get(dir);
  if (!pending) {
    pending = (async () => {
      const context = cacheContext();
      try {
        const handle = await open(path.join(dir, CACHE_FILE), 'r');
        try {
          if (trusted(await handle.stat())) {
            const data = JSON.parse(await handle.readFile('utf8')) as CacheFile;
            if (data.context === context && typeof data.entries === 'object' && data.entries !== null) return data;
          }
        } finally {
          await handle.close();
        }
      } catch {
        // absent or unreadable: start empty
      }
      return { context, entries: {} };
    })();
    cacheFiles.set(dir, pending);
  }
  return pending;
}

/**
 * A cache file only we or root could have written: each entry names the executable that runs the
 * app (and its hooks, and check's import of it), so a file another user could write, in a
 * --state-dir of theirs or left writable to all, would choose what runs as us.
 */
function trusted(st: { uid: number; mode: number }): boolean {
  return (st.uid === 0 || st.uid === process.getuid?.()) && (st.mode & 0o022) === 0;
}

export async function probeThroughCache(command: string): Promise<ProbeResult | ProbeFailure> {
  const dir = probeCacheDir;
  const writes = probeCacheAccess === 'read-write';
  if (dir === null || !path.isAbsolute(command)) return probe(command);
  const file = await fileIdentity(command);
  if (file === null) return probe(command);
  const shim = file.script === null ? null : pyenvShimInputs(file.script);
  if (file.script !== null && shim === null) return probe(command);
  const env = shim?.env ?? '';
  const cache = await loadCacheFile(dir);
  const entry = Object.hasOwn(cache.entries, command) ? cache.entries[command] : undefined;
  if (entry && sameFile(entry.file, file.identity) && (entry.env ?? '') === env && (await depsUnchanged(entry.deps))) return entry.result;
  const result = await probe(command);
  // Read-only (check): a stale entry is asked afresh for this run, and the file left for the next writer.
  if ('reason' in result || !writes) return result;
  const deps = await depsOf(command, result);
  if (shim !== null) deps.push(...(await withMtimes([...shim.files, await safeRealpath(result.executable)])));
  cache.entries[command] = { file: file.identity, ...(shim ? { env } : {}), deps, result };
  await writeCacheFile(dir, cache);
  return result;
}

/** The file `command` runs (its identity), and its text when it is a script; null when unreadable. */
async function fileIdentity(command: string): Promise<{ identity: FileIdentity; script: string | null } | null> {
  try {
    const real = await realpath(command);
    const handle = await open(real, 'r');
    try {
      const head = Buffer.alloc(4096);
      const { bytesRead } = await handle.read(head, 0, head.length, 0);
      const st = await handle.stat();
      const script = bytesRead >= 2 && head.toString('latin1', 0, 2) === '#!' ? head.toString('utf8', 0, bytesRead) : null;
      return { identity: { path: real, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino }, script };
    } finally {
      await handle.close();
    }
  } catch {
    return null;
  }
}

/**
 * What a pyenv shim's choice depends on, or null when `script` is not one. pyenv writes every
 * shim from one template: `export PYENV_ROOT="..."` then `exec ".../libexec/pyenv" exec ...`.
 */
function pyenvShimInputs(script: string): { files: string[]; env: string } | null {
  const root = /^export PYENV_ROOT="([^"$`\\]+)"$/m.exec(script)?.[1];
  if (root === undefined || !/^exec "[^"]*\/libexec\/pyenv" exec /m.test(script)) return null;
  const files = [path.join(root, 'version'), path.join(root, 'versions')];
  // pyenv-version-file looks in PYENV_DIR (default: the working directory) and every parent.
  for (let d = path.resolve(process.env.PYENV_DIR ?? process.cwd()); ; d = path.dirname(d)) {
    files.push(path.join(d, '.python-version'));
    if (d === path.dirname(d)) break;
  }
  const env = Object.keys(process.env)
    .filter((k) => k.startsWith('PYENV_'))
    .sort()
    .map((k) => `${k}=${process.env[k] ?? ''}`)
    .join('\0');
  return { files, env };
}

async function withMtimes(files: string[]): Promise<CacheEntry['deps']> {
  const unique = [...new Set(files)];
  const mtimes = await Promise.all(unique.map(mtimeOf));
  return unique.map((file, i) => [file, mtimes[i]]);
}

function sameFile(a: FileIdentity, b: FileIdentity): boolean {
  return a.path === b.path && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino;
}

async function mtimeOf(file: string): Promise<number | null> {
  try {
    return (await stat(file)).mtimeMs;
  } catch {
    return null;
  }
}

async function depsUnchanged(deps: CacheEntry['deps']): Promise<boolean> {
  const now = await Promise.all(deps.map(([file]) => mtimeOf(file)));
  return deps.every(([, then], i) => now[i] === then);
}

async function depsOf(command: string, result: ProbeResult): Promise<CacheEntry['deps']> {
  const bin = path.dirname(command);
  const files = [path.join(bin, 'pyvenv.cfg'), path.join(path.dirname(bin), 'pyvenv.cfg')];
  const siteDirs = [...result.sitePackages, ...(result.userSite ? [result.userSite] : [])];
  for (const dir of siteDirs) {
    files.push(dir);
    try {
      for (const name of await readdir(dir)) if (name.endsWith('.pth')) files.push(path.join(dir, name));
    } catch {
      // absent now: its mtime (null) is recorded, so its creation is noticed
    }
  }
  if (result.sitecustomize) files.push(result.sitecustomize);
  return withMtimes(files);
}

async function writeCacheFile(dir: string, cache: CacheFile): Promise<void> {
  // Written whole and renamed into place: a gateway starting meanwhile reads the old or the new.
  const tmp = path.join(dir, `${CACHE_FILE}.${process.pid}.tmp`);
  try {
    // Not mkdir's `recursive`: `run --state-dir /proc/x` probes before its root is prepared, and
    // that spins for ever under procfs (make-dir.ts).
    await makeDirectory(dir, 0o755);
    await writeFile(tmp, `${JSON.stringify(cache)}\n`, { mode: 0o644 });
    await rename(tmp, path.join(dir, CACHE_FILE));
  } catch {
    // A read-only state root costs the next start a probe, nothing more.
  }
}

/** Forget the cache files read so far (clearInterpreterCache); the files themselves stay. */
export function forgetProbeCacheFiles(): void {
  cacheFiles.clear();
}
