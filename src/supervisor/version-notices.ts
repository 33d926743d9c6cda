// What the log says once about an app's directories under --apps that do not do what their
// names suggest (SPEC 1.2): two spellings of one version, where only the text picks the one
// that serves. Said, not refused: both are packages, and the gateway serves one of them.
import { basename } from 'node:path';
import { versionsTie } from '../description/package-dir.js';
import type { DiscoveredApp } from './discovery.js';

/** One line per pair of directories naming one version (`blog.1.02`, `blog.1.2`), keyed to be said once. */
export function versionNotices(app: DiscoveredApp): Array<{ key: string; line: string }> {
  const notices: Array<{ key: string; line: string }> = [];
  app.versions.forEach((above, i) => {
    const below = app.versions[i + 1];
    if (below === undefined || !versionsTie(above.version, below.version)) return;
    const [a, b] = [basename(above.dir), basename(below.dir)];
    notices.push({
      key: `tie ${above.dir} ${below.dir}`,
      line: `${app.name}: ${b} and ${a} both hold version ${above.version} (versions compare number by number): ${a} ranks first only by its spelling and is the one to serve, ` +
        `${b} is kept as a rollback target of that same version; remove or rename one (a version of its own, higher for the newer one)`,
    });
  });
  return notices;
}
