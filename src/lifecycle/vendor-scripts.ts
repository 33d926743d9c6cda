// The console scripts of a vendor directory (issue 19). pip writes them with the absolute path
// of the interpreter it ran with in their `#!` line and expects their packages on the
// interpreter's own sys.path: they break once the checkout moves or another host runs it (the
// seed proposal's "almost works – bin/ files need fixing up"). Ours find the vendor directory
// from their own location and put it first on sys.path themselves, .pth files processed as
// `paths:` has them under the gateway, and run the `python3` on PATH (under `apppkg-gateway
// run`, that is the app's interpreter). Their text depends on nothing but the entry point, so
// the tree stays reproducible.
import { chmod, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { EntryPoint } from './vendor-dists.js';

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

/** Write bin/NAME (mode 0755) into `tree` for each entry point; returns their paths relative to `tree`. */
export async function writeScripts(tree: string, dist: { name: string; version: string; scripts: EntryPoint[] }): Promise<string[]> {
  const written: string[] = [];
  for (const entry of dist.scripts) {
    const rel = `${SCRIPTS_DIR}/${entry.name}`;
    const file = path.join(tree, SCRIPTS_DIR, entry.name);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, scriptText(entry, dist));
    await chmod(file, 0o755);
    written.push(rel);
  }
  return written;
}
