// Whether app.yaml's `deb:` accounts for the Debian packages the app's import loaded: an app
// listing `deb: [python3-flask]` that imports flask_login imports here, where
// python3-flask-login happens to be installed, and fails on a host given only what it lists.
// A loaded package is accounted for when deb: lists it or a listed package pulls it in:
// Depends and Pre-Depends, and Recommends, which apt installs with them unless told not to
// (python3-flask recommends python3-blinker, which flask imports when it is there).

import { readFile } from 'node:fs/promises';
import { owningPackages } from './system-module.js';

/** dpkg's database of what is installed (its admindir's default). */
const DPKG_STATUS = '/var/lib/dpkg/status';

/** A Debian package the import loaded that deb: does not account for, and the modules it gave. */
export interface UnlistedPackage {
  name: string;
  modules: string[];
  /**
   * Another unlisted package that pulls this one in (python3-redis, python3-async-timeout): the
   * `deb:` line to write needs only that one.
   */
  pulledBy?: string;
}

interface Installed {
  /** Each a list of alternatives (`a | b`), by name. */
  pulls: string[][];
}

/** `python3-click (>= 8.0), python3-a | python3:any` as [[python3-click], [python3-a, python3]]. */
function relations(field: string | undefined): string[][] {
  if (!field) return [];
  return field.split(',').map((group) => group.split('|').map((alt) => alt.trim().split(/[\s(]/)[0].split(':')[0]).filter(Boolean));
}

/**
 * The fields of a stanza read here. Only they are looked for: matching every line (descriptions,
 * conffile lists: most of the ~1 MB file) was ~0.1 s of CPU of each `check` of a `deb:` app.
 * Continuation lines begin with a space, so they never match.
 */
const STATUS_FIELDS = /^(Package|Status|Pre-Depends|Depends|Recommends|Provides):[ \t]*(.*)$/gm;

/** The installed packages (and what each pulls in), and which of them provide each virtual name. */
function parseStatus(text: string): { installed: Map<string, Installed>; providers: Map<string, string[]> } {
  const installed = new Map<string, Installed>();
  const providers = new Map<string, string[]>();
  for (const stanza of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const [, field, value] of stanza.matchAll(STATUS_FIELDS)) fields.set(field, value);
    const name = fields.get('Package');
    if (!name || !/\sinstalled$/.test(fields.get('Status') ?? '')) continue;
    // Multi-arch packages have a stanza per architecture: one name, their relations together.
    const entry = installed.get(name) ?? { pulls: [] };
    entry.pulls.push(...['Pre-Depends', 'Depends', 'Recommends'].flatMap((f) => relations(fields.get(f))));
    installed.set(name, entry);
    for (const [virtual] of relations(fields.get('Provides'))) providers.set(virtual, [...(providers.get(virtual) ?? []), name]);
  }
  return { installed, providers };
}

/** Every installed package `listed` pulls in, themselves included, recursively. */
function pulledIn(listed: readonly string[], status: ReturnType<typeof parseStatus>): Set<string> {
  const seen = new Set<string>();
  const queue = listed.map((n) => n.split(':')[0]);
  while (queue.length > 0) {
    const name = queue.pop()!;
    for (const real of [name, ...(status.providers.get(name) ?? [])]) {
      if (seen.has(real) || !status.installed.has(real)) continue;
      seen.add(real);
      // Each installed alternative: which of them apt chose is not recorded.
      for (const group of status.installed.get(real)!.pulls) queue.push(...group);
    }
  }
  return seen;
}

/**
 * The Debian packages of `loaded` ([top-level module, file], check-app.ts's distPackages) that
 * neither `listed` (deb:) nor what it pulls in holds, in the order of their first module; []
 * where dpkg keeps no database (not a Debian host: nothing to judge).
 */
export async function unlistedPackages(loaded: ReadonlyArray<readonly [string, string]>, listed: readonly string[]): Promise<UnlistedPackage[]> {
  if (loaded.length === 0) return [];
  let text: string;
  try {
    text = await readFile(DPKG_STATUS, 'utf8');
  } catch {
    return [];
  }
  const status = parseStatus(text);
  const covered = pulledIn(listed, status);
  const owners = await owningPackages(loaded);
  const unlisted = new Map<string, string[]>();
  for (const [module] of loaded) {
    const name = owners.get(module);
    if (name === undefined || covered.has(name)) continue;
    unlisted.set(name, [...(unlisted.get(name) ?? []), module]);
  }
  const found: UnlistedPackage[] = [...unlisted].map(([name, modules]) => ({ name, modules }));
  // A package is left to another only when that one is itself kept: two that pull each other in keep the first.
  for (const p of found) {
    const by = found.find((q) => q !== p && q.pulledBy === undefined && pulledIn([q.name], status).has(p.name));
    if (by !== undefined) p.pulledBy = by.name;
  }
  return found;
}
