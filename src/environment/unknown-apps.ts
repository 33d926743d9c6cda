// Entries of the environment file's `apps:` that name no app under --apps: the gateway cannot
// tell a typo (`apps.blgo`) from an app not deployed yet, so it refuses nothing, but a silent
// one leaves the real app without its settings, hosts or mount and the user with no clue why.
import { nearAppName } from '../description/near-app-name.js';
import { keyLabel } from '../description/yaml-file.js';
import type { HostEnvironment } from './host-file.js';

/**
 * One line per `apps.NAME` entry of `hostEnv` not among `known` (the apps under --apps, broken
 * ones included), with a "did you mean" for a near name and the names there are; [] when each
 * entry names an app.
 */
export function unknownAppWarnings(hostEnv: HostEnvironment, known: readonly string[], appsDir: string): string[] {
  const there = known.length === 0 ? 'none yet' : [...known].sort().join(', ');
  return Object.keys(hostEnv.apps)
    .filter((name) => !known.includes(name))
    .map((name) => {
      const key = keyLabel(['apps', name]);
      const place = hostEnv.places[key];
      const where = place ? `${place.file}:${place.line}:${place.column}: ` : hostEnv.file ? `${hostEnv.file}: ` : '';
      // `blog.1.10`, the directory's name: the entry is the app's, whichever version serves.
      const near = nearAppName(name, known);
      const hint = near?.versionDir
        ? ` (the name of a version's directory: write the app's name, "${near.app}", whose entry holds for every version of it)`
        : near ? ` (did you mean "${near.app}"?)` : '';
      return (
        `${where}${key}: no app of that name under ${appsDir}${hint}; ` +
        `its keys apply to nothing until one is deployed (apps there: ${there})`
      );
    });
}
