import { APP_OPTIONS, APP_OPTION_HELP, appOptionNamesFor, commandLineAgain, type CommandSpec, type ParsedCommand } from '../args.js';
import { AppPackage } from '../../app-package.js';
import { useStateRootProbeCache } from '../../environment/probe-cache.js';
import { isGatewayError } from '../../errors.js';
import { hangingLines } from '../../log/hanging-lines.js';

export const spec: CommandSpec = {
  name: 'install',
  summary:
    "Set up an app's dependencies, then run its commands.install: the deb packages (apt-get install -y\n" +
    'of the missing ones with --system, as root), a virtualenv for `pip:` under the state root built\n' +
    "from the app's files and the index or find-links the host's pip configuration names (offline\n" +
    'when it names none; reused while the requirements and interpreter are unchanged; as root,\n' +
    "built by the app's user, as the gateway builds it). One line\n" +
    'per step with its duration; pip\'s and apt\'s output streamed. Before commands.install, the app\'s\n' +
    'services (services: in app.yaml): its database and role, its Redis user, their passwords kept\n' +
    'under the state root (a later install changes nothing). Exits 1 when a step fails.',
  usage: 'apppkg-gateway install [APP_DIR] [--system] [--rebuild] [--environment FILE] [--state-dir DIR]',
  optionHelp: [
    ['--system', 'as root: apt-get install -y the deb packages that are missing'],
    ['--rebuild', 'build a new virtualenv even when the requirements did not change'],
    ...APP_OPTION_HELP,
  ],
  options: { ...APP_OPTIONS, system: { type: 'boolean' }, rebuild: { type: 'boolean' } },
  allowPositionals: 1,
};

export async function run(args: ParsedCommand): Promise<number> {
  // Install makes the state root: the interpreters' answers are kept there, as run and a gateway keep them.
  useStateRootProbeCache(args.values['state-dir'] as string | undefined, 'read-write');
  // Not a step: a directory that is no app is said on stderr, as every command says it.
  const app = await AppPackage.open(args.positionals[0] ?? '.', {
    environment: args.values.environment as string | undefined,
    stateDir: args.values['state-dir'] as string | undefined,
    // A fix that gives it an environment file says this command line again, --state-dir kept.
    optionNames: { ...appOptionNamesFor('install'), startedAs: commandLineAgain(spec.name, args, ['environment']) },
  });
  try {
    await app.install({
      system: args.values.system === true,
      rebuild: args.values.rebuild === true,
      onStep: (line) => process.stdout.write(`${line}\n`),
    });
    return 0;
  } catch (err) {
    // A failed step ends the step log as `check` reports one: FAIL, its place when a key of
    // app.yaml or the environment file decided it (`python:`), then the fix. The files were read
    // before the steps (AppPackage.open): a description's problems only pass through here.
    if (!isGatewayError(err) || err.problems.length > 0) throw err;
    process.stdout.write(`FAIL  ${hangingLines(err.placedMessage, '      ').join('\n')}\n      fix: ${err.hint}\n`);
    return err.exitStatus;
  }
}
