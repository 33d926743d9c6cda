// What the log says once about an app's directories under --apps that do not do what their
// names suggest (SPEC 1.2): two spellings of one version, where only the text picks the one
// that serves; a link (`blog -> blog.1.9`) its author takes to pick the version while a
// higher one sits beside it; a copy (`blog.old`) taken for a version of blog; a release named
// as a tarball is (`blog-1.4.2`), whose name then holds its major version. Said, not
// refused: each is a package, and the highest serves.
import { basename } from 'node:path';
import { parsePackageDirName, versionsTie } from '../description/package-dir.js';
import type { DiscoveredApp } from './discovery.js';

/**
 * One line per pair of directories naming one version (`blog.1.02`, `blog.1.2`) or none, and per
 * link to a version below the highest, each with the key it is said once by.
 */
export function versionNotices(app: DiscoveredApp): Array<{ key: string; line: string }> {
  const notices: Array<{ key: string; line: string }> = [];
  app.versions.forEach((above, i) => {
    const below = app.versions[i + 1];
    if (below === undefined) return;
    const [a, b] = [basename(above.dir), basename(below.dir)];
    // Two packages naming one app with no version at all (a copy `blog-new` whose app.yaml says
    // `name: blog`): only the sorted directory names pick the one that serves.
    if (above.version === null && below.version === null) {
      notices.push({
        key: `unversioned ${above.dir} ${below.dir}`,
        line: `${app.name}: ${a} and ${b} both hold app ${app.name} with no version suffix: ${a} serves only because its directory's name sorts first, ` +
          `${b} is kept as a rollback target; give each a version (${app.name}.1, ${app.name}.2: the highest serves), another name: in its app.yaml, or start the one to keep unserved with a dot (.${b})`,
      });
      return;
    }
    if (!versionsTie(above.version, below.version)) return;
    notices.push({
      key: `tie ${above.dir} ${below.dir}`,
      line: `${app.name}: ${b} and ${a} both hold version ${above.version} (versions compare number by number): ${a} ranks first only by its spelling and is the one to serve, ` +
        `${b} is kept as a rollback target of that same version; remove or rename one (a version of its own, higher for the newer one)`,
    });
  });
  for (const desc of app.versions) {
    const line = dashedVersion(app.name, desc);
    if (line !== null) notices.push({ key: `dashed ${desc.dir}`, line });
  }
  const top = app.versions[0];
  for (const link of app.links ?? []) {
    if (top === undefined || link.dir === top.dir) continue;
    const [name, highest] = [basename(link.path), basename(top.dir)];
    notices.push({
      key: `link ${link.path} ${link.dir} ${top.dir}`,
      line: `${app.name}: the link ${name} -> ${link.target} does not pin the version: a link is one more directory of ${app.name}, and the highest version beside it serves (${highest}); ` +
        `to serve the version the link names, keep the other versions out of the apps directory (in /srv/releases, say) or remove ${highest}`,
    });
  }
  return notices;
}

/**
 * For `blog-1.4.2`, named as sdists and tarballs name a release: the line saying it is version
 * 4.2 of an app `blog-1` (the split is at the first "." before a digit), so that `blog-2.0.0`
 * would be another app at another URL, with the rename that makes it version 1.4.2 of blog;
 * null for any other directory, and for one whose app.yaml gives the name.
 */
function dashedVersion(name: string, desc: DiscoveredApp['versions'][number]): string | null {
  const dir = basename(desc.dir);
  const dashed = /^(.+?)([-_])(\d+)$/.exec(name);
  if (dashed === null || desc.version === null || parsePackageDirName(dir).name !== name) return null;
  const [, base, separator, major] = dashed;
  return `${name}: ${dir} holds version ${desc.version} of an app named ${name} (at /${name}): a version suffix follows a "." (NAME.VERSION), so "${separator}${major}" is part of the name, ` +
    `and ${base}${separator}${Number(major) + 1}.0 would be another app beside it; to make it version ${major}.${desc.version} of ${base}, rename it ${base}.${major}.${desc.version}`;
}

/**
 * For `blog.old` or `blog.v2` beside an app `blog`: the line saying it is an app of its own,
 * not a version of blog (SPEC 1.2: a version begins with a digit), and how to keep a copy
 * unserved; null for any other name. Such a copy runs with its own data, settings and URL.
 */
export function notAVersionOf(name: string, apps: readonly DiscoveredApp[]): string | null {
  for (let dot = name.indexOf('.'); dot > 0; dot = name.indexOf('.', dot + 1)) {
    const other = name.slice(0, dot);
    if (!apps.some((a) => a.name === other)) continue;
    const digits = /\d+(\.\d+)*/.exec(name.slice(dot + 1))?.[0];
    return `${name}: served as an app of its own at /${name}, not as a version of ${other}: a version suffix begins with a digit (${other}.${digits ?? '2'}); ` +
      `to keep a copy that is not served, start its directory's name with a dot (.${name})`;
  }
  return null;
}
