// The app a mistyped name most likely meant, for "did you mean" wherever a user names an app
// (the environment file's `apps.NAME`, `logs NAME`, `restart NAME`, `rollback NAME`): the
// directory's name of one of its versions (`blog.1.10`, what `ls` shows) or a near spelling.
import { closest } from '../closest.js';
import { parsePackageDirName } from './package-dir.js';

export interface NearAppName {
  app: string;
  /** True when `name` is a version's directory name (`blog.1.10`) of `app`, not a misspelling. */
  versionDir: boolean;
}

/** The known app `name` stands for or is nearest to; undefined when none is near. */
export function nearAppName(name: string, known: readonly string[]): NearAppName | undefined {
  const { name: app, version } = parsePackageDirName(name);
  if (version !== null && known.includes(app)) return { app, versionDir: true };
  const near = closest(name, known);
  return near === undefined ? undefined : { app: near, versionDir: false };
}
