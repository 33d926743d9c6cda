// What one interpreter says about itself: a small Python script run with `-E`, whose JSON line
// is an Interpreter (its version, sys.path, site directories, PEP 508 markers). Discovery
// (interpreter-discovery.ts) and the cache across starts (probe-cache.ts) both run it; it
// knows neither of them.

import { realpath } from 'node:fs/promises';
import { outOfFilesReason } from '../open-files.js';
import { programOutput, type ProgramOutput } from '../program-output.js';
import { testKnob } from '../test-knob.js';
import { pyenvMiss } from './pyenv-shim.js';

const PROBE_TIMEOUT_MS = 10_000;
/** Lowers PROBE_TIMEOUT_MS for a test of an interpreter slower than it (test-knob.ts). */
const PROBE_TIMEOUT_ENV = 'APPPKG_TEST_PROBE_TIMEOUT_MS';
/** A probe past its deadline is asked once more, with this many times as long. */
const RETRY_FACTOR = 3;

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

// Runs on every Python 3 we may meet: nothing newer than 3.6 syntax, stdlib only. A Python 2
// (a host's /usr/bin/python, named in the environment file) must parse it too, to say what it
// is rather than fail on sys.implementation with a traceback whose first line says nothing. It,
// and a 3.5 or older, is refused naming the oldest the worker (python-shim/) is tested on, not
// left to fail somewhere in the worker's start.
// It imports neither json nor platform: both load re (~50 modules with platform's), most of
// the probe's own CPU, and every `check`, fresh state root and pick that walks the host pays
// it. On CPython on Linux the markers are read where platform reads them (os.uname(), the
// first word of sys.version); anywhere else platform still answers. to_json writes what
// json.dumps writes, escapes included.
export const PROBE = String.raw`
import os, site, sys
v = sys.version_info
if v < (3, 6):
    sys.stderr.write('it is Python %d.%d.%d; apps run on Python 3.6 or later (an ASGI app on 3.7 or later)\n' % (v[0], v[1], v[2]))
    sys.exit(1)
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
full_version = sys.version.split(None, 1)[0] if sys.version else ''
if sys.implementation.name == 'cpython' and sys.platform.startswith('linux') and full_version.count('.') == 2 and not full_version.strip('0123456789.abcr+'):
    u = os.uname()
    blank = lambda s: '' if s == 'unknown' else s
    machine, implementation, release, system, kernel = blank(u.machine), 'CPython', blank(u.release), blank(u.sysname), blank(u.version)
else:
    import platform
    machine, implementation, release, system, kernel = platform.machine(), platform.python_implementation(), platform.release(), platform.system(), platform.version()
    full_version = platform.python_version()
ESCAPES = {'"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f'}
def to_json(value):
    if value is None:
        return 'null'
    if isinstance(value, list):
        return '[' + ', '.join(to_json(item) for item in value) + ']'
    if isinstance(value, dict):
        return '{' + ', '.join(to_json(key) + ': ' + to_json(item) for key, item in value.items()) + '}'
    out = []
    for c in value:
        n = ord(c)
        if c in ESCAPES:
            out.append(ESCAPES[c])
        elif 0x20 <= n < 0x7f:
            out.append(c)
        elif n > 0xffff:
            n -= 0x10000
            out.append('\\u%04x\\u%04x' % (0xd800 | (n >> 10), 0xdc00 | (n & 0x3ff)))
        else:
            out.append('\\u%04x' % n)
    return '"' + ''.join(out) + '"'
print(to_json({
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
        'platform_machine': machine,
        'platform_python_implementation': implementation,
        'platform_release': release,
        'platform_system': system,
        'platform_version': kernel,
        'python_version': '%d.%d' % (v.major, v.minor),
        'python_full_version': full_version,
        'implementation_name': sys.implementation.name,
        'implementation_version': '%d.%d.%d' % (iv.major, iv.minor, iv.micro) + ('%s%d' % (ipre, iv.serial) if ipre else ''),
    },
}))
`;

export type ProbeResult = Omit<Interpreter, 'label' | 'names' | 'isVenv'>;

