// The CLI bundle's second pass: esbuild's split joined into a few files per run. esbuild puts
// each module in the chunk of the set of entry points (the CLI and every import() target) that
// reach it; with 19 commands and the parts loaded at first use, a gateway's start loaded 42
// chunks with 148 imports between them, and Node resolving, reading, compiling and linking each
// file cost more than their code (42 empty modules with those imports: ~60 ms of CPU, against
// ~11 ms for one; docs/performance.md, "The one-file CLI").
//
// Each chunk of the split is given to exactly one file here (TIERS in order, first claim wins;
// a chunk none claims keeps a file of its own), and esbuild bundles each file's chunks together
// again, as the modules they are: so every module still has one instance in a process, its
// state included (stdio, debug-signal, caches, registries), which mergeChunks asserts. An import
// of a chunk from another file becomes an import of that file, whose exports are its chunks'.
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

// The CommonJS packages inlined (http-proxy, tree-kill) call require() for Node's modules.
const BANNER = "import { createRequire as __bundleRequire } from 'node:module';\nconst require = __bundleRequire(import.meta.url);";

const commands = (...names) => names.map((name) => `src/cli/commands/${name}.ts`);
// The commands that read an app's description, and those that ask a running gateway.
const APP_COMMANDS = commands('describe', 'check', 'run', 'install', 'test');
const ADMIN_COMMANDS = commands('status', 'logs', 'restart', 'rollback');
// What a gateway's start loads: its command, the proxy's front (import()ed as it binds), and
// `serve`, which runs the same machinery for one app.
const RUNNING = [...commands('gateway', 'serve'), 'src/proxy/front.ts'];

/**
 * The files, in the order they claim chunks. A tier's code is loaded whole by anything that
 * needs a chunk of it, so each is what its users share: what the admin commands share with the
 * others goes to the core (a few KiB), not to the description's 600 KiB. Each command's own
 * chunk keeps a file: they all export `spec` and `run` (the gateway's its spec's too).
 */
const TIERS = ({ closure, entryChunk, all, common, without }) => {
  const admin = all(ADMIN_COMMANDS.map(closure));
  const app = all(APP_COMMANDS.map(closure));
  const running = all(RUNNING.map(closure));
  return [
    // main.js stays the entry alone: its name does not change with its content, so no chunk may
    // take names from it. `--help` prints the gateway's options too (commands/gateway-spec.ts).
    { name: 'main.js', chunks: [entryChunk('src/cli/main.ts')] },
    { name: 'core', chunks: all([closure('src/cli/main.ts'), without(closure('src/cli/commands/gateway-spec.ts'), [entryChunk('src/cli/commands/gateway-spec.ts')]), common(admin, all([app, running]))]) },
    { name: 'app', chunks: common(app, running) },
    { name: 'running', chunks: without(running, commands('gateway', 'serve').map(entryChunk)) },
    { name: 'app-commands', chunks: without(app, APP_COMMANDS.map(entryChunk)) },
    { name: 'admin-client', chunks: without(admin, ADMIN_COMMANDS.map(entryChunk)) },
  ];
};

/**
 * Rebuilds esbuild's split output in SPLIT (its METAFILE) as fewer files in OUT: main.js, the
 * tiers' files, and every chunk no tier claims. Throws when a file would export one name twice
 * or when files would import each other in a cycle (a tier joined chunks that must stay apart).
 */
