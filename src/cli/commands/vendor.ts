import path from 'node:path';
import type { CommandSpec, ParsedCommand } from '../args.js';
import { useStateRootProbeCache } from '../../environment/probe-cache.js';
import { displayDir, isUrl, vendorApp, DEFAULT_REQUIREMENTS, DEFAULT_VENDOR_DIR } from '../../lifecycle/vendor.js';

export const spec: CommandSpec = {
  name: 'vendor',
  summary:
    "Bundle an app's dependencies in a directory of the app (`paths: [vendor/]`), to commit with it: pip, run\n" +
    "by the app's own interpreter, installs the requirements there (`pip install --target`); console scripts go\n" +
    'to vendor/bin/, runnable from any checkout; vendor/.apppkg-vendor.json records each distribution, its\n' +
    'files, the requirements\' hash and the interpreter, for `check`. Versions already vendored are kept\n' +
    '(--update NAME frees one); what the requirements no longer need is removed. A compiled distribution is\n' +
    'refused, with its Debian package, unless --allow-binary. The same requirements and wheels give the same tree.\n' +
    "As root, pip (and what it builds) runs as the app's user (the environment file's user:, else the app\n" +
    "directory's owner), with that user's HOME and pip.conf.",
  usage: 'apppkg-gateway vendor [APP_DIR] [--from requirements.txt] [--into vendor/] [--environment FILE] [--index-url URL] [--extra-index-url URL]... [--find-links DIR]... [--no-index] [--allow-binary] [--update NAME]...',
  optionHelp: [
    ['--from FILE', `the requirements file, inside APP_DIR and relative to it (default ${DEFAULT_REQUIREMENTS})`],
    ['--into DIR', `the vendor directory, inside APP_DIR (default ${DEFAULT_VENDOR_DIR}/)`],
    ['-i, --index-url URL', "the package index instead of pip's default (pip --index-url), e.g. a mirror"],
    ['--extra-index-url URL', 'another package index to look in as well (pip --extra-index-url; repeatable)'],
    ['-f, --find-links DIR', 'also look for wheels and sdists in DIR (pip --find-links; repeatable)'],
    ['--no-index', 'use no package index, only --find-links: vendoring offline'],
    ['--allow-binary', 'keep distributions compiled for this interpreter and platform; check refuses other hosts'],
    ['--update NAME', 'let NAME move to the newest version allowed (the others keep theirs; repeatable)'],
    ['-e, --environment FILE', "the host's environment file: its python: picks the interpreter, as under --apps"],
  ],
  options: {
    from: { type: 'string' },
    into: { type: 'string' },
    'index-url': { type: 'string', short: 'i' },
    'extra-index-url': { type: 'string', multiple: true },
    'find-links': { type: 'string', multiple: true, short: 'f' },
    'no-index': { type: 'boolean' },
    'allow-binary': { type: 'boolean' },
    update: { type: 'string', multiple: true },
    environment: { type: 'string', short: 'e' },
  },
  allowPositionals: 1,
};

const GITIGNORE_ADVICE = [
  'note: commit {into} with the app, its manifest (.apppkg-vendor.json) and bin/ included: the app then',
  '      needs no virtualenv and no network where it is deployed. Keep Python\'s caches out; in .gitignore:',
  '          __pycache__/',
  '          *.pyc',
  '      (docs/vendor.md, "What to commit"; this note is shown the first time a directory is vendored)',
];

export async function run(args: ParsedCommand): Promise<number> {
  const dir = path.resolve(args.positionals[0] ?? '.');
  // A directory as the user typed it is relative to their shell, not to the app directory.
  // pip takes a directory laid out as an index for --index-url too.
  const where = (l: string) => (isUrl(l) ? l : path.resolve(l));
  const findLinks = ((args.values['find-links'] as string[] | undefined) ?? []).map(where);
  const indexUrl = args.values['index-url'] as string | undefined;
  // vendor writes into the app directory alone (it has no --state-dir): the default state root's
  // cache, or APPPKG_STATE_DIR's, spares its pick the probes, read only.
  useStateRootProbeCache(undefined, 'read-only');
  const result = await vendorApp({
    dir,
    from: args.values.from as string | undefined,
    into: args.values.into as string | undefined,
    findLinks,
    indexUrl: indexUrl === undefined ? undefined : where(indexUrl),
    extraIndexUrls: ((args.values['extra-index-url'] as string[] | undefined) ?? []).map(where),
    noIndex: args.values['no-index'] === true,
    allowBinary: args.values['allow-binary'] === true,
    update: (args.values.update as string[] | undefined) ?? [],
    environmentFile: args.values.environment as string | undefined,
    say: (line) => process.stdout.write(`${line}\n`),
  });
  const into = displayDir(dir, result.vendorDir);
  if (result.first) process.stdout.write(`${GITIGNORE_ADVICE.join('\n').replace('{into}', into)}\n`);
  if (result.onAppPath === false) process.stdout.write(`note: app.yaml's paths: does not name ${into}: add \`paths: [${into}]\` so that the app imports from it\n`);
  if (result.onAppPath === null) process.stdout.write(`note: no app.yaml in ${dir}: \`apppkg-gateway init\` writes one; give it \`paths: [${into}]\`\n`);
  if (result.pip !== null) process.stdout.write(`note: app.yaml also has \`pip: ${result.pip}\`, which builds a virtualenv at install: remove it once ${into} holds the requirements\n`);
  return 0;
}
