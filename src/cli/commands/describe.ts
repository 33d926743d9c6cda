import { APP_OPTIONS, APP_OPTION_HELP, appOptionNamesFor, type CommandSpec, type ParsedCommand } from '../args.js';
import { AppPackage } from '../../app-package.js';
import { useStateRootProbeCache } from '../../environment/probe-cache.js';

export const spec: CommandSpec = {
  name: 'describe',
  summary: 'Print the normalised description of an app as JSON (what the gateway reads from app.yaml).',
  usage: 'apppkg-gateway describe [APP_DIR] [--environment FILE] [--state-dir DIR] [--sys-path]',
  optionHelp: [
    ...APP_OPTION_HELP,
    [
      '--sys-path',
      'add "executable" (the program that runs the app\'s Python) and "sysPath" (what goes first on its sys.path); creates nothing on disk',
    ],
  ],
  options: { ...APP_OPTIONS, 'sys-path': { type: 'boolean' } },
  allowPositionals: 1,
};

export async function run(args: ParsedCommand): Promise<number> {
  // --sys-path picks the interpreter, and creates nothing on disk: the probe cache is read only.
  useStateRootProbeCache(args.values['state-dir'] as string | undefined, 'read-only');
  const app = await AppPackage.open(args.positionals[0] ?? '.', {
    environment: args.values.environment as string | undefined,
    stateDir: args.values['state-dir'] as string | undefined,
    optionNames: appOptionNamesFor('describe'),
  });
  const printed = { ...app.description };
  // For the Python library (python-shim/apppkg) outside the app's processes: it has no YAML
  // parser, so it asks here. Not "python": that key is already the description's specifier.
  if (args.values['sys-path'] === true) Object.assign(printed, await app.pythonPaths());
  process.stdout.write(`${JSON.stringify(printed, null, 2)}\n`);
  return 0;
}
