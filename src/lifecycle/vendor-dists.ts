// The distributions pip installed into a directory (issue 19), read from their `.dist-info`:
// name, version and what it needs (METADATA), wheel tags (WHEEL), entry points, whether the
// requirements named them (REQUESTED), and the files they own (RECORD). Also the one rewrite of RECORD that makes
// a `pip install --target` tree relocatable: pip's own scripts (`../../bin/x`, with an absolute
// `#!` line) and direct_url.json (an absolute file: URL) leave, our bin/ scripts come in.
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { normalizeName } from '../environment/requirements.js';
import { isBinaryTag } from './vendor-tags.js';

export interface EntryPoint {
  /** The command's name: bin/NAME. */
  name: string;
  /** "greet.cli" */
  module: string;
  /** "main", or "Cls.method"; "" for a module run as a whole. */
  attribute: string;
}

/** A script of the distribution's own (a wheel's .data/scripts/), as pip installed it into bin/. */
export interface DataScript {
  name: string;
  data: Buffer;
}

export interface InstalledDistribution {
  name: string;
  version: string;
  /** "greet-1.0.dist-info" */
  distInfo: string;
  tags: string[];
  /** Built for one interpreter or platform (its tags, or compiled files in its RECORD). */
  binary: boolean;
  /** Its compiled files (.so, .pyd, .dylib), relative to the tree. */
  compiledFiles: string[];
  requested: boolean;
  /** The distributions it needs (Requires-Dist, those of an extra left out), names normalised (PEP 503). */
  requires: string[];
  /** console_scripts and gui_scripts. */
  scripts: EntryPoint[];
  /** RECORD's paths, relative to the tree, as pip wrote them ("../../bin/greet" included). */
  record: string[];
}

const COMPILED = /\.(so|pyd|dylib)$|\.so\.\d/;

/** Every distribution under `tree` (a `pip install --target` directory), sorted by name. */
export async function readDistributions(tree: string): Promise<InstalledDistribution[]> {
  const found: InstalledDistribution[] = [];
  for (const entry of (await readdir(tree)).sort()) {
    if (!entry.endsWith('.dist-info')) continue;
    const dir = path.join(tree, entry);
    const metadata = headers(await readText(path.join(dir, 'METADATA')));
    const wheel = headers(await readText(path.join(dir, 'WHEEL')));
    const record = parseRecord(await readText(path.join(dir, 'RECORD')));
    const tags = wheel.get('tag') ?? [];
    const compiledFiles = record.filter((f) => COMPILED.test(f) && insideTree(f));
    found.push({
      name: metadata.get('name')?.[0] ?? entry.replace(/-[^-]*\.dist-info$/, ''),
      version: metadata.get('version')?.[0] ?? entry.replace(/^.*-|\.dist-info$/g, ''),
      distInfo: entry,
      tags,
      binary: tags.some(isBinaryTag) || compiledFiles.length > 0,
      compiledFiles,
      requested: (await readText(path.join(dir, 'REQUESTED'), null)) !== null,
      requires: requiresOf(metadata),
      scripts: parseEntryPoints(await readText(path.join(dir, 'entry_points.txt'), '')),
      record,
    });
  }
  return found.sort((a, b) => (a.name.toLowerCase() < b.name.toLowerCase() ? -1 : 1));
}

/** What a METADATA file (its text, or its headers as read) says the distribution needs: requiredNames. */
export function requiresOf(metadata: string | Map<string, string[]>): string[] {
  return requiredNames((typeof metadata === 'string' ? headers(metadata) : metadata).get('requires-dist') ?? []);
}

/**
 * The names of Requires-Dist entries (`Jinja2>=3.1.2`, `colorama; platform_system == "Windows"`),
 * less those of an extra, which pip installs only when asked for it.
 */
function requiredNames(entries: string[]): string[] {
  const names = entries
    .filter((entry) => !/;.*\bextra\s*==/.test(entry))
    .map((entry) => /^\s*([A-Za-z0-9][A-Za-z0-9._-]*)/.exec(entry)?.[1])
    .filter((name): name is string => name !== undefined)
    .map(normalizeName);
  return [...new Set(names)];
}