/** A probe that got no answer: why, and whether what ran is no Python at all (`python: /bin/sh`, `/bin/true`). */
export interface ProbeFailure {
  reason: string;
  notPython?: boolean;
  /**
   * No answer by either deadline: it may well be a Python, slow on a loaded host, so nothing is
   * known of its version and a pick must not take another in its place.
   */
  timedOut?: boolean;
  /**
   * Not run: the gateway (or the host) had no file descriptor left for its pipes. Nothing is
   * known of the interpreter, and asking again with room will tell.
   */
  openFiles?: 'EMFILE' | 'ENFILE';
  /** A pyenv shim whose version is installed but not enabled: where the command is, in which versions. */
  pyenv?: { paths: string[]; versions: string[] };
}

/**
 * Run `command -E -c PROBE`; a failure is returned as a reason, never thrown. One that does not
 * answer in time is asked once more with a longer deadline: under load (a dozen pyenv shims' bash
 * on two busy cores) a Python that is there took past the first, and dropped, the pick took
 * another interpreter in its place, unsaid.
 */
export async function probe(command: string): Promise<ProbeResult | ProbeFailure> {
  const firstMs = testKnob(PROBE_TIMEOUT_ENV, PROBE_TIMEOUT_MS);
  const first = await probeWithin(command, firstMs);
  if (!first.timedOut) return readAnswer(command, first);
  const again = await probeWithin(command, firstMs * RETRY_FACTOR);
  if (!again.timedOut) return readAnswer(command, again);
  return { reason: `no answer within ${firstMs / 1000}s, nor within ${(firstMs * RETRY_FACTOR) / 1000}s on a second try`, timedOut: true };
}

function probeWithin(command: string, timeoutMs: number): Promise<ProgramOutput> {
  // -E: the gateway's own PYTHONPATH/PYTHONHOME must not colour what the interpreter says.
  return programOutput(command, ['-E', '-c', PROBE], { timeoutMs, maxBuffer: 1 << 20 });
}

/** What a probe that ended by itself said: the interpreter, or why not. */
function readAnswer(command: string, answer: ProgramOutput): ProbeResult | ProbeFailure {
  const said = `${answer.stderr}\n${answer.stdout}`;
  if (answer.startError === 'EMFILE' || answer.startError === 'ENFILE') return { reason: outOfFilesReason(answer.startError), openFiles: answer.startError };
  if (answer.status !== 0) {
    let reason: string;
    if (answer.startError === 'ENOENT') reason = 'no such file';
    else if (answer.startError === 'EACCES') reason = 'permission denied (not executable)';
    else reason = firstLine(answer.stderr) || `exited with status ${String(answer.status)}, expected a JSON line`;
    const miss = answer.startError ? null : pyenvMiss(command, answer.stderr);
    if (miss) return { reason: miss.said, pyenv: { paths: miss.paths, versions: miss.versions } };
    return answer.status === null || saysPython(said) ? { reason } : { reason, notPython: true };
  }
  try {
    const data = JSON.parse(answer.stdout.trim().split('\n').pop() ?? '') as ProbeResult;
    if (typeof data.version !== 'string' || typeof data.executable !== 'string') throw new Error('bad probe');
    if (!data.executable) data.executable = command;
    return data;
  } catch {
    const reason = `unexpected output: ${firstLine(answer.stdout) || '(none)'}`;
    return saysPython(said) ? { reason } : { reason, notPython: true };
  }
}

/**
 * Whether what a program printed for the probe is a Python's: a traceback, an exception, our own
 * "it is Python 2", a fatal error of the interpreter. `/bin/sh` running the probe's Python code
 * says "import: not found" instead, which told a user nothing of the mistake.
 */
function saysPython(output: string): boolean {
  return /Traceback \(most recent call last\)|Python|\b[A-Z]\w*(Error|Exception)\b/.test(output);
}

/** How a message shows what the probe runs: `/bin/sh -E -c "import os, site, sys; ..."`. */
export function probeCommandLine(command: string): string {
  return `${command} -E -c "${PROBE.trim().split('\n')[0]}; ..."`;
}

function firstLine(text: string): string {
  return text.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
}

/** The file `file` is, or `file` itself when it cannot be resolved (two names of one binary compare equal). */
export async function safeRealpath(file: string): Promise<string> {
  try {
    return await realpath(file);
  } catch {
    return file;
  }
}

/** The interpreter `names` lead to, as its probe described it; the first name is its label. */
export function toInterpreter(names: string[], result: ProbeResult): Interpreter {
  return { label: names[0], names: [...names], ...result, isVenv: result.prefix !== result.basePrefix };
}