export async function mergeChunks({ root, split, out, metafile, sourcemap }) {
  const jsOutputs = Object.fromEntries(Object.entries(metafile.outputs).filter(([file]) => file.endsWith('.js')));
  const chunkPath = (file) => join(root, file);
  const chunkOf = new Map(Object.entries(jsOutputs).filter(([, o]) => o.entryPoint).map(([file, o]) => [o.entryPoint, file]));
  const entryChunk = (source) => {
    if (!chunkOf.has(source)) throw new Error(`merge-chunks: ${source} is not a file of its own in the split; update TIERS`);
    return chunkOf.get(source);
  };
  const closure = (source) => {
    const seen = new Set();
    const walk = (file) => {
      if (seen.has(file)) return;
      seen.add(file);
      for (const i of jsOutputs[file].imports) if (i.kind === 'import-statement' && !i.external) walk(i.path);
    };
    walk(entryChunk(source));
    return seen;
  };
  const all = (sets) => new Set(sets.flatMap((set) => [...set]));
  const common = (a, b) => new Set([...a].filter((file) => b.has(file)));
  const without = (set, files) => new Set([...set].filter((file) => !files.includes(file)));

  // The group each chunk goes to, by its name (a tier's, or the chunk's own path in the split).
  const groupOf = new Map();
  const groups = new Map();
  const claim = (name, chunks) => {
    const mine = [...chunks].filter((chunk) => !groupOf.has(chunk)).sort();
    if (mine.length === 0) return;
    for (const chunk of mine) groupOf.set(chunk, name);
    groups.set(name, mine);
  };
  for (const tier of TIERS({ closure, entryChunk, all, common, without })) claim(tier.name, tier.chunks);
  for (const chunk of Object.keys(jsOutputs)) claim(relative(split, chunkPath(chunk)), [chunk]);

  // Each file is named by what it is made of, and what it imports (import() too) is made of, as
  // esbuild names chunks: an upgrade in place replaces the files while a gateway runs, and one
  // that loads a file later must find the code it was built with under that name, or no file at
  // all, never a file that imports a second copy of modules it has loaded already.
  const linked = (name) => new Set(groups.get(name).flatMap((chunk) => jsOutputs[chunk].imports
    .filter((i) => !i.external && i.path.endsWith('.js')).map((i) => groupOf.get(i.path))));
  const reached = (name) => {
    const seen = new Set([name]);
    for (const g of seen) for (const next of linked(g)) if (next !== 'main.js') seen.add(next);
    return seen;
  };
  const takingFromMain = [...groups.keys()].filter((name) => name !== 'main.js' && linked(name).has('main.js'));
  if (takingFromMain.length > 0) throw new Error(`merge-chunks: ${takingFromMain.join(', ')} import from main.js; move what they take out of src/cli/main.ts`);
  const fileOf = new Map();
  const members = new Map();
  for (const [name, chunks] of groups) {
    const madeOf = [...reached(name)].flatMap((g) => groups.get(g).map((chunk) => `${g}:${relative(split, chunkPath(chunk))}`)).sort();
    const digest = createHash('sha256').update([name, ...madeOf].join('\n')).digest('hex').slice(0, 8).toUpperCase();
    const file = name === 'main.js' ? name : `chunks/${name.replace(/^chunks\/(.*)-[A-Z0-9]{8}\.js$/, '$1')}-${digest}.js`;
    for (const chunk of chunks) fileOf.set(chunk, file);
    members.set(file, chunks);
  }

  for (const [file, chunks] of members) {
    const names = chunks.flatMap((chunk) => jsOutputs[chunk].exports);
    const twice = names.filter((name, i) => names.indexOf(name) !== i);
    if (chunks.length > 1 && twice.length > 0) {
      throw new Error(`merge-chunks: ${file} would export ${[...new Set(twice)].join(', ')} from two of its chunks (${chunks.join(', ')}); take one out of its tier in scripts/merge-chunks.mjs`);
    }
  }
  const importsOf = (file) => new Set(members.get(file).flatMap((chunk) => jsOutputs[chunk].imports
    .filter((i) => i.kind === 'import-statement' && !i.external).map((i) => fileOf.get(i.path)).filter((other) => other !== file)));
  const cycle = findCycle([...members.keys()], importsOf);
  if (cycle) throw new Error(`merge-chunks: the files would import each other in a cycle (${cycle.join(' -> ')}); change TIERS in scripts/merge-chunks.mjs`);

  const bySplitPath = new Map([...fileOf].map(([chunk, file]) => [chunkPath(chunk), file]));
  const outputs = await Promise.all([...members].map(async ([file, chunks]) => {
    const here = dirname(join(out, file));
    const linkTo = (target) => {
      const path = relative(here, join(out, target));
      return path.startsWith('.') ? path : `./${path}`;
    };
    const rewire = {
      name: 'rewire',
      setup(b) {
        b.onResolve({ filter: /^\./ }, (args) => {
          const target = resolve(args.resolveDir, args.path);
          const owner = bySplitPath.get(target);
          if (owner === undefined) return undefined;
          // import() stays one, of the file that holds its chunk now (its namespace: the
          // chunk's exports, and the others' of that file).
          if (args.kind === 'dynamic-import' || owner !== file) return { path: linkTo(owner), external: true };
          return { path: target };
        });
      },
    };
    const only = chunks.length === 1;
    const result = await build({
      absWorkingDir: root,
      ...(only
        ? { entryPoints: [chunkPath(chunks[0])] }
        : {
            stdin: {
              contents: chunks.map((chunk) => `export * from ${JSON.stringify(`./${relative(split, chunkPath(chunk))}`)};`).join('\n'),
              resolveDir: split,
              sourcefile: `merged:${file}`,
              loader: 'js',
            },
          }),
      outfile: join(out, file),
      allowOverwrite: true,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      // What the split left outside (undici, pg, ...) stays outside.
      packages: 'external',
      plugins: [rewire],
      banner: { js: BANNER },
      sourcemap,
      legalComments: 'none',
      logLevel: 'warning',
      metafile: true,
    });
    return [file, result.metafile];
  }));

  // One instance of every module: each module of the split in exactly one file.
  const where = new Map();
  for (const [file, meta] of outputs) {
    for (const input of Object.keys(meta.inputs)) {
      if (input.startsWith('merged:')) continue;
      if (!chunkPath(input).startsWith(split)) throw new Error(`merge-chunks: ${file} took in ${input}, which the split had left outside`);
      if (where.has(input)) throw new Error(`merge-chunks: ${input} is in both ${where.get(input)} and ${file}`);
      where.set(input, file);
    }
  }
  const lost = Object.keys(jsOutputs).filter((chunk) => !where.has(chunk));
  if (lost.length > 0) throw new Error(`merge-chunks: ${lost.join(', ')} went into no file`);
  rmSync(split, { recursive: true, force: true });
  return fileOf;
}

/** A cycle among NODES by EDGES (a node -> the nodes it imports), or undefined. */
function findCycle(nodes, edges) {
  const state = new Map();
  const path = [];
  const visit = (node) => {
    if (state.get(node) === 'done') return undefined;
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node];
    state.set(node, 'open');
    path.push(node);
    for (const next of edges(node)) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, 'done');
    return undefined;
  };
  for (const node of nodes) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}
