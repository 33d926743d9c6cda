// The console scripts of a vendor directory (issue 19). pip writes them with the absolute path
// of the interpreter it ran with in their `#!` line and expects their packages on the
// interpreter's own sys.path: they break once the checkout moves or another host runs it (the
// seed proposal's "almost works – bin/ files need fixing up"). Ours find the vendor directory
// from their own location and put it first on sys.path themselves, .pth files processed as
// `paths:` has them under the gateway, and run the `python3` on PATH (under `apppkg-gateway
// run`, that is the app's interpreter). Their text depends on nothing but the entry point, so
// the tree stays reproducible. A distribution's own scripts (setup.py's `scripts=`, a wheel's
// .data/scripts/: awscli's `aws`, say) are kept beside them: a shell script as it is, a Python
// one with the same two fixes made in its own text.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { DataScript, EntryPoint } from './vendor-dists.js';

export const SCRIPTS_DIR = 'bin';

/** The text of bin/NAME for `entry` of distribution NAME VERSION. Python 3.9 syntax, stdlib only. */
export function scriptText(entry: EntryPoint, dist: { name: string; version: string }): string {
  const target = entry.attribute ? `${entry.module}:${entry.attribute}` : entry.module;
  const head = entry.attribute.split('.')[0];
  const call = entry.attribute
    ? [`from ${entry.module} import ${head}`, '', 'if __name__ == "__main__":', `    sys.exit(${entry.attribute}())`]
    : ['import runpy', '', 'if __name__ == "__main__":', `    runpy.run_module(${JSON.stringify(entry.module)}, run_name="__main__", alter_sys=True)`];
  return [
    '#!/usr/bin/env python3',
    `# ${entry.name}: the entry point ${target} of ${dist.name} ${dist.version}, written by \`apppkg-gateway vendor\`.`,
    '# It finds its vendor directory from where it lies, so the checkout may be copied anywhere.',
    'import os',
    'import site',
    'import sys',
    '',
    'vendor = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))',
    'if vendor not in sys.path:',
    '    sys.path.insert(0, vendor)',
    '    site.addsitedir(vendor)  # its .pth files, as apppkg-gateway does for `paths:`',
    '',
    ...call,
    '',
  ].join('\n');
}

/**
 * A Python script's `#!` line as pip writes it (`#!python` made the absolute path of the
 * interpreter it ran with), or as its author did (`#!/usr/bin/env python`); `w` for pythonw.
 */
const PYTHON_SHEBANG = /^#!\s*(?:\S*\/)?(?:env\s+)?python[\d.]*w?(?:\s.*)?$/;
/** pip's form for an interpreter path too long for `#!` or holding a space: sh execs it. */
const SH_TRAMPOLINE = /^#!\/bin\/sh\n'''exec' .*\n' '''\n/;

/** Run before the script's own code: its vendor directory first on sys.path, nothing else left in its namespace. */
const FIND_VENDOR = [
  'def _apppkg_vendor():  # written by `apppkg-gateway vendor`: find vendor/ from where this script lies',
  '    import os, site, sys',
  '    vendor = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))',
  '    if vendor not in sys.path:',
  '        sys.path.insert(0, vendor)',
  '        site.addsitedir(vendor)',
  '_apppkg_vendor()',
  'del _apppkg_vendor',
];

/**
 * bin/NAME for a distribution's own script: a Python one runs the `python3` on PATH and finds
 * its vendor directory, as our entry-point scripts do; the code goes after its leading comments
 * (a coding line stays where Python reads it) and after any `from __future__` import, which must
 * come first. Anything else (sh, perl) is kept byte for byte.
 */
export function relocatableScript(data: Buffer): Buffer {
  let text = data.toString('latin1'); // bytes in, the same bytes out, whatever the script's encoding
  if (SH_TRAMPOLINE.test(text)) text = `#!python\n${text.replace(SH_TRAMPOLINE, '')}`;
  const lines = text.split('\n');
  if (!PYTHON_SHEBANG.test(lines[0].replace(/\r$/, ''))) return data;
  lines[0] = '#!/usr/bin/env python3';
  let at = 1;
  while (at < lines.length && lines[at].startsWith('#')) at++;
  let future = -1;
  lines.forEach((l, i) => {
    if (/^from\s+__future__\s+import\b/.test(l)) future = i;
  });
  if (future >= 0) {
    if (lines[future].includes('(')) while (future < lines.length - 1 && !lines[future].includes(')')) future++;
    at = future + 1;
  }
  lines.splice(at, 0, ...FIND_VENDOR);
  return Buffer.from(lines.join('\n'), 'latin1');
}

/**
 * Write bin/NAME (mode 0755) into `tree` for each entry point, and each of the distribution's
 * own scripts an entry point does not name; returns their paths relative to `tree`.
 */
export async function writeScripts(tree: string, dist: { name: string; version: string; scripts: EntryPoint[] }, own: DataScript[] = []): Promise<string[]> {
  const written: string[] = [];
  const write = async (name: string, data: string | Buffer) => {
    const file = path.join(tree, SCRIPTS_DIR, name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, data);
    await chmod(file, 0o755);
    written.push(`${SCRIPTS_DIR}/${name}`);
  };
  for (const entry of dist.scripts) await write(entry.name, scriptText(entry, dist));
  const entryNames = new Set(dist.scripts.map((e) => e.name));
  for (const script of own) if (!entryNames.has(script.name)) await write(script.name, relocatableScript(script.data));
  return written.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}
