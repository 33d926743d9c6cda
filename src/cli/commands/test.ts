import { APP_OPTIONS, APP_OPTION_HELP, appOptionNamesFor, commandLineAgain, type CommandSpec, type ParsedCommand } from '../args.js';
import { AppPackage } from '../../app-package.js';
import { useStateRootProbeCache } from '../../environment/probe-cache.js';

export const spec: CommandSpec = {
  name: 'test',
  summary: "Run the app's commands.test in its environment (as root, as the app's user): exit 0 when it passes, 1 when it fails (its status said).",
  usage: 'apppkg-gateway test [APP_DIR] [--environment FILE] [--state-dir DIR]',
  optionHelp: APP_OPTION_HELP,
  options: APP_OPTIONS,
  allowPositionals: 1,
};

export async function run(args: ParsedCommand): Promise<number> {
  useStateRootProbeCache(args.values['state-dir'] as string | undefined, 'read-write');
  const app = await AppPackage.open(args.positionals[0] ?? '.', {
    environment: args.values.environment as string | undefined,
    stateDir: args.values['state-dir'] as string | undefined,
    // A fix that gives it an environment file says this command line again, --state-dir kept.
    optionNames: { ...appOptionNamesFor('test'), startedAs: commandLineAgain(spec.name, args, ['environment']) },
  });
  const status = await app.runCommand('test');
  if (status === 0) return 0;
  // SPEC §3: 1 when the command ran and failed; 2 is bad usage, which a suite exiting 2
  // (pytest interrupted) or 4 (pytest's own usage error) is not.
  process.stderr.write(`apppkg-gateway: commands.test of ${app.name} failed (exit status ${status})\n`);
  return 1;
}
