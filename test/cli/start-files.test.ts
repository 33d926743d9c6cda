// What a gateway has loaded once it has started and served a request, with nothing else asked of
// it (issue 11, the front's idle RSS): the files of its start (main.js and the chunks of the
// tiers main, core, app, running and the gateway command, docs/performance.md "The one-file
// CLI"), and of node_modules only the helpers the precompiled schema validators require. The
// parts loaded at first use (the Upgrade tunnel and ws, /metrics and prom-client, services,
// mail, export, the other commands) cost the idle front their code's memory, ~6 bytes of RSS for
// each byte of source (docs/performance.md, H272). The build refuses a static import of them
// from the start's code (scripts/bundle-cli.mjs); this reads what the running gateway loaded,
// so an import() reached at start is caught too: ESM loads through a module hook, CommonJS from
// the require cache, read when the test asks (SIGWINCH, which the gateway leaves alone).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { addPackage, oneWorkerEach } from '../helpers/apps-dir.js';
import { ROOT, startCli, tempDir, waitFor } from '../helpers/process.js';

const HOOKS = `
import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.APPPKG_TEST_LOADED, url + '\\n');
  return next(url, context);
}
`;

const PRELOAD = `
import { createRequire, register } from 'node:module';
import { writeFileSync } from 'node:fs';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOKS)}));
const require = createRequire(import.meta.url);
process.on('SIGWINCH', () => writeFileSync(process.env.APPPKG_TEST_LOADED + '.cjs', Object.keys(require.cache).join('\\n')));
`;

/** The start's tiers (scripts/merge-chunks.mjs): each chunk file is its tier's name, a dash and a hash. */
const START_CHUNKS = /^dist\/cli\/(main\.js|chunks\/(core|app|running|gateway)-[0-9A-Z]+\.js)$/;
/** What dist/description/compiled/*.cjs require of ajv: its runtime helpers, not ajv itself. */
const VALIDATOR_HELPERS = /(^|\/)node_modules\/ajv\/dist\/runtime\/[a-z0-9]+\.js$/;

test('a gateway that has started a WSGI app and served it has loaded the files of its start and no package', async () => {
  const work = tempDir('apppkg-start-files-');
  try {
    const preload = join(work.path, 'loaded-files.mjs');
    writeFileSync(preload, PRELOAD);
    const loadedFile = join(work.path, 'loaded.txt');
    const apps = join(work.path, 'apps');
    addPackage(apps, 'examples/hello', 'hello');
    const gw = await startCli(['--import', preload, join(ROOT, 'dist', 'cli', 'main.js'), '--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', join(work.path, 'state'), '--access-log', 'off', ...oneWorkerEach(work.path)], {
      bin: process.execPath,
      env: { APPPKG_TEST_LOADED: loadedFile },
    });
    try {
      await waitFor(async () => (await fetch(`${gw.url}/hello/`)).status === 200, 30_000, 'hello to serve');
      // Past what is loaded a moment after an app is attached (websocket-modules.ts, 1 s).
      await sleep(1500);
      gw.child.kill('SIGWINCH');
      await waitFor(() => existsSync(`${loadedFile}.cjs`), 10_000, () => `the preload's list of CommonJS modules:\n${gw.output()}`);
      const esm = readFileSync(loadedFile, 'utf8').split('\n').filter((u) => u.startsWith('file:')).map((u) => fileURLToPath(u));
      const cjs = readFileSync(`${loadedFile}.cjs`, 'utf8').split('\n').filter(Boolean);
      const files = [...new Set([...esm, ...cjs])].filter((f) => f !== preload);
      const packages = files.filter((f) => f.includes('/node_modules/') && !VALIDATOR_HELPERS.test(f));
      assert.equal(packages, [], 'packages loaded by an idle gateway');
      const cli = files.map((f) => relative(ROOT, f)).filter((f) => f.startsWith('dist/cli/'));
      assert.equal(cli.filter((f) => !START_CHUNKS.test(f)), [], `files of dist/cli beyond the start's: ${cli.join(', ')}`);
      // The hook did see the start: a list without the CLI's entry would pass the test above.
      assert.ok(cli.includes('dist/cli/main.js') && cli.some((f) => f.startsWith('dist/cli/chunks/running-')), cli.join(', '));
    } finally {
      await gw.stop();
    }
  } finally {
    work.remove();
  }
});

test("the start's chunks carry yaml as its ES modules, whose unused parts the build drops", () => {
  // esbuild cannot tree-shake yaml's CommonJS build, which `import 'yaml'` resolves to on Node:
  // ~54 KB more source at every start (scripts/bundle-cli.mjs, yamlAsModules).
  const chunks = join(ROOT, 'dist', 'cli', 'chunks');
  const start = readdirSync(chunks).filter((f) => START_CHUNKS.test(`dist/cli/chunks/${f}`));
  assert.ok(start.some((f) => f.startsWith('core-')), start.join(', '));
  const sources = start.flatMap((f) => (JSON.parse(readFileSync(join(chunks, `${f}.map`), 'utf8')) as { sources: string[] }).sources);
  const yaml = sources.filter((s) => s.includes('node_modules/yaml/'));
  assert.ok(yaml.some((s) => s.includes('node_modules/yaml/browser/dist/')), `yaml's ES modules in the start's chunks: ${yaml.slice(0, 5).join(', ')}`);
  assert.equal(yaml.filter((s) => s.includes('node_modules/yaml/dist/')).map((s) => s.replace(/.*node_modules\//, '')), ['yaml/dist/log.js']);
});

test.run();
