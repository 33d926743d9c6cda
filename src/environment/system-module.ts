// A module the app's interpreter cannot import that Debian installed for the system one: apt
// put radicale (python3-radicale) under /usr/lib/python3/dist-packages, and python3 on PATH is
// a pyenv or a virtualenv python, which never looks there. "No module named 'radicale'" with
// "fix the error in the traceback" leaves the user to find SPEC 1.3's rule (an app listing deb
// packages runs on /usr/bin/python3); naming the package found gives the `deb:` line to write.

import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Description } from '../description/types.js';
import { GatewayError, isGatewayError } from '../errors.js';
import { programOutput } from '../program-output.js';
import { aptKnows } from './apt-knows.js';
import { debianNamesOfModule } from './debian-python-name.js';
import type { Interpreter } from './interpreter-probe.js';
import { SYSTEM_PYTHON } from './interpreter-discovery.js';

const ASK_MS = 10_000;

/** The file each top-level module is imported from, a line `NAME\tFILE` each: `-I`, so no PYTHONPATH or user site decides it. */
const FIND_SPECS = String.raw`
import importlib.util, sys
for name in sys.argv[1:]:
    try:
        spec = importlib.util.find_spec(name)
    except Exception:
        spec = None
    places = [] if spec is None else [spec.origin] if spec.origin not in (None, "namespace") else list(spec.submodule_search_locations or [])
    print(name + "\t" + (places[0] if places else ""))
`;

async function output(command: string, args: string[]): Promise<string | null> {
  const answer = await programOutput(command, args, { timeoutMs: ASK_MS });
  return answer.status === 0 ? answer.stdout.trim() : null;
}

/** Where the system interpreter imports each of `modules` from (absent: not importable there). */
async function systemModuleFiles(modules: readonly string[]): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  if (modules.length === 0) return files;
  const answer = await output(SYSTEM_PYTHON, ['-I', '-c', FIND_SPECS, ...modules]);
  for (const line of (answer ?? '').split('\n')) {
    const [name, file] = line.split('\t');
    // Not 'frozen' or 'built-in' (the interpreter's own), which dpkg -S would take as a pattern.
    if (name && file && path.isAbsolute(file)) files.set(name, file);
  }
  return files;
}

/** What a package shipping `module` is named by Debian's policy (python3-yaml), or by the module's own (mercurial). */
function namedFor(module: string, name: string): boolean {
  return debianNamesOfModule(module).includes(name);
}

/**
 * dpkg's record of each installed package's files, a path a line: `NAME.list`, or
 * `NAME:ARCH.list` for a Multi-Arch: same package. `dpkg -S` reads all ~1,100 of them on a
 * Debian desktop, ~0.3 s of CPU a run; the lists of the packages named for a module are a few
 * KiB, read directly.
 */
const DPKG_INFO = '/var/lib/dpkg/info';

/** The paths each package's lists hold, each list read once, by the package's name. */
type PackageLists = (name: string) => Promise<Set<string>>;

async function packageLists(): Promise<PackageLists> {
  const files = new Map<string, string[]>();
  for (const entry of await readdir(DPKG_INFO).catch((): string[] => [])) {
    if (!entry.endsWith('.list')) continue;
    const name = entry.slice(0, -'.list'.length).split(':')[0];
    files.set(name, [...(files.get(name) ?? []), entry]);
  }
  const read = new Map<string, Promise<Set<string>>>();
  return (name) => {
    let paths = read.get(name);
    if (paths === undefined) {
      const texts = (files.get(name) ?? []).map((entry) => readFile(path.join(DPKG_INFO, entry), 'utf8').catch(() => ''));
      paths = Promise.all(texts).then((all) => new Set(all.join('\n').split('\n')));
      read.set(name, paths);
    }
    return paths;
  };
}

/**
 * owningPackage's answer for `module` at `file`, from the lists of the packages its name
 * suggests: one named for it (namedFor) that holds the file, or for an __init__.py shares its
 * directory; else the one holding the file (dpkg lets one package alone own a file) named for it
 * without its leading underscores (_yaml's python3-yaml). Null when none of them does (mercurial's
 * files in mercurial-common, _distutils_hack in python3-setuptools): then `dpkg -S` decides.
 */
async function listedOwner(module: string, file: string, lists: PackageLists): Promise<string | null> {
  const bare = module.replace(/^_+/, '');
  for (const place of path.basename(file) === '__init__.py' ? [file, path.dirname(file)] : [file]) {
    for (const name of debianNamesOfModule(module)) if ((await lists(name)).has(place)) return name;
  }
  for (const name of bare === module || bare === '' ? [] : debianNamesOfModule(bare)) if ((await lists(name)).has(file)) return name;
  return null;
}

/**
 * The package to install for `module`, which Debian put at `file` ([owner, ...] by `dpkg -S`'s
 * answers for the file and, for an __init__.py, its directory). A package's directory may be
 * two packages' (mercurial's Python in mercurial-common, the C extensions it cannot import
 * without in mercurial; SQLAlchemy's in python3-sqlalchemy, its optional speed-ups in
 * python3-sqlalchemy-ext): the one named for the module is the one a user installs. Else the
 * file's own package.
 */
