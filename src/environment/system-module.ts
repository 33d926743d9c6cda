// A module the app's interpreter cannot import that Debian installed for the system one: apt
// put radicale (python3-radicale) under /usr/lib/python3/dist-packages, and python3 on PATH is
// a pyenv or a virtualenv python, which never looks there. "No module named 'radicale'" with
// "fix the error in the traceback" leaves the user to find SPEC 1.3's rule (an app listing deb
// packages runs on /usr/bin/python3); naming the package found gives the `deb:` line to write.

import type { Description } from '../description/types.js';
import { GatewayError, isGatewayError } from '../errors.js';
import { programOutput } from '../program-output.js';
import type { Interpreter } from './interpreter-probe.js';
import { SYSTEM_PYTHON } from './interpreter-discovery.js';

const ASK_MS = 10_000;

/** The file a top-level module is imported from: `-I`, so no PYTHONPATH or user site decides it. */
const FIND_SPEC = String.raw`
import importlib.util, sys
spec = importlib.util.find_spec(sys.argv[1])
places = [] if spec is None else [spec.origin] if spec.origin not in (None, "namespace") else list(spec.submodule_search_locations or [])
print(places[0] if places else "")
`;

async function output(command: string, args: string[]): Promise<string | null> {
  const answer = await programOutput(command, args, { timeoutMs: ASK_MS });
  return answer.status === 0 ? answer.stdout.trim() : null;
}

/**
 * The Debian package from which the system interpreter imports `module` (a top-level name), or
 * null: not importable there, part of no package (pip installed it), or no dpkg on this host.
 */
export async function systemPackageOf(module: string): Promise<string | null> {
  const file = await output(SYSTEM_PYTHON, ['-I', '-c', FIND_SPEC, module]);
  if (!file) return null;
  // "python3-radicale: /usr/lib/python3/dist-packages/radicale/__init__.py"; a file two packages
  // share lists both ("a, b: FILE"), a multi-arch one its architecture ("pkg:amd64: FILE").
  const owner = await output('dpkg', ['-S', file]);
  const name = owner?.split('\n')[0].split(': ')[0].split(', ')[0].split(':')[0];
  return name || null;
}

/**
 * An import that failed for want of a top-level module the system interpreter imports from a
 * Debian package, in an app that lists neither `deb:` nor `pip:` (so it runs on another
 * interpreter and has no virtualenv to install into): APPPKG_APP_SYSTEM_MODULE, with the
 * traceback; anything else as it is.
 */
export async function explainSystemModuleImport(err: unknown, desc: Pick<Description, 'deb' | 'pip'>, interpreter: Interpreter): Promise<unknown> {
  if (!isGatewayError(err) || err.code !== 'APPPKG_APP_IMPORT_FAILED' || desc.deb.length > 0 || desc.pip !== null) return err;
  const module = /^ModuleNotFoundError: No module named '([A-Za-z_]\w*)/.exec(String(err.details.reason))?.[1];
  const debPackage = module === undefined ? null : await systemPackageOf(module);
  if (debPackage === null) return err;
  return new GatewayError('APPPKG_APP_SYSTEM_MODULE', {
    ...err.details,
    module,
    package: debPackage,
    system: SYSTEM_PYTHON,
    interpreter: interpreter.executable,
    cause: err,
  });
}
