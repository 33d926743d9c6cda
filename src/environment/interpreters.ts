// Which Python runs an app (SPEC §1.3). We find the host's interpreters — `python3` on PATH,
// the system `/usr/bin/python3`, every `python3.N` — ask each once what it is, and pick by the
// description's PEP 440 specifier. Matching uses @renovatebot/pep440, never a parser of our own.
//
// A probe is a Python start: ~30 ms for Debian's /usr/bin/python3, 0.4 s for a pyenv shim (a
// bash script), and a host with pyenv has a dozen shims: probing them all took 11 s of a
// gateway start on a busy 2-core box (issue 11, "the front's own cost"). So a pick probes only
// what its rule needs (python3 on PATH, or the system one), in order, and the gateway keeps
// what binaries said in a cache under its state root (below), so a second start runs none.

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { access, mkdir, open, readFile, readdir, realpath, rename, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { rcompare, satisfies } from '@renovatebot/pep440';
import type { Description } from '../description/types.js';
import { GatewayError } from '../errors.js';

/** Where Debian (and most Linux distributions) keep the interpreter that sees `deb` packages. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** Directories searched for `python3.N` besides PATH (a service's PATH is often short). */
const EXTRA_DIRS = ['/usr/bin', '/usr/local/bin'];

const PROBE_TIMEOUT_MS = 10_000;

/** PEP 508 environment markers, as the interpreter reports them (checks.ts evaluates with them). */
export type MarkerEnvironment = Record<string, string>;

export interface Interpreter {
  /** How it was found, first name wins: "python3" (on PATH), "/usr/bin/python3", "python3.12", or the override path. */
  label: string;
  /** Every name that led to this interpreter, e.g. ["python3.11", "/usr/bin/python3"]. */
  names: string[];
  /** What to run: sys.executable, so pyenv shims and symlinks are resolved once, here. */
  executable: string;
  /** PEP 440 version built from sys.version_info, e.g. "3.11.7" or "3.13.0rc1". */
  version: string;
  implementation: string;
  prefix: string;
  basePrefix: string;
  /** True when this interpreter is itself a virtualenv's python. */
  isVenv: boolean;
  /** The interpreter's own sys.path (without the script directory). */
  sysPath: string[];
  sitePackages: string[];
  userSite: string | null;
  /** The sitecustomize module the interpreter loads by itself (Debian ships one), if any. */
  sitecustomize: string | null;
  markers: MarkerEnvironment;
}

// Runs on every Python 3 we may meet: nothing newer than 3.6 syntax, stdlib only.
const PROBE = String.raw`
import json, os, platform, site, sys
v = sys.version_info
pre = {'alpha': 'a', 'beta': 'b', 'candidate': 'rc'}.get(v.releaselevel)
version = '%d.%d.%d' % (v.major, v.minor, v.micro) + ('%s%d' % (pre, v.serial) if pre else '')
iv = sys.implementation.version
ipre = {'alpha': 'a', 'beta': 'b', 'candidate': 'rc'}.get(iv.releaselevel)
try:
    site_packages = list(site.getsitepackages())
except Exception:
    site_packages = []
try:
    user_site = site.getusersitepackages() if site.ENABLE_USER_SITE else None
except Exception:
    user_site = None
sc = sys.modules.get('sitecustomize')
print(json.dumps({
    'executable': sys.executable,
    'version': version,
    'implementation': sys.implementation.name,
    'prefix': sys.prefix,
    'basePrefix': getattr(sys, 'base_prefix', sys.prefix),
    'sysPath': [p for p in sys.path if p],
    'sitePackages': site_packages,
    'userSite': user_site,
    'sitecustomize': getattr(sc, '__file__', None),
    'markers': {
        'os_name': os.name,
        'sys_platform': sys.platform,
        'platform_machine': platform.machine(),
        'platform_python_implementation': platform.python_implementation(),
        'platform_release': platform.release(),
        'platform_system': platform.system(),
        'platform_version': platform.version(),
        'python_version': '%d.%d' % (v.major, v.minor),
        'python_full_version': platform.python_version(),
        'implementation_name': sys.implementation.name,
        'implementation_version': '%d.%d.%d' % (iv.major, iv.minor, iv.micro) + ('%s%d' % (ipre, iv.serial) if ipre else ''),
    },
}))
`;

type ProbeResult = Omit<Interpreter, 'label' | 'names' | 'isVenv'>;

/** Run `command -E -c PROBE`; a failure is returned as a reason, never thrown. */
function probe(command: string): Promise<ProbeResult | { reason: string }> {
  return new Promise((resolve) => {
    // -E: the gateway's own PYTHONPATH/PYTHONHOME must not colour what the interpreter says.
    execFile(
      command,
      ['-E', '-c', PROBE],
      { timeout: PROBE_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 20, windowsHide: true },
      (err, stdout, stderr) => {
        if (err) {
          const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: unknown };
          let reason: string;
          if (e.code === 'ENOENT') reason = 'no such file';
          else if (e.code === 'EACCES') reason = 'permission denied (not executable)';
          else if (e.killed) reason = `no answer within ${PROBE_TIMEOUT_MS / 1000}s`;
          else reason = firstLine(String(stderr)) || `exited with status ${String(e.code)}, expected a JSON line`;
          resolve({ reason });
          return;
        }
        try {
          const data = JSON.parse(String(stdout).trim().split('\n').pop() ?? '') as ProbeResult;
          if (typeof data.version !== 'string' || typeof data.executable !== 'string') throw new Error('bad probe');
          if (!data.executable) data.executable = command;
          resolve(data);
        } catch {
          resolve({ reason: `unexpected output: ${firstLine(String(stdout)) || '(none)'}` });
        }
      },
    );
  });
}

function firstLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
}

async function isExecutableFile(file: string): Promise<boolean> {
  try {
    await access(file, fsConstants.X_OK);
    return true;
  } catch {
    return false;
  }
}

async function which(name: string, dirs: string[]): Promise<string | null> {
  for (const dir of dirs) {
    const file = path.join(dir, name);
    if (await isExecutableFile(file)) return file;
  }
  return null;
}

async function safeRealpath(file: string): Promise<string> {
  try {
    return await realpath(file);
  } catch {
    return file;
  }
}

/** Candidate `[name, file]` pairs in preference order: python3 on PATH, the system one, then python3.N. */
async function candidates(pathEnv: string): Promise<Array<[string, string]>> {
  const pathDirs = pathEnv.split(path.delimiter).filter((d) => path.isAbsolute(d));
  const found: Array<[string, string]> = [];
  const onPath = await which('python3', pathDirs);
  if (onPath) found.push(['python3', onPath]);
  if (await isExecutableFile(SYSTEM_PYTHON)) found.push([SYSTEM_PYTHON, SYSTEM_PYTHON]);
  for (const dir of [...new Set([...pathDirs, ...EXTRA_DIRS])]) {
    let entries: string[];
    try {
      entries = await readdir(dir);
    } catch {
      continue;
    }
    for (const name of entries.filter((n) => /^python3\.\d+$/.test(n)).sort()) {
      const file = path.join(dir, name);
      if (await isExecutableFile(file)) found.push([name, file]);
    }
  }
  return found;
}

/** Candidates grouped by the file they are (/bin -> /usr/bin, python3 -> python3.11): each is asked once. */
async function candidateFiles(pathEnv: string): Promise<Candidate[]> {
  const byFile = new Map<string, Candidate>();
  for (const [name, file] of await candidates(pathEnv)) {
    const key = await safeRealpath(file);
    const seen = byFile.get(key);
    if (seen) addName(seen.names, name);
    else byFile.set(key, { names: [name], file });
  }
  return [...byFile.values()];
}

interface Candidate {
  names: string[];
  file: string;
}

