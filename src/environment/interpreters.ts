// Which Python runs an app (SPEC §1.3). We find the host's interpreters — `python3` on PATH,
// the system `/usr/bin/python3`, every `python3.N` — ask each once what it is, and pick by the
// description's PEP 440 specifier. Matching uses @renovatebot/pep440, never a parser of our own.
//
// A probe is a Python start: ~30 ms for Debian's /usr/bin/python3, 0.4 s for a pyenv shim (a
// bash script), and a host with pyenv has a dozen shims: probing them all took 11 s of a
// gateway start on a busy 2-core box (issue 11, "the front's own cost"). So a pick looks for and
// probes only what its rule needs (python3 on PATH, or the system one), in order, and the gateway keeps
// what binaries said in a cache under its state root (probe-cache.ts), so a second start runs none.
//
// Finding them is interpreter-discovery.ts, asking one what it is interpreter-probe.ts, and
// keeping the answers across starts probe-cache.ts; this file is the choice.

import { realpath } from 'node:fs/promises';
import path from 'node:path';
import { rcompare, satisfies } from '@renovatebot/pep440';
import type { Description } from '../description/types.js';
import { GatewayError, isGatewayError } from '../errors.js';
import type { FilePlace } from './host-file.js';
import { toInterpreter, type Interpreter } from './interpreter-probe.js';
import { discoverHost, firstCandidate, outOfFilesToAsk, probeInterpreter, probeOnce, probeTimeout, SYSTEM_PYTHON, type DiscoverOptions, type FailedCandidate } from './interpreter-discovery.js';

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
  /**
   * Where the environment file names `override`. A failure of the override is the host's
   * mistake, so its error points there, not at app.yaml's `python:`.
   */
  overrideAt?: FilePlace;
}

/** What `pickInterpreter` reads of a description; `file` and `positions` place a mismatch's requirement. */
export type InterpreterNeeds = Pick<Description, 'python' | 'deb'> & Partial<Pick<Description, 'file' | 'positions' | 'kind'>>;

/** The oldest CPython an ASGI app's worker runs on: it is built on 3.7's asyncio (BufferedProtocol, asyncio.run). */
export const ASGI_MINIMUM = '3.7';

