// The app's name names its database, so a directory renamed (blog to journal) is another app
// to the gateway: its first start makes a new, empty database, and the old one stays under the
// old name. The line that says the new database was created now says that too, naming the old
// one and how to keep using it; a database of an app whose directory is still there is not named.
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { addPackage } from '../helpers/apps-dir.js';
import { runCli, tempDir } from '../helpers/process.js';
import { servicesEnvironment, serversMissing, startPostgres, type RunningPostgres } from '../helpers/servers.js';
import { runIf } from '../helpers/skip.js';

const test = suite('services: a renamed app');
const work = tempDir('apppkg-services-renamed-');
const state = join(work.path, 'state');
const apps = join(work.path, 'apps');
let pg: RunningPostgres;
let envFile: string;

const missing = serversMissing();
const withServers = runIf(test, missing === null, missing ?? '');
// The probe app without its Redis: PostgreSQL is what this is about.
const WITHOUT_REDIS = { 'app.yaml': [['  redis: redis\n', ''], ['deb: [python3-psycopg2, python3-redis]', 'deb: [python3-psycopg2]']] as Array<[string, string]> };

const install = (dir: string) => runCli(['install', dir, '--environment', envFile, '--state-dir', state], { ms: 120_000 });

test.before(async () => {
  if (missing) return;
  pg = await startPostgres();
  envFile = servicesEnvironment(work.path, 'pg', { postgresql: pg.url });
});

test.after(async () => {
  await pg?.stop();
  work.remove();
});

withServers('the renamed directory\'s new database is said to be new, with the old name\'s database kept and `name:` to use it', async () => {
  const blog = addPackage(apps, 'services-probe', 'blog', WITHOUT_REDIS);
  const first = await install(blog);
  assert.is(first.status, 0, first.stdout + first.stderr);
  assert.match(first.stdout + first.stderr, /blog: created postgresql role and database apppkg_blog on \S+ in \d+ ms\n/);
  const shop = await install(addPackage(apps, 'services-probe', 'shop', WITHOUT_REDIS));
  assert.is(shop.status, 0, shop.stdout + shop.stderr);
  assert.match(shop.stdout + shop.stderr, /shop: created postgresql role and database apppkg_shop on \S+ in \d+ ms\n/, 'blog is still there: not named');

  const journal = join(apps, 'journal');
  renameSync(blog, journal);
  const renamed = await install(journal);
  assert.is(renamed.status, 0, renamed.stdout + renamed.stderr);
  assert.match(
    renamed.stdout + renamed.stderr,
    new RegExp(`journal: created postgresql role and database apppkg_journal on \\S+ in \\d+ ms; it is new and empty, and apppkg_blog \\(of blog, last installed from ${blog.replaceAll('.', '\\.')}, which is gone\\) is kept as it was: if this app was renamed, give it \`name: blog\` in its app\\.yaml to use that one's data\\n`),
  );
  assert.not.match(renamed.stdout + renamed.stderr, /apppkg_shop/, 'shop is still there');
});

test.run();
