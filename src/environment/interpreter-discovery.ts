// Which interpreters this host has: `python3` on PATH, the system `/usr/bin/python3`, every
// `python3.N` on PATH, in the usual directories and in pyenv's versions, each file asked once
// per process (through the probe cache, probe-cache.ts) and merged with the others that are the
// same interpreter.

import { existsSync, type Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { compareVersions } from '../description/package-dir.js';
import { GatewayError } from '../errors.js';
import { isExecutableFile, which } from './executable.js';
import { probeCommandLine, safeRealpath, toInterpreter, type Interpreter, type ProbeFailure, type ProbeResult } from './interpreter-probe.js';
import { forgetProbeCacheFiles, probeThroughCache } from './probe-cache.js';

/** Where Debian (and most Linux distributions) keep the interpreter that sees `deb` packages. */
export const SYSTEM_PYTHON = '/usr/bin/python3';

/** Directories searched for `python3.N` besides PATH (a service's PATH is often short). */
const EXTRA_DIRS = ['/usr/bin', '/usr/local/bin'];

/**
 * The `bin` of each version pyenv installed, for one of PATH's directories that is its shims
 * directory (none for another): a shim of a version not enabled (`pyenv global`) fails
 * ("pyenv: python3.12: command not found") though the host has that interpreter (SPEC §1.3:
 * `python:` picks among the host's). Links in `versions/` (pyenv-virtualenv's environments) and
 * directories with a pyvenv.cfg are virtualenvs, not interpreters of the host.
 */
async function pyenvVersionDirs(shims: string): Promise<string[]> {
  if (path.basename(shims) !== 'shims') return [];
  const versions = path.join(path.dirname(shims), 'versions');
  let entries: Dirent[];
  try {
    entries = await readdir(versions, { withFileTypes: true });
  } catch {
    return [];
  }
  // 3.9.18 before 3.10.13, as python3.N are ordered in a directory; number by number, not
  // localeCompare's numeric collation, which loads ICU's data (2.6 MiB of the front's RSS).
  entries.sort((a, b) => compareVersions(a.name, b.name));
  return entries.filter((e) => e.isDirectory() && !existsSync(path.join(versions, e.name, 'pyvenv.cfg'))).map((e) => path.join(versions, e.name, 'bin'));
}

/** PATH's directories, as a shell searches them (a relative entry is the working directory's: left out). */
function pathDirsOf(pathEnv: string): string[] {
  return pathEnv.split(path.delimiter).filter((d) => path.isAbsolute(d));
}

/** The executable `python3.N` files in `dir` as [name, file], python3.6 before python3.10. */
async function versionedPythons(dir: string): Promise<Array<[string, string]>> {
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return [];
  }
  const found: Array<[string, string]> = [];
  for (const name of entries.filter((n) => /^python3\.\d+$/.test(n)).sort(byMinorVersion)) {
    const file = path.join(dir, name);
    if (await isExecutableFile(file)) found.push([name, file]);
  }
  return found;
}

/**
 * Candidate `[name, file]` pairs in preference order: python3 on PATH, the system one, then
 * python3.N. Of pyenv's shims, a python3.N that one of its versions has is left out: the shim runs
 * that version's (found in its `bin`), or another's of that name, or the system's (found on PATH),
 * or fails for a version not enabled, which is no failure to report; each is pyenv's bash, ~0.5 s
 * of CPU, and a host with pyenv has a shim per series (9 s of a walk of the host's on 2 cores).
 * A version's virtualenv that `pyenv global` enables is seen through `python3` on PATH alone.
 */
async function candidates(pathEnv: string): Promise<Array<[string, string]>> {
  const pathDirs = pathDirsOf(pathEnv);
  const found: Array<[string, string]> = [];
  const onPath = await which('python3', pathDirs);
  if (onPath) found.push(['python3', onPath]);
  if (await isExecutableFile(SYSTEM_PYTHON)) found.push([SYSTEM_PYTHON, SYSTEM_PYTHON]);
  const pythonsIn = new Map<string, Array<[string, string]>>();
  const read = async (dir: string) => pythonsIn.get(dir) ?? pythonsIn.set(dir, await versionedPythons(dir)).get(dir)!;
  // Each shims directory's python3.N names that its versions have.
  const held = new Map<string, Set<string>>();
  const versionDirs: string[] = [];
  for (const shims of pathDirs) {
    const versions = await pyenvVersionDirs(shims);
    versionDirs.push(...versions);
    for (const dir of versions) for (const [name] of await read(dir)) held.set(shims, (held.get(shims) ?? new Set()).add(name));
  }
  for (const dir of [...new Set([...pathDirs, ...EXTRA_DIRS, ...versionDirs])]) {
    for (const [name, file] of await read(dir)) if (!held.get(dir)?.has(name)) found.push([name, file]);
  }
  return found;
}

