// Which app packages are under --apps: every directory (or symlink to one) holding app.yaml,
// loaded and grouped by app name, highest version first (SPEC §1.2). A broken description is
// reported, never fatal.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadDescription } from '../description/load.js';
import { compareVersions } from '../description/package-dir.js';
import type { Description } from '../description/types.js';
import { GatewayError } from '../errors.js';

export interface DiscoveredApp {
  name: string;
  /** Loadable versions, highest first. */
  versions: Description[];
}

export interface BrokenPackage {
  dir: string;
  error: GatewayError;
}

export interface Discovery {
  apps: DiscoveredApp[];
  broken: BrokenPackage[];
}

export async function discoverApps(appsDir: string): Promise<Discovery> {
  const broken: BrokenPackage[] = [];
  const byName = new Map<string, Description[]>();
  const entries = readdirSync(appsDir).filter((e) => !e.startsWith('.')).sort();
  for (const entry of entries) {
    const dir = join(appsDir, entry);
    try {
      if (!statSync(dir).isDirectory() || !statSync(join(dir, 'app.yaml')).isFile()) continue;
    } catch {
      continue; // not a package (or a dangling symlink)
    }
    try {
      const desc = await loadDescription(dir);
      const list = byName.get(desc.name) ?? [];
      // A symlink (blog -> blog.1.2) and its target are the same package: keep it once.
      if (!list.some((d) => d.dir === desc.dir)) list.push(desc);
      byName.set(desc.name, list);
    } catch (err) {
      broken.push({ dir, error: err as GatewayError });
    }
  }
  const apps = [...byName.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, versions]) => ({ name, versions: versions.sort((a, b) => compareVersions(b.version, a.version)) }));
  return { apps, broken };
}