async function discover(pathEnv: string): Promise<Interpreter[]> {
  const files = await candidateFiles(pathEnv);
  // A few at a time: a dozen pyenv shims at once on 2 cores took past PROBE_TIMEOUT_MS each.
  const results = await mapLimited(files, Math.max(2, os.availableParallelism()), (c) => probeOnce(c.file));
  // A pyenv shim and the binary it runs are one interpreter: merge on what Python itself says.
  const byInterpreter = new Map<string, Interpreter>();
  for (const [i, c] of files.entries()) {
    const result = results[i];
    if ('reason' in result) continue; // e.g. a pyenv shim for a version not enabled here
    const key = `${await safeRealpath(result.executable)}\0${result.prefix}`;
    const seen = byInterpreter.get(key);
    if (seen) c.names.forEach((n) => addName(seen.names, n));
    else byInterpreter.set(key, toInterpreter(c.names, result));
  }
  return [...byInterpreter.values()];
}

async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}

function addName(names: string[], name: string): void {
  if (!names.includes(name)) names.push(name);
}

function toInterpreter(names: string[], result: ProbeResult): Interpreter {
  return { label: names[0], names: [...names], ...result, isVenv: result.prefix !== result.basePrefix };
}

const discoveryCache = new Map<string, Promise<Interpreter[]>>();
/** One probe per command per process, whoever asks (discovery, a pick, an override). */
const probes = new Map<string, Promise<ProbeResult | { reason: string }>>();

export interface DiscoverOptions {
  /** The PATH to search; default the gateway's own. */
  pathEnv?: string;
}

/** Every interpreter on this host, each probed once per process (per PATH value). */
export function discoverInterpreters(opts: DiscoverOptions = {}): Promise<Interpreter[]> {
  const pathEnv = opts.pathEnv ?? process.env.PATH ?? '';
  let pending = discoveryCache.get(pathEnv);
  if (!pending) {
    pending = discover(pathEnv);
    discoveryCache.set(pathEnv, pending);
  }
  return pending;
}

/** Forget what was probed (tests; a long-running gateway after SIGHUP). The cache file stays. */
export function clearInterpreterCache(): void {
  discoveryCache.clear();
  probes.clear();
  cacheFiles.clear();
}

function probeOnce(command: string): Promise<ProbeResult | { reason: string }> {
  let pending = probes.get(command);
  if (!pending) {
    pending = probeThroughCache(command);
    probes.set(command, pending);
  }
  return pending;
}

/** Probe one named interpreter (the environment file's `python:`); APPPKG_PY_NOT_EXECUTABLE if it does not run. */
export async function probeInterpreter(command: string): Promise<Interpreter> {
  const result = await probeOnce(command);
  if ('reason' in result) throw new GatewayError('APPPKG_PY_NOT_EXECUTABLE', { path: command, reason: result.reason });
  return toInterpreter([command], result);
}

// ---- The probe cache: what each binary interpreter said, kept across starts ----
//
// A file in the state root, used once setProbeCacheDir() names it (Gateway.start does, under
// the root's `cache/`); lifecycle commands and `check` keep probing afresh. An answer is
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

let probeCacheDir: string | null = null;
const cacheFiles = new Map<string, Promise<CacheFile>>();

/**
 * Where the probe cache lives from now on in this process (a directory, created when first
 * written), or null for none (the default). Gateway.start passes STATE_ROOT/cache.
 */
export function setProbeCacheDir(dir: string | null): void {
  probeCacheDir = dir;
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
        const data = JSON.parse(await readFile(path.join(dir, CACHE_FILE), 'utf8')) as CacheFile;
        if (data.context === context && typeof data.entries === 'object' && data.entries !== null) return data;
      } catch {
        // absent or unreadable: start empty
      }
      return { context, entries: {} };
    })();
    cacheFiles.set(dir, pending);
  }
  return pending;
}

