// What `--apps DIR` must be: a directory whose subdirectories are app packages. The mistakes a
// new user makes (issue 13, item 10) are each named with what was found and what to do: a path
// that is not there, a file, and an app package itself given where its parent was meant.
import { readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { GatewayError } from '../errors.js';
import { shellWord } from '../shell-words.js';

/**
 * Throws APPPKG_APPS_DIR_INVALID unless `dir` can hold app packages; never creates anything.
 * `key` is what the caller calls it: the CLI's `--apps`, Gateway.start's `apps`.
 */
export function validateAppsDir(dir: string, key = '--apps'): void {
  const invalid = (found: string, fix: string) => new GatewayError('APPPKG_APPS_DIR_INVALID', { found, fix, key });
  let isDirectory: boolean;
  try {
    isDirectory = statSync(dir).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      throw invalid(`nothing at ${dir}`, `create it (mkdir -p ${dir}) and copy app packages into it, each a directory holding app.yaml, or point ${key} at the directory that holds them`);
    }
    throw invalid(`${dir}, which cannot be read (${code ?? String(err)})`, 'let the user the gateway runs as read and search the directory');
  }
  if (!isDirectory) {
    throw invalid(`a file (${dir})`, `point ${key} at the directory that holds the app packages (each a directory holding app.yaml)`);
  }
  // stat needs no right on the directory itself: one this user may not list would be served as
  // empty, and watched for packages it can never see.
  try {
    readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw invalid(`${dir}, which this user (uid ${process.getuid?.() ?? '?'}) cannot list (${code})`, `let the user the gateway runs as read and search it (chmod a+rx ${shellWord(dir)}, or run the gateway as its owner)`);
  }
  if (holdsAppYaml(dir)) {
    throw invalid(
      `an app package (${join(dir, 'app.yaml')})`,
      `serve it with ${key.startsWith('-') ? `\`apppkg-gateway serve ${dir}\`` : `Gateway.start({ app: '${dir}' })`}, or point ${key} at its parent, ${dirname(dir)}, which serves every package in it`,
    );
  }
}

function holdsAppYaml(dir: string): boolean {
  try {
    return statSync(join(dir, 'app.yaml')).isFile();
  } catch {
    return false;
  }
}
