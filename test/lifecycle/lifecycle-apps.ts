// Apps and wheels for the lifecycle tests, made in temp dirs (no network, no PyPI): a wheel is
// a zip of `pkg/__init__.py` and `NAME-VER.dist-info/{METADATA,WHEEL,RECORD}`, zipped by
// `python3 -m zipfile`. Imported by the *.test.ts files beside it; holds no tests itself.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BIN, installForOtherUsers, ROOT, spawnFailure, type CliResult } from '../helpers/process.js';
import { withoutHostPip } from '../../scripts/test-pip-env.mjs';

export { hasProgram } from '../helpers/skip.js';

export const WSGI = 'def application(environ, start_response):\n    start_response("200 OK", [("Content-Type", "text/plain")])\n    return [b"ok"]\n';

let python3: string | undefined;

/**
 * The interpreter `python3` on PATH runs, asked once per file: where that is a pyenv shim, each
 * run of it is half a second of bash before Python starts, and a test file makes a dozen wheels
 * (or starts a dozen helpers of its own beside the app: a writer, a check of a backup).
 */
export function hostPython(): string {
  python3 ??= execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8', timeout: 30_000 }).trim() || 'python3';
  return python3;
}

/** Writes `<dir>/<name>-<version>-py3-none-any.whl` whose package sets VERSION. */
export function makeWheel(dir: string, name: string, version: string): string {
  const stage = mkdtempSync(join(tmpdir(), 'apppkg-wheel-'));
  try {
    const info = `${name}-${version}.dist-info`;
    mkdirSync(join(stage, name));
    mkdirSync(join(stage, info));
    writeFileSync(join(stage, name, '__init__.py'), `VERSION = ${JSON.stringify(version)}\n`);
    writeFileSync(join(stage, info, 'METADATA'), `Metadata-Version: 2.1\nName: ${name}\nVersion: ${version}\n`);
    writeFileSync(join(stage, info, 'WHEEL'), 'Wheel-Version: 1.0\nGenerator: apppkg-gateway-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n');
    writeFileSync(join(stage, info, 'RECORD'), [`${name}/__init__.py,,`, `${info}/METADATA,,`, `${info}/WHEEL,,`, `${info}/RECORD,,`, ''].join('\n'));
    const wheel = join(dir, `${name}-${version}-py3-none-any.whl`);
    execFileSync(hostPython(), ['-m', 'zipfile', '-c', wheel, name, info], { cwd: stage, timeout: 30_000 });
    return wheel;
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/**
 * The source of an in-tree PEP 517 backend (`backend-path = ["."]`, `requires = []`), so that
 * offline pip builds a source requirement: its build_wheel runs `before` (Python lines, indented
 * four spaces; `os`, `sys` and `zipfile` are imported), then writes a wheel of one module, `pkg`
 * 1.0, whose VERSION is "1.0".
 */
export function inTreeBackend(pkg: string, before = ''): string {
  return `import os, sys, zipfile
def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
${before}    name = '${pkg}-1.0-py3-none-any.whl'
    info = '${pkg}-1.0.dist-info/'
    with zipfile.ZipFile(os.path.join(wheel_directory, name), 'w') as z:
        z.writestr('${pkg}.py', 'VERSION = "1.0"\\n')
        z.writestr(info + 'METADATA', 'Metadata-Version: 2.1\\nName: ${pkg}\\nVersion: 1.0\\n')
        z.writestr(info + 'WHEEL', 'Wheel-Version: 1.0\\nGenerator: apppkg-tests\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n')
        z.writestr(info + 'RECORD', '')
    return name
`;
}

/** A package directory `<parent>/<name>` with this app.yaml and a trivial WSGI module. */
export function makeApp(parent: string, name: string, yaml: string): string {
  const dir = join(parent, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'app.yaml'), yaml);
  writeFileSync(join(dir, 'wsgi.py'), WSGI);
  return dir;
}

/** A wsgi app in `parent/name` whose pip requirements are one local wheel, thepkg 1.0, beside it. */
export function wheelApp(parent: string, name: string): string {
  const app = makeApp(parent, name, ['platform: python, wsgi', 'app: wsgi:application', 'pip: requirements.txt', ''].join('\n'));
  makeWheel(app, 'thepkg', '1.0');
  writeFileSync(join(app, 'requirements.txt'), 'thepkg==1.0\n');
  return app;
}

/**
 * A PEP 503 index on disk (file://) under `dir`, serving each of `packages` (name, version), as a
 * host's mirror or a team's wheelhouse is served: pip reads a directory's index.html. Its URL.
 */
export function fileIndex(dir: string, packages: [string, string][]): string {
  const index = join(dir, 'simple');
  mkdirSync(index, { recursive: true });
  for (const [name, version] of packages) {
    mkdirSync(join(index, name), { recursive: true });
    const wheel = makeWheel(join(index, name), name, version);
    const file = wheel.slice(wheel.lastIndexOf('/') + 1);
    writeFileSync(join(index, name, 'index.html'), `<!DOCTYPE html><html><body><a href="${file}">${file}</a></body></html>\n`);
  }
  writeFileSync(join(index, 'index.html'), `<!DOCTYPE html><html><body>${packages.map(([name]) => `<a href="${name}/">${name}</a>`).join('')}</body></html>\n`);
  return `file://${index}`;
}

/**
 * Like runCli, with the options runCli lacks: a uid, or a pseudo-terminal (via script(1)). As
 * another uid it runs the package from where that user can read it (installForOtherUsers).
 */
export function runCliAs(args: string[], opts: { uid?: number; gid?: number; tty?: boolean; input?: string; ms?: number } = {}): Promise<CliResult> {
  const asOther = opts.uid !== undefined && opts.uid !== process.getuid?.();
  const { bin, root } = asOther ? installForOtherUsers() : { bin: BIN, root: ROOT };
  const quoted = [bin, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const [file, argv] = opts.tty ? ['script', ['-qec', quoted, '/dev/null']] : [bin, args];
  return new Promise((resolve, reject) => {
    const child = spawn(file, argv, { cwd: root, uid: opts.uid, gid: opts.gid, env: withoutHostPip(process.env), stdio: ['pipe', 'pipe', 'pipe'] });
    // The CLI may exit before reading what we type: EPIPE is its answer, not the test's error.
    child.stdin.on('error', () => {});
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    // script(1) passes what we type only once the child reads the terminal: type after a moment.
    if (opts.input !== undefined) setTimeout(() => child.stdin.end(opts.input), opts.tty ? 1000 : 0);
    else child.stdin.end();
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not finish in ${opts.ms ?? 60000} ms\n${stdout}\n${stderr}`));
    }, opts.ms ?? 60000);
    // A failed spawn (EACCES: a directory the uid cannot enter) fails this test, not the run.
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(spawnFailure(file, argv, err, { uid: opts.uid }));
    });
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}