async function probeThroughCache(command: string): Promise<ProbeResult | { reason: string }> {
  const dir = probeCacheDir;
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
  if ('reason' in result) return result;
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
    await mkdir(dir, { recursive: true, mode: 0o755 });
    await writeFile(tmp, `${JSON.stringify(cache)}\n`, { mode: 0o644 });
    await rename(tmp, path.join(dir, CACHE_FILE));
  } catch {
    // A read-only state root costs the next start a probe, nothing more.
  }
}

/** "python3 3.11.7 (/root/.pyenv/versions/3.11.7/bin/python3)" or "/usr/bin/python3 3.11.2". */
export function formatInterpreter(i: Interpreter): string {
  return i.label === i.executable ? `${i.label} ${i.version}` : `${i.label} ${i.version} (${i.executable})`;
}

/** Does `version` satisfy the specifier? null/empty = any. Prereleases count (as pip's Requires-Python does). */
export function versionSatisfies(version: string, specifier: string | null): boolean {
  if (specifier === null || specifier.trim() === '') return true;
  try {
    return satisfies(version, specifier, { prereleases: true });
  } catch {
    return false;
  }
}

export interface PickOptions extends DiscoverOptions {
  /** The environment file's `python:` path; wins over discovery when given, but for deb apps. */
  override?: string;
}

/** Whether `file` is the system interpreter itself (a link to it, or /usr/bin/python3.11 say). */
async function isSystemPython(file: string): Promise<boolean> {
  try {
    return (await realpath(file)) === (await realpath(SYSTEM_PYTHON));
  } catch {
    return false;
  }
}

/**
 * The interpreter an app runs on (SPEC §1.3): with `deb` packages, the system interpreter;
 * else the override if given; else `python3` on PATH if it satisfies; else the highest that does.
 * An override is not used for an app with `deb` packages, unless it is the system interpreter:
 * SPEC names the environment file's interpreter as the alternative to python3 on PATH only, and
 * the packages are importable from the system one alone (an app given another failed to import).
 */
export async function pickInterpreter(
  desc: Pick<Description, 'python' | 'deb'>,
  opts: PickOptions = {},
): Promise<Interpreter> {
  const specifier = desc.python;
  if (opts.override !== undefined && opts.override !== '' && (desc.deb.length === 0 || (await isSystemPython(opts.override)))) {
    const chosen = await probeInterpreter(opts.override);
    if (versionSatisfies(chosen.version, specifier)) return chosen;
    throw noInterpreter(specifier, [chosen], false);
  }
  const pathEnv = opts.pathEnv ?? process.env.PATH ?? '';
  // The rule's first choice is probed alone; everything is probed only when it does not fit.
  const files = await candidateFiles(pathEnv);
  const first = files.find((c) => c.names.includes(desc.deb.length > 0 ? SYSTEM_PYTHON : 'python3'));
  if (first) {
    const result = await probeOnce(first.file);
    if (!('reason' in result) && versionSatisfies(result.version, specifier)) return toInterpreter(first.names, result);
  }
  const all = await discoverInterpreters({ pathEnv });
  if (desc.deb.length > 0) {
    // deb packages are importable only from the system interpreter.
    const system = all.find((i) => i.names.includes(SYSTEM_PYTHON));
    if (system && versionSatisfies(system.version, specifier)) return system;
    throw noInterpreter(specifier, all, true);
  }
  const onPath = all.find((i) => i.names.includes('python3'));
  if (onPath && versionSatisfies(onPath.version, specifier)) return onPath;
  const fitting = all.filter((i) => versionSatisfies(i.version, specifier));
  fitting.sort((a, b) => rcompare(a.version, b.version));
  if (fitting.length > 0) return fitting[0];
  throw noInterpreter(specifier, all, false);
}

function noInterpreter(specifier: string | null, found: Interpreter[], reasonDeb: boolean): GatewayError {
  return new GatewayError('APPPKG_PY_NO_INTERPRETER', {
    key: 'python',
    specifier: specifier ?? '(any)',
    foundList: found.map(formatInterpreter).join(', '),
    reasonDeb,
    expected: specifier ?? 'any Python 3',
    found: found.map(formatInterpreter).join(', ') || 'none',
  });
}