function owningPackage(module: string, own: string[], shared: string[]): string | undefined {
  return [...own, ...shared].find((name) => namedFor(module, name)) ?? own[0];
}

/**
 * The package to install for each of `modules` ([top-level name, file]), by owningPackage's rule:
 * from the lists of the packages named for each (listedOwner), and for the rest one `dpkg -S` for
 * all: an import loads tens of them. Absent: a file of no package (pip's).
 */
export async function owningPackages(modules: ReadonlyArray<readonly [string, string]>): Promise<Map<string, string>> {
  const packages = new Map<string, string>();
  if (modules.length === 0) return packages;
  const lists = await packageLists();
  const unnamed: Array<readonly [string, string]> = [];
  for (const [module, file] of modules) {
    const name = await listedOwner(module, file, lists);
    if (name === null) unnamed.push([module, file]);
    else packages.set(module, name);
  }
  if (unnamed.length === 0) return packages;
  const places = [...new Set(unnamed.flatMap(([, file]) => (path.basename(file) === '__init__.py' ? [file, path.dirname(file)] : [file])))];
  // "python3-radicale: FILE"; a path two packages share: "a, b: FILE"; multi-arch: "pkg:amd64: FILE".
  // Exit status 1 when any path is of no package: the others' lines are still said.
  const answer = await programOutput('dpkg', ['-S', ...places], { timeoutMs: ASK_MS });
  const owners = new Map<string, string[]>();
  for (const line of answer.stdout.split('\n')) {
    const at = line.lastIndexOf(': ');
    if (at > 0) owners.set(line.slice(at + 2), line.slice(0, at).split(', ').map((n) => n.split(':')[0]).filter(Boolean));
  }
  for (const [module, file] of unnamed) {
    const shared = path.basename(file) === '__init__.py' ? (owners.get(path.dirname(file)) ?? []) : [];
    const name = owningPackage(module, owners.get(file) ?? [], shared);
    if (name !== undefined) packages.set(module, name);
  }
  return packages;
}

/**
 * The Debian package from which the system interpreter imports `module` (a top-level name), or
 * null: not importable there, part of no package (pip installed it), or no dpkg on this host.
 */
export async function systemPackageOf(module: string): Promise<string | null> {
  const file = (await systemModuleFiles([module])).get(module);
  return file === undefined ? null : ((await owningPackages([[module, file]])).get(module) ?? null);
}

/**
 * The Debian packages (each once, in the order of `modules`) from which the system interpreter
 * imports those of `modules` that Debian installed as third-party libraries (under a
 * dist-packages directory: not the standard library, which is the interpreter's own).
 */
export async function systemPackagesOf(modules: readonly string[]): Promise<string[]> {
  const files = await systemModuleFiles(modules);
  const debian = [...files].filter(([, file]) => file.split(path.sep).includes('dist-packages'));
  const owners = await owningPackages(debian);
  return [...new Set(debian.flatMap(([module]) => owners.get(module) ?? []))];
}

/**
 * An import that failed for want of a top-level module the system interpreter imports from a
 * Debian package, in an app that lists neither `deb:` nor `pip:` (so it runs on another
 * interpreter and has no virtualenv to install into): APPPKG_APP_SYSTEM_MODULE, with the
 * traceback. In an app that lists deb:, a module no installed package gives, named by a package
 * apt knows: APPPKG_APP_MODULE_NOT_INSTALLED (guessDebPackage). Anything else as it is.
 */
export async function explainSystemModuleImport(err: unknown, desc: Pick<Description, 'deb' | 'pip'>, interpreter: Interpreter): Promise<unknown> {
  if (!isGatewayError(err) || err.code !== 'APPPKG_APP_IMPORT_FAILED') return err;
  const module = /^ModuleNotFoundError: No module named '([A-Za-z_]\w*)/.exec(String(err.details.reason))?.[1];
  if (desc.deb.length > 0) return module === undefined ? err : guessDebPackage(err, module, desc.deb);
  if (desc.pip !== null) return err;
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

/**
 * An app with deb: (so on the system interpreter) that imports a module no package installed here
 * gives: a deb: line missing a package, the likeliest being Debian's name for the module
 * (python3-flask-cors for flask_cors) when apt knows it and it is not installed. Only a guess,
 * said as one (APPPKG_APP_MODULE_NOT_INSTALLED); anything else is left as it is.
 */
async function guessDebPackage(err: GatewayError, module: string, listed: readonly string[]): Promise<unknown> {
  if ((await systemModuleFiles([module])).has(module)) return err;
  const [name] = debianNamesOfModule(module);
  // Installed, it does not give the module after all: the guess would send the user astray.
  const status = await programOutput('dpkg-query', ['-W', '-f=${Status}', name], { timeoutMs: ASK_MS });
  if (status.status === 0 && /\sinstalled$/.test(status.stdout.trim())) return err;
  if ((await aptKnows(name, ASK_MS)) !== true) return err;
  return new GatewayError('APPPKG_APP_MODULE_NOT_INSTALLED', {
    ...err.details,
    module,
    package: name,
    system: SYSTEM_PYTHON,
    debLine: `deb: [${[...listed, name].join(', ')}]`,
    cause: err,
  });
}