async function readText(file: string, missing: string | null = ''): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return missing as string;
    throw err;
  }
}

/** RFC 822-style headers (METADATA, WHEEL) up to the first blank line; names lowercased, repeats kept. */
function headers(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split(/\r?\n/)) {
    if (line === '') break;
    const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1].toLowerCase();
    out.set(key, [...(out.get(key) ?? []), m[2].trim()]);
  }
  return out;
}

/** The first column of each RECORD row (a CSV file: a path with a comma is quoted). */
function parseRecord(text: string): string[] {
  return text
    .split(/\r?\n/)
    .filter((l) => l !== '')
    .map((line) => {
      if (!line.startsWith('"')) return line.split(',')[0];
      let value = '';
      for (let i = 1; i < line.length; i++) {
        if (line[i] === '"' && line[i + 1] === '"') {
          value += '"';
          i++;
        } else if (line[i] === '"') break;
        else value += line[i];
      }
      return value;
    });
}

/** [console_scripts] and [gui_scripts] of entry_points.txt: `name = module:attr [extras]`. */
function parseEntryPoints(text: string): EntryPoint[] {
  const scripts: EntryPoint[] = [];
  let section = '';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[(.+)\]$/.exec(line);
    if (header) {
      section = header[1].trim();
      continue;
    }
    if (section !== 'console_scripts' && section !== 'gui_scripts') continue;
    const m = /^([A-Za-z0-9_][A-Za-z0-9_.-]*)\s*=\s*([\w.]+)\s*(?::\s*([\w.]+))?\s*(\[.*\])?$/.exec(line);
    if (m) scripts.push({ name: m[1], module: m[2], attribute: m[3] ?? '' });
  }
  return scripts.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/**
 * The scripts pip put in `tree`'s bin/ for `dist` that are no entry point of it: RECORD names
 * each as `../../bin/NAME` (pip's --target installs into a scheme whose scripts sit beside lib/).
 */
export async function readDataScripts(tree: string, dist: InstalledDistribution): Promise<DataScript[]> {
  const entryNames = new Set(dist.scripts.map((e) => e.name));
  const found: DataScript[] = [];
  for (const file of dist.record) {
    const name = /^(?:\.\.\/)+bin\/([^/]+)$/.exec(file)?.[1];
    if (name === undefined || entryNames.has(name)) continue;
    try {
      found.push({ name, data: await readFile(path.join(tree, 'bin', name)) });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
  return found;
}

/** pip's files that cannot travel: its scripts (outside the tree, absolute `#!`) and direct_url.json. */
export function isPipOnlyFile(dist: InstalledDistribution, file: string): boolean {
  return file.startsWith('../') || file === `${dist.distInfo}/direct_url.json`;
}

/** A RECORD row naming a file outside the tree (absolute, or through ..) is never read or kept. */
function insideTree(file: string): boolean {
  return !file.startsWith('/') && !file.split('/').includes('..');
}

/**
 * Rewrite `dist`'s RECORD for the vendor tree: without pip's scripts and direct_url.json, with
 * `ours` (bin/ files we wrote) added, every row's hash and size computed from the file as it is,
 * sorted, RECORD itself last (PEP 376, its own row without a hash).
 */
export async function rewriteRecord(tree: string, dist: InstalledDistribution, ours: string[]): Promise<string[]> {
  const own = `${dist.distInfo}/RECORD`;
  const files = [...new Set([...dist.record.filter((f) => !isPipOnlyFile(dist, f) && insideTree(f) && f !== own), ...ours])].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const rows: string[] = [];
  const present: string[] = [];
  for (const file of files) {
    let data: Buffer;
    try {
      data = await readFile(path.join(tree, file));
    } catch {
      continue; // listed by the wheel, not installed (a .pyc pip was told not to write)
    }
    const digest = createHash('sha256').update(data).digest('base64url');
    rows.push(`${csvField(file)},sha256=${digest},${data.length}`);
    present.push(file);
  }
  rows.push(`${csvField(own)},,`);
  await writeFile(path.join(tree, own), `${rows.join('\n')}\n`);
  return [...present, own];
}

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}
