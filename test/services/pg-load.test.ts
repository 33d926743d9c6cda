// node-postgres' lib/stream.js asks as it loads whether it runs on Cloudflare Workers: with no
// `navigator` (Node 20) by making a `new Response`, which loaded Node's bundled undici (fetch),
// ~50 ms of CPU at every command and gateway start that met PostgreSQL, for nothing.
// postgresql-server.ts lends a navigator for the import, and takes it back.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ROOT, tempDir } from '../helpers/process.js';

const test = suite('services: loading node-postgres');

test("a connection to PostgreSQL loads pg without Node's fetch (bundled undici), and leaves no navigator behind", () => {
  const work = tempDir('apppkg-pg-load-');
  try {
    // A socket directory that is not there: the connection fails after pg has loaded.
    const url = `postgresql://nobody@${encodeURIComponent(join(work.path, 'no-server'))}/postgres`;
    const script = [
      `import { parsePostgresUrl, pingPostgres } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist', 'services', 'postgresql-server.js')).href)};`,
      "const hadNavigator = 'navigator' in globalThis;",
      `const code = await pingPostgres(parsePostgresUrl(${JSON.stringify(url)})).then(() => 'connected', (err) => err.code);`,
      "console.log(JSON.stringify({ code, fetchLoaded: process.moduleLoadList.some((m) => m.includes('deps/undici')), navigatorAsBefore: ('navigator' in globalThis) === hadNavigator }));",
    ].join('\n');
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 30_000 });
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.equal(JSON.parse(r.stdout), { code: 'APPPKG_SERVICE_UNAVAILABLE', fetchLoaded: false, navigatorAsBefore: true });
  } finally {
    work.remove();
  }
});

test.run();
