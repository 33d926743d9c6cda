// pip, offline, looks for distributions only where --find-links points: install-venv gives it
// the app directory and the requirements file's, not the directories under them. An app that
// carries its wheels in wheels/ (what `pip wheel -w wheels/` makes) and a requirements file
// without `--find-links wheels` fails with pip's bare "No matching distribution found", which
// says nothing of the line missing (there is no PyPI to fall back on, on many hosts). This
// reads pip's log for that failure and where pip looked, and finds the directories of wheels
// it did not look in, for the hint of APPPKG_PIP_INSTALL_FAILED.
import type { Dirent } from 'node:fs';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { normalizeName } from '../environment/requirements.js';
import { shellWord } from '../shell-words.js';

export interface UnlistedWheels {
  /** The requirement pip found nothing for, as pip wrote it: "thepkg==1.0". */
  missing: string;
  /** The lines to add to the requirements file: "--find-links wheels". */
  lines: string[];
}

/** wheels/ and deps/wheels/: deeper than that is no place an app keeps its wheels. */
const MAX_DEPTH = 2;
const NEVER_WHEELS = new Set(['node_modules', '__pycache__']);

/**
 * For a pip run whose log (`--log`) is `pipLog`: null unless pip said "No matching distribution
 * found" and the app directory holds .whl files in a directory pip did not look in. The lines
 * name those with a wheel of what was missing, or else every such directory, relative to the
 * requirements file (pip reads a relative --find-links there).
 */
export async function unlistedWheelDirs(appDir: string, requirements: string, pipLog: string): Promise<UnlistedWheels | null> {
  const missing = /No matching distribution found for (\S+)/.exec(pipLog)?.[1];
  if (!missing) return null;
  const requirementsDir = path.dirname(requirements);
  const looked = new Set(lookedIn(pipLog, requirementsDir));
  const dirs = (await wheelDirs(appDir, 0)).filter((d) => !looked.has(d.dir));
  if (dirs.length === 0) return null;
  const name = normalizeName(/^[A-Za-z0-9._-]*[A-Za-z0-9]/.exec(missing)?.[0] ?? missing);
  const holding = dirs.filter((d) => d.projects.has(name));
  const chosen = holding.length > 0 ? holding : dirs;
  return { missing, lines: chosen.map((d) => `--find-links ${shellWord(path.relative(requirementsDir, d.dir) || '.')}`) };
}

/** pip's "Looking in links: a, b": its --find-links, relative ones read from its cwd. */
function lookedIn(pipLog: string, cwd: string): string[] {
  const links = /Looking in links: (.*)/.exec(pipLog)?.[1] ?? '';
  return links
    .split(', ')
    .filter((link) => link !== '' && (!/^[A-Za-z][A-Za-z0-9+.-]*:/.test(link) || link.startsWith('file:')))
    .map((link) => path.resolve(cwd, link.startsWith('file:') ? fileURLToPath(link) : link));
}

interface WheelDir {
  dir: string;
  /** The normalised project names of its wheels (a wheel's name is NAME-VERSION-...whl). */
  projects: Set<string>;
}

async function wheelDirs(dir: string, depth: number): Promise<WheelDir[]> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  const found: WheelDir[] = [];
  const wheels = entries.filter((e) => e.isFile() && e.name.endsWith('.whl'));
  if (depth > 0 && wheels.length > 0) found.push({ dir, projects: new Set(wheels.map((w) => normalizeName(w.name.split('-')[0]))) });
  if (depth === MAX_DEPTH) return found;
  for (const e of entries) {
    if (e.isDirectory() && !e.name.startsWith('.') && !NEVER_WHEELS.has(e.name)) found.push(...(await wheelDirs(path.join(dir, e.name), depth + 1)));
  }
  return found;
}