/** Whether `file` is the system interpreter itself (a link to it, or /usr/bin/python3.11 say). */
export async function isSystemPython(file: string): Promise<boolean> {
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
export async function pickInterpreter(desc: InterpreterNeeds, opts: PickOptions = {}): Promise<Interpreter> {
  const { chosen, overridden } = await pickFitting(desc, opts);
  const refusal = tooOldForKind(desc, chosen, overridden ? opts.overrideAt ?? { key: 'python' } : null);
  if (refusal !== null) throw refusal;
  return chosen;
}

/**
 * APPPKG_PY_TOO_OLD_FOR_ASGI when an ASGI app would run on a Python its worker cannot start on;
 * else null. Judged here, where the interpreter is chosen, so that check says it at the python
 * line, and a start refuses the app before a worker dies of it at the app line with a fix
 * ("read the app log") that says nothing of the Python picked.
 */
function tooOldForKind(desc: InterpreterNeeds, chosen: Interpreter, override: Partial<FilePlace> | null): GatewayError | null {
  if (desc.kind !== 'asgi' || !/^3\.[0-6]\./.test(chosen.version)) return null;
  // The environment file's choice is the host's: pointed at there, as a mismatch of it is.
  const at = override !== null
    ? { file: override.file, line: override.line, column: override.column, key: override.key ?? 'python' }
    : desc.file && desc.positions?.python ? { file: desc.file, line: desc.positions.python.line, column: desc.positions.python.column, key: 'python' } : { key: 'python' };
  return new GatewayError('APPPKG_PY_TOO_OLD_FOR_ASGI', {
    ...at,
    chosen: formatInterpreter(chosen),
    version: chosen.version,
    minimum: ASGI_MINIMUM,
    specifier: desc.python ?? undefined,
    // `python: "<3.7"` lets in nothing newer: the fix is in app.yaml as well as on the host.
    specifierExcludes: desc.python !== null && !letsInFrom(ASGI_MINIMUM, desc.python),
    override: override === null ? undefined : override.key ?? 'python',
    expected: `Python ${ASGI_MINIMUM} or later (an ASGI app)`,
    found: formatInterpreter(chosen),
  });
}

/** Whether `specifier` lets in a release of the 3.`minor` series: they are numbered from 0 up, and a hundred covers every series there has been. */
function seriesLetsIn(minor: number, specifier: string | null): boolean {
  return Array.from({ length: 100 }, (_, micro) => `3.${minor}.${micro}`).some((v) => versionSatisfies(v, specifier));
}

/** Whether `specifier` lets in a release of some series from `minimum` (`3.7`) on. */
function letsInFrom(minimum: string, specifier: string | null): boolean {
  const from = Number(minimum.split('.')[1]);
  return Array.from({ length: 40 - from }, (_, i) => from + i).some((minor) => seriesLetsIn(minor, specifier));
}

/** The interpreter the rule picks, and whether it is the environment file's. */
async function pickFitting(desc: InterpreterNeeds, opts: PickOptions): Promise<{ chosen: Interpreter; overridden: boolean }> {
  const specifier = desc.python;
  if (opts.override !== undefined && opts.override !== '' && (desc.deb.length === 0 || (await isSystemPython(opts.override)))) {
    const place = opts.overrideAt ? { file: opts.overrideAt.file, line: opts.overrideAt.line, column: opts.overrideAt.column, key: opts.overrideAt.key } : {};
    const chosen = await probeInterpreter(opts.override).catch((err) => {
      throw isGatewayError(err) ? new GatewayError(err.code, { ...err.details, ...place }) : err;
    });
    if (versionSatisfies(chosen.version, specifier)) return { chosen, overridden: true };
    const required = desc.file && desc.positions?.python ? `${desc.file}:${desc.positions.python.line}:${desc.positions.python.column}` : undefined;
    throw new GatewayError('APPPKG_PY_NO_INTERPRETER', {
      key: 'python',
      ...place,
      specifier: specifier ?? '(any)',
      series: seriesSpelling(specifier, [chosen.version]),
      chosen: formatInterpreter(chosen),
      requiredAt: required,
      expected: specifier ?? 'any Python 3',
      found: formatInterpreter(chosen),
    });
  }
  const pathEnv = opts.pathEnv ?? process.env.PATH ?? '';
  // The rule's first choice is found and probed alone; everything only when it does not fit.
  const first = await firstCandidate(pathEnv, desc.deb.length > 0 ? SYSTEM_PYTHON : 'python3');
  if (first) {
    const result = await probeOnce(first.file);
    if (!('reason' in result) && versionSatisfies(result.version, specifier)) return { chosen: toInterpreter(first.names, result), overridden: false };
    if ('reason' in result && result.openFiles) throw outOfFilesToAsk({ ...first, reason: result.reason, openFiles: result.openFiles });
    // Of unknown version, it may be the very one the rule names: another in its place would run
    // the app on another Python, with other packages, unsaid.
    if ('reason' in result && result.timedOut) {
      const why = desc.deb.length > 0
        ? `with deb packages listed, the system interpreter is the only one eligible (they are importable from ${SYSTEM_PYTHON} alone)`
        : `python3 on PATH runs the app whenever it satisfies ${specifier ? `python: ${JSON.stringify(specifier)}` : 'it (app.yaml names no python:)'}`;
      throw probeTimeout([{ ...first, reason: result.reason, timedOut: true }], why);
    }
  }
  const { interpreters: all, failed } = await discoverHost({ pathEnv });
  const unasked = failed.find((c) => c.openFiles);
  if (unasked) throw outOfFilesToAsk(unasked);
  if (desc.deb.length > 0) {
    // deb packages are importable only from the system interpreter: the others are not eligible.
    const system = all.find((i) => i.names.includes(SYSTEM_PYTHON));
    if (system && versionSatisfies(system.version, specifier)) return { chosen: system, overridden: false };
    const ineligible = all.filter((i) => i !== system).map(formatInterpreter);
    // The one the host chose is the one its user asks about first: named, and where it was chosen.
    if (opts.override) {
      const at = opts.overrideAt;
      ineligible.unshift(`${opts.override} (${at ? `${at.key} at ${at.file}:${at.line}:${at.column}` : 'the environment file\'s python'})`);
    }
    throw noInterpreter(specifier, system ? [system] : [], failed.filter((c) => c.names.includes(SYSTEM_PYTHON)), ineligible);
  }
  const onPath = all.find((i) => i.names.includes('python3'));
  if (onPath && versionSatisfies(onPath.version, specifier)) return { chosen: onPath, overridden: false };
  const fitting = all.filter((i) => versionSatisfies(i.version, specifier));
  fitting.sort((a, b) => rcompare(a.version, b.version));
  const chosen = fitting.length > 0 ? fitting[0] : null;
  const slow = failed.filter((c) => c.timedOut && mayOutrank(c, chosen, specifier));
  if (slow.length > 0) {
    const they = slow.length === 1 ? 'it' : 'one of them';
    const spec = specifier ? `python: ${JSON.stringify(specifier)}` : 'any Python 3';
    throw probeTimeout(slow, chosen
      ? `${they} may be a newer Python that satisfies ${spec} than ${formatInterpreter(chosen)}, the newest that answered`
      : `no interpreter that answered satisfies ${spec}, and ${they} may`);
  }
  if (chosen) return { chosen, overridden: false };
  throw noInterpreter(specifier, all, failed);
}

/**
 * Whether a candidate that gave no answer (`slow`) may be the one the highest-version rule would
 * pick over `chosen` (null: none that answered fits). Its name says its series (python3.12: some
 * 3.12.x), never more: it may outrank `chosen` when a 3.N release satisfies the specifier and N is
 * not below chosen's; a name that says no series (/usr/bin/python3 alone) may be anything.
 */
function mayOutrank(slow: FailedCandidate, chosen: Interpreter | null, specifier: string | null): boolean {
  const minor = slow.names.map((n) => /^python3\.(\d+)$/.exec(path.basename(n))?.[1]).find((m) => m !== undefined);
  if (minor === undefined) return true;
  if (!seriesLetsIn(Number(minor), specifier)) return false;
  if (chosen === null) return true;
  const [major, chosenMinor] = chosen.version.split('.').map(Number);
  return major < 3 || (major === 3 && Number(minor) >= chosenMinor);
}

/**
 * `failed`: candidates that did not answer as a Python, each with why (the one the user meant
 * may be among them). `ineligible`, for an app with deb packages: interpreters found (or named by
 * the environment file), each as the message says it, but not usable, whatever their version, since the packages are importable from the system one alone.
 */
function noInterpreter(specifier: string | null, found: Interpreter[], failed: FailedCandidate[], ineligible?: string[]): GatewayError {
  const failedList = failedSummary(failed);
  return new GatewayError('APPPKG_PY_NO_INTERPRETER', {
    key: 'python',
    specifier: specifier ?? '(any)',
    series: seriesSpelling(specifier, found.map((i) => i.version)),
    foundList: found.map(formatInterpreter).join(', '),
    failedList,
    reasonDeb: ineligible !== undefined,
    system: SYSTEM_PYTHON,
    ineligibleList: (ineligible ?? []).join(', '),
    expected: specifier ?? 'any Python 3',
    found: [found.map(formatInterpreter).join(', ') || 'none', failedList].filter(Boolean).join('; '),
  });
}

/**
 * `"==3.11"` or `"<=3.11"` read as their writer meant, the 3.11 series (`"==3.11.*"`, `"<3.12"`),
 * when that lets one of `versions` in: PEP 440 pads a release with zeros, so `==3.11` is 3.11.0
 * alone and 3.11.7 fails it, which an error that only lists 3.11.7 as found leaves a riddle.
 * null when no clause is written so, or the rewrite would let none in either.
 */
export function seriesSpelling(specifier: string | null, versions: string[]): string | null {
  if (specifier === null) return null;
  let rewritten = false;
  const clauses = specifier.split(',').map((clause) => {
    const m = /^\s*(==|<=)\s*(\d+(?:\.\d+)?)\s*$/.exec(clause);
    if (m === null || !versions.some((v) => v.startsWith(`${m[2]}.`))) return clause.trim();
    rewritten = true;
    if (m[1] === '==') return `==${m[2]}.*`;
    const numbers = m[2].split('.').map(Number);
    numbers[numbers.length - 1] += 1;
    return `<${numbers.join('.')}`;
  });
  const series = clauses.join(',');
  return rewritten && versions.some((v) => versionSatisfies(v, series)) ? series : null;
}

/**
 * `"!=3.11"` read as its writer meant, the 3.11 series left out (`"!=3.11.*"`), when `version`, the
 * interpreter picked, is of that series: PEP 440 pads `!=3.11` to 3.11.0 alone, so 3.11.7 passes
 * it and runs the very series the app asked to avoid, with an `ok` that says so. null when no
 * clause is written so, or `version` is of no series such a clause names; else the series and
 * the whole specifier with that clause spelled for it.
 */
export function exclusionSpelling(specifier: string | null, version: string): { series: string; spelling: string } | null {
  if (specifier === null) return null;
  let series: string | null = null;
  const clauses = specifier.split(',').map((clause) => {
    const m = /^\s*!=\s*(\d+(?:\.\d+)?)\s*$/.exec(clause);
    if (m === null || !version.startsWith(`${m[1]}.`)) return clause.trim();
    series = m[1];
    return `!=${m[1]}.*`;
  });
  return series === null ? null : { series, spelling: clauses.join(',') };
}

/**
 * The candidates that could not run, those failing the same way on one line: with pyenv, every
 * shim of a version not enabled says `pyenv: python3.8: command not found`, a dozen lines that
 * differ only by the shim's name. A reason is compared with the candidate's own name taken out
 * (said as <name>); a reason of one candidate alone is kept as it is, with its file.
 */
function failedSummary(failed: FailedCandidate[]): string {
  const groups = new Map<string, FailedCandidate[]>();
  for (const c of failed) {
    const key = genericReason(c);
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  return [...groups.entries()].map(([reason, group]) => {
    if (group.length === 1) return `${group[0].names[0]} (${group[0].file}): cannot be run: ${clip(group[0].reason)}`;
    const dirs = new Set(group.map((c) => path.dirname(c.file)));
    const names = dirs.size === 1 ? `${group.map((c) => c.names[0]).join(', ')} (all in ${[...dirs][0]})` : group.map((c) => `${c.names[0]} (${c.file})`).join(', ');
    return `${names}: cannot be run, each: ${clip(reason)}`;
  }).join('; ');
}

/** `reason` with the candidate's names (python3.8, /root/.pyenv/shims/python3.8) said as <name>. */
function genericReason(c: FailedCandidate): string {
  const names = [c.file, ...c.names, path.basename(c.file)].sort((a, b) => b.length - a.length);
  return names.reduce((reason, name) => reason.split(name).join('<name>'), c.reason);
}

function clip(reason: string): string {
  return reason.length > 120 ? `${reason.slice(0, 117)}...` : reason;
}
