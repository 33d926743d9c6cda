// A Gateway whose watch of its apps directory is refused (ENOSPC: the inotify watches of its
// user used up) says so, and that the scan still sees changes: to a program, "every 0.5 s
// (--watch-interval)", a flag it never gave. It now names watchIntervalMs; the CLI's words are
// checked by gateway/watch-limit, whose user namespace (inotify watches set to 0 there alone)
// this program runs in too. Run from dist/, as a user's program would be.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, tempDir } from '../helpers/process.js';
import { runIf } from '../helpers/skip.js';

const test = suite('library: a refused watch names watchIntervalMs, not --watch-interval');
const WATCHES = '/proc/sys/user/max_inotify_watches';
const canUnshare = existsSync(WATCHES) && spawnSync('unshare', ['--user', '--map-root-user', 'sh', '-c', `echo 0 > ${WATCHES}`], { stdio: 'ignore', timeout: 10_000 }).status === 0;
const ifUnshare = runIf(test, canUnshare, 'needs unshare --user (util-linux) and user namespaces with their own inotify limits (Linux 5.11)');
const work = tempDir('apppkg-lib-watch-limit-');
test.after(() => work.remove());

ifUnshare('the line says the scan runs every 0.5 s (watchIntervalMs)', () => {
  const apps = join(work.path, 'apps');
  mkdirSync(apps);
  const program = join(work.path, 'watch.mjs');
  // No package: nothing starts, and the program ends once its gateway has stopped.
  writeFileSync(
    program,
    `import { Gateway } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'index.js')).href)};
const gateway = await Gateway.start({ apps: ${JSON.stringify(apps)}, stateDir: ${JSON.stringify(join(work.path, 'state'))}, listen: '127.0.0.1:0', admin: false, watchIntervalMs: 500, say: (line) => console.log(line) });
await gateway.stop();
`,
  );
  const run = spawnSync('unshare', ['--user', '--map-root-user', 'sh', '-c', `echo 0 > ${WATCHES} && exec "$0" "$@"`, process.execPath, program], { encoding: 'utf8', timeout: 60_000 });
  assert.is(run.status, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, `cannot watch ${apps} for changes (ENOSPC: the inotify watches of this user are used up; raise fs.inotify.max_user_watches with sysctl); changes under it are seen by the scan every 0.5 s (watchIntervalMs)\n`);
  assert.not.match(run.stdout, '--watch-interval');
});

test.run();
