// The PostgreSQL databases this state root keeps for apps whose directory is gone: what a
// renamed directory (blog to journal) leaves behind, since the app's name names its database.
// The new name's first start gets a new, empty database; without a word of the old one the
// app's data looked lost, where it was only under the old name (docs/services.md).
import { readdir } from 'node:fs/promises';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { appStateDirs } from '../environment/state-root.js';
import { readInstalled } from '../lifecycle/installed-version.js';
import { readCredentials } from './credentials-store.js';
import { appDatabaseName } from './postgresql-server.js';

export interface LeftDatabase {
  app: string;
  database: string;
  /** The app directory it was last installed from, which is not there any more. */
  dir: string;
}

/** The databases of other apps (not `app`) whose last installed directory is gone, with no other version of them beside it. */
export async function databasesOfGoneApps(stateRoot: string, app: string): Promise<LeftDatabase[]> {
  const names = await readdir(path.join(stateRoot, 'services')).catch(() => [] as string[]);
  const left: LeftDatabase[] = [];
  for (const file of names.sort()) {
    const other = file.replace(/\.json$/, '');
    if (other === file || other === app) continue;
    const creds = await readCredentials(stateRoot, other).catch(() => null);
    if (!creds?.postgresql) continue;
    const installed = readInstalled(path.join(appStateDirs(stateRoot, other).app, 'installed.json'));
    if (installed === null || existsSync(installed.dir) || hasVersionBeside(installed.dir, other)) continue;
    left.push({ app: other, database: appDatabaseName(other), dir: installed.dir });
  }
  return left;
}

/** A directory of the same app beside the one gone (blog.1.1 for a removed blog.1.0): an upgrade, not a rename. */
function hasVersionBeside(dir: string, app: string): boolean {
  try {
    return readdirSync(path.dirname(dir)).some((entry) => entry === app || entry.startsWith(`${app}.`));
  } catch {
    return false;
  }
}
