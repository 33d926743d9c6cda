#!/usr/bin/env node
// After tsc: the CLI as one file. tsc's dist/ is ~170 ES modules, and Node resolving, reading
// and compiling each of them (with yaml's, ws's and http-proxy's own) was ~150 ms of every
// cold start and ~5 MiB of the front's idle RSS (docs/performance.md). esbuild inlines them into
// dist/cli/main.js, replacing tsc's entry file, and its chunks, which merge-chunks.mjs joins into
// a few files per run; the rest of dist/ stays as tsc wrote it for the library API
// (dist/index.js) and its types.
//
// Left outside the file, loaded from node_modules when first used: the packages only some runs
// need (metrics, the status page's events, services, mail, export, process routes, and ajv, the
// fallback when a schema changed since the build). The modules that find the package's files
// walk up to its root (src/package-root.ts), since inlined they no longer sit at their own depth.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mergeChunks } from './merge-chunks.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// esbuild's split, which merge-chunks.mjs then joins into fewer files under dist/cli.
const split = join(root, 'dist', 'cli-split');
const LOADED_WHEN_USED = [
  'ajv', 'better-sse', 'ioredis', 'kubernetes-models', 'mailparser', 'pg', 'prom-client', 'smtp-server', 'undici',
];

// yaml, which every start loads to read the descriptions, as its ES modules: esbuild cannot
// drop the unused parts of its CommonJS build (yaml/dist, what `import 'yaml'` resolves to on
// Node): its ES build took yaml's share of the start's source from 230 KB to 176 KB, and 0.5 MiB
// off the front's RSS after start (docs/performance.md, H272). The ES build is the one yaml
// ships for browsers, whose log.js warns with console.warn: the Node build's log.js stands in
// for it, so a warning stays Node's own (`(node:PID) Warning: ...`). Found as Node finds it,
// real path included: esbuild resolves through a symlinked node_modules (a git worktree's).
const yamlDir = dirname(createRequire(join(root, 'package.json')).resolve('yaml/package.json'));
const yamlAsModules = {
  name: 'yaml-as-modules',
  setup(b) {
    b.onResolve({ filter: /^yaml$/ }, () => ({ path: join(yamlDir, 'browser', 'dist', 'index.js') }));
    b.onResolve({ filter: /\/log\.js$/ }, (args) =>
      join(args.resolveDir, args.path) === join(yamlDir, 'browser', 'dist', 'log.js') ? { path: join(yamlDir, 'dist', 'log.js') } : undefined);
  },
};

const { metafile } = await build({
  absWorkingDir: root,
  entryPoints: ['src/cli/main.ts'],
  outdir: split,
  bundle: true,
  // The commands and the parts a run may never use stay in their own files, loaded at their
  // import(): one file for everything would compile all of it, and would load the packages
  // left outside at its top instead of where they are first needed.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: LOADED_WHEN_USED.flatMap((name) => [name, `${name}/*`]),
  plugins: [yamlAsModules],
  sourcemap: 'linked',
  legalComments: 'none',
  logLevel: 'warning',
  metafile: true,
});

// A package left outside but imported statically by a module every start runs would be loaded
// at every start (it happened, before the split: undici, ~200 ms): refuse the build instead.
// Every start runs the entry, a gateway command, and the proxy's front.
const EVERY_START = ['src/cli/main.ts', 'src/cli/commands/gateway.ts', 'src/cli/commands/serve.ts', 'src/proxy/front.ts'];
const outputOf = new Map(Object.entries(metafile.outputs).filter(([, out]) => out.entryPoint).map(([file, out]) => [out.entryPoint, file]));
const seen = new Set();
/** The packages left outside that FILE loads statically, through the chunks it imports; WALKED: the chunks seen. */
const eager = (file, walked = seen) => {
  if (walked.has(file)) return [];
  walked.add(file);
  return metafile.outputs[file].imports.flatMap((i) =>
    i.kind !== 'import-statement' ? [] : i.external ? [i.path] : eager(i.path, walked));
};
const loadedAtStart = EVERY_START.flatMap((source) => {
  if (!outputOf.has(source)) throw new Error(`bundle-cli: ${source} is not a file of its own in the bundle; update EVERY_START`);
  return eager(outputOf.get(source));
}).filter((p) => !p.startsWith('node:'));
// `export containerfile` and every usage error of `export` loaded Kubernetes' schemas
// (kubernetes-models, ~0.25 s of CPU a run): the command reaches them only through its import()
// of the kubernetes target's module (docs/performance.md, "The one-file CLI").
const exportSchemas = eager(outputOf.get('src/cli/commands/export.ts'), new Set()).filter((p) => p.startsWith('kubernetes-models'));
if (exportSchemas.length > 0) {
  console.error(`bundle-cli: the export command loads ${[...new Set(exportSchemas)].join(', ')} for every target; import src/export/kubernetes.ts where export kubernetes runs (await import(...))`);
  process.exit(1);
}
// Nor may any command load one at its top: it would cost every run of the command that does not
// need it, and every usage error. `status`, `logs`, `restart` and `rollback` loaded undici (~0.24 s
// of CPU) for a request or two to the admin listener, which cli/admin-client.ts makes with node:http.
const commandsLoading = [...outputOf]
  .filter(([source]) => source.startsWith('src/cli/commands/'))
  .flatMap(([source, file]) => [...new Set(eager(file, new Set()))].filter((p) => !p.startsWith('node:')).map((p) => `${source} loads ${p}`));
if (commandsLoading.length > 0) {
  console.error(`bundle-cli: ${commandsLoading.join('; ')} at its start; import it where it is first used (await import(...))`);
  process.exit(1);
}
// Inlined, but only in the chunk the first Upgrade loads (src/proxy/websocket-modules.ts).
// Matched anywhere in the input's path: in a git worktree whose node_modules is a symlink, esbuild
// names these inputs `../main/node_modules/ws/...`, and a prefix match let a worktree's build pass
// what main's refused (a merge brought `ws` into the start bundle that way once).
const INLINED_FOR_UPGRADES = /(?:^|\/)node_modules\/(ws|http-proxy)\//;
for (const file of seen) {
  for (const input of Object.keys(metafile.outputs[file].inputs)) {
    const pkg = INLINED_FOR_UPGRADES.exec(input)?.[1];
    if (pkg !== undefined) loadedAtStart.push(`${pkg} (inlined in ${file}: reach it through src/proxy/websocket-modules.ts)`);
  }
}
if (loadedAtStart.length > 0) {
  console.error(`bundle-cli: ${[...new Set(loadedAtStart)].join(', ')} would load at every start; import it where it is first used (await import(...)), or inline it`);
  process.exit(1);
}
// localeCompare and Intl.Collator load ICU's collation data into the front's memory at their first
// call (2 MiB of its RSS, measured: docs/performance.md, "The idle RSS"); code loaded at every start
// sorts in code-point order, and compares version numbers as numbers (compareVersions).
const collating = [...seen].flatMap((file) => readFileSync(file, 'utf8').split('\n')
  .flatMap((text, i) => (/\.localeCompare\(|Intl\.Collator/.test(text) ? [`${file}:${i + 1}`] : [])));
if (collating.length > 0) {
  console.error(`bundle-cli: ICU's collation in code loaded at every start (${collating.join(', ')}): sort in code-point order instead`);
  process.exit(1);
}
// The checks above read the split; each of its chunks goes to one file of dist/cli whole, and the
// files every start loads take only chunks that a start, or a command, loaded already.
await mergeChunks({ root, split, out: join(root, 'dist', 'cli'), metafile, sourcemap: 'linked' });