/** python3.6 before python3.10: as text, "python3.10" sorts first. */
function byMinorVersion(a: string, b: string): number {
  return Number(a.slice('python3.'.length)) - Number(b.slice('python3.'.length));
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

export interface Candidate {
  names: string[];
  file: string;
}

/**
 * The candidate of candidateFiles(pathEnv) that `name` (python3, or the system interpreter)
 * names, found without their walk: a pick probes it first, and needs the others only when it
 * does not fit. The walk reads every directory of PATH, /usr/bin's and pyenv's (~3,000 entries
 * on a host with pyenv, ~25 ms of CPU of every app's start). Its file and first name are the
 * walk's (python3 first, then the system one); of its other names, the python3.N that are the
 * same file, none is looked for.
 */
export async function firstCandidate(pathEnv: string, name: 'python3' | typeof SYSTEM_PYTHON): Promise<Candidate | null> {
  const onPath = await which('python3', pathDirsOf(pathEnv));
  if (name === 'python3') return onPath === null ? null : { names: ['python3'], file: onPath };
  if (!(await isExecutableFile(SYSTEM_PYTHON))) return null;
  if (onPath !== null && (await safeRealpath(onPath)) === (await safeRealpath(SYSTEM_PYTHON))) return { names: ['python3', SYSTEM_PYTHON], file: onPath };
  return { names: [SYSTEM_PYTHON], file: SYSTEM_PYTHON };
}

/** A candidate that did not answer as a Python (a fake, a pyenv shim of a version not enabled): named, with why, when none fits. */
export interface FailedCandidate {
  names: string[];
  file: string;
  reason: string;
  /** It gave no answer in time (ProbeFailure.timedOut): perhaps the very Python a pick wants. */
  timedOut?: boolean;
  /** It could not be run for want of file descriptors (ProbeFailure.openFiles): it may be any Python. */
  openFiles?: 'EMFILE' | 'ENFILE';
}

export interface Discovery {
  interpreters: Interpreter[];
  failed: FailedCandidate[];
}

async function discover(pathEnv: string): Promise<Discovery> {
  const files = await candidateFiles(pathEnv);
  // A few at a time: a dozen pyenv shims at once on 2 cores took past PROBE_TIMEOUT_MS each.
  const results = await mapLimited(files, Math.max(2, os.availableParallelism()), (c) => probeOnce(c.file));
  // A pyenv shim and the binary it runs are one interpreter: merge on what Python itself says.
  const byInterpreter = new Map<string, Interpreter>();
  const failed: FailedCandidate[] = [];
  for (const [i, c] of files.entries()) {
    const result = results[i];
    if ('reason' in result) {
      failed.push({ names: c.names, file: c.file, reason: result.reason, ...(result.timedOut ? { timedOut: true } : {}), ...(result.openFiles ? { openFiles: result.openFiles } : {}) });
      continue;
    }
    const key = `${await safeRealpath(result.executable)}\0${result.prefix}`;
    const seen = byInterpreter.get(key);
    if (seen) c.names.forEach((n) => addName(seen.names, n));
    else byInterpreter.set(key, toInterpreter(c.names, result));
  }
  const interpreters = [...byInterpreter.values()];
  // A pyenv shim that failed for a version found in pyenv's versions is no failure to report.
  const foundNames = new Set(interpreters.flatMap((i) => i.names));
  return { interpreters, failed: failed.filter((c) => !c.names.every((n) => foundNames.has(n))) };
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

const discoveryCache = new Map<string, Promise<Discovery>>();
/** One probe per command per process, whoever asks (discovery, a pick, an override). */
const probes = new Map<string, Promise<ProbeResult | ProbeFailure>>();

export interface DiscoverOptions {
  /** The PATH to search; default the gateway's own. */
  pathEnv?: string;
}

/** Every interpreter on this host, each probed once per process (per PATH value). */
export async function discoverInterpreters(opts: DiscoverOptions = {}): Promise<Interpreter[]> {
  return (await discoverHost(opts)).interpreters;
}

/** The interpreters, and the candidates that did not answer as one (with why). */
export function discoverHost(opts: DiscoverOptions = {}): Promise<Discovery> {
  const pathEnv = opts.pathEnv ?? process.env.PATH ?? '';
  let pending = discoveryCache.get(pathEnv);
  if (!pending) {
    const made = discover(pathEnv);
    discoveryCache.set(pathEnv, made);
    forgetIf(made, (found) => found.failed.some((c) => c.timedOut || c.openFiles), () => discoveryCache.get(pathEnv) === made && discoveryCache.delete(pathEnv));
    pending = made;
  }
  return pending;
}

/**
 * Forgets a kept answer that holds a timeout or a spawn refused for want of files: that is the
 * host's load of the moment, not what the interpreter is, and a gateway's next start of the app
 * (or the next pick in a long-lived process) must ask again rather than fail on it for good.
 */
function forgetIf<T>(pending: Promise<T>, timedOut: (value: T) => boolean, forget: () => void): void {
  pending.then((value) => {
    if (timedOut(value)) forget();
  }, () => {});
}

/** Forget what was probed (tests; a long-running gateway after SIGHUP). The cache file stays. */
export function clearInterpreterCache(): void {
  discoveryCache.clear();
  probes.clear();
  forgetProbeCacheFiles();
}

/** What `command` says, probed (or read from the probe cache) once per process. */
export function probeOnce(command: string): Promise<ProbeResult | ProbeFailure> {
  let pending = probes.get(command);
  if (!pending) {
    const made = probeThroughCache(command);
    probes.set(command, made);
    forgetIf(made, (result) => 'reason' in result && (result.timedOut === true || result.openFiles !== undefined), () => probes.get(command) === made && probes.delete(command));
    pending = made;
  }
  return pending;
}

/** Probe one named interpreter (the environment file's `python:`); APPPKG_PY_NOT_EXECUTABLE if it does not run, APPPKG_PY_PROBE_TIMEOUT if it does not answer in time. */
export async function probeInterpreter(command: string): Promise<Interpreter> {
  const result = await probeOnce(command);
  if ('reason' in result && result.timedOut) throw probeTimeout([{ names: [command], file: command, reason: result.reason }], null);
  if ('reason' in result) throw new GatewayError('APPPKG_PY_NOT_EXECUTABLE', { path: command, reason: result.reason, ...(result.openFiles ? { openFiles: result.openFiles } : {}), ...(result.notPython ? { notPython: true, probe: probeCommandLine(command) } : {}), ...(result.pyenv?.paths.length ? { pyenvPaths: result.pyenv.paths, pyenvVersions: result.pyenv.versions } : {}) });
  return toInterpreter([command], result);
}

/**
 * APPPKG_PY_NOT_EXECUTABLE for a candidate the pick could not run for want of file descriptors:
 * which interpreter the app gets is not known until it is asked, so the pick waits for room
 * (the refusal is tried again by itself, version-judge.ts) rather than take another or say none.
 */
export function outOfFilesToAsk(candidate: FailedCandidate): GatewayError {
  return new GatewayError('APPPKG_PY_NOT_EXECUTABLE', { path: candidate.file, reason: candidate.reason, openFiles: candidate.openFiles });
}

/**
 * APPPKG_PY_PROBE_TIMEOUT for candidates that gave no answer in time, one of which the pick may
 * have wanted. `why` says why that stops the pick; null for the environment file's interpreter,
 * which is the app's by itself.
 */
export function probeTimeout(slow: FailedCandidate[], why: string | null): GatewayError {
  const named = slow.map((c) => (c.names[0] === c.file ? c.file : `${c.names[0]} (${c.file})`));
  return new GatewayError('APPPKG_PY_PROBE_TIMEOUT', {
    candidates: named.join(', '),
    count: slow.length,
    reason: slow[0].reason,
    ...(why === null ? { override: true, path: slow[0].file } : { why }),
    probe: probeCommandLine(slow[0].file),
  });
}
