import { APP_OPTIONS, APP_OPTION_HELP, appOptionNamesFor, commandLineAgain, commandRestAgain, type CommandSpec, type ParsedCommand } from '../args.js';
import { AppPackage } from '../../app-package.js';
import { closest } from '../../closest.js';
import { listOf } from '../../count.js';
import { COMMAND_NAMES, type CommandName } from '../../description/types.js';
import { GatewayError } from '../../errors.js';
import { useStateRootProbeCache } from '../../environment/probe-cache.js';
import { shellWord } from '../../shell-words.js';

export const spec: CommandSpec = {
  name: 'run',
  summary:
    "Run any command in the app's environment: its interpreter as `python`, its sys.path, settings,\n" +
    'data/log/tmp directories, with the app directory as the working directory. Your own environment\n' +
    "is passed on beneath the app's variables. As root, it runs as the app's user, as the app does.\n" +
    'Exits with its status (127 when it is not there, 126 when it is not executable, as a shell does, saying\n' +
    "why: a name not on the app's PATH, a path with no file from the app directory); what it started and left\n" +
    'running is ended then (SIGTERM, SIGKILL 3 s later).\n' +
    "With --command NAME, app.yaml's commands.NAME instead, as the library's AppPackage.runCommand(NAME)\n" +
    "runs it (Python's run_command calls this): test and check in development; install, update and\n" +
    "uninstall as the gateway runs its hooks, APPPKG_ENV=production and as root the app's user; exits\n" +
    'with its status. backup and restore need their directory: `backup --to`, `restore --from`.',
  usage: 'apppkg-gateway run APP_DIR [--environment FILE] [--state-dir DIR] (-- CMD [ARGS...] | --command NAME)',
  optionHelp: [['--command NAME', "run commands.NAME of app.yaml (install, update, check, uninstall, test) as AppPackage.runCommand does, not a CMD after --"], ...APP_OPTION_HELP],
  options: { ...APP_OPTIONS, command: { type: 'string' } },
  allowPositionals: 1,
  passThrough: true,
};

export async function run(args: ParsedCommand): Promise<number> {
  const named = args.values.command as string | undefined;
  if (named !== undefined && args.rest.length > 0) {
    throw new GatewayError('APPPKG_USAGE', {
      reason: `expected either --command NAME or -- CMD, found both (--command ${named}, then -- ${args.rest.join(' ')})`,
      command: 'run',
      fix: `write \`apppkg-gateway run APP_DIR --command ${named}\` for commands.${named} of app.yaml, or \`apppkg-gateway run APP_DIR -- ${args.rest.join(' ')}\` for that command line`,
    });
  }
  if (args.positionals.length === 0 || (named === undefined && args.rest.length === 0)) {
    // Said of what is missing, as backup's --to is.
    const missing = args.positionals.length === 0 ? 'APP_DIR, the app' : 'CMD, the command to run after -- (or --command NAME)';
    throw new GatewayError('APPPKG_USAGE', {
      reason: `expected APP_DIR -- CMD, found no ${missing}`,
      command: 'run',
      fix: 'write e.g. `apppkg-gateway run /var/apps/blog -- python manage.py migrate`, or `apppkg-gateway run /var/apps/blog --command install`',
    });
  }
  useStateRootProbeCache(args.values['state-dir'] as string | undefined, 'read-write');
  const app = await AppPackage.open(args.positionals[0], {
    environment: args.values.environment as string | undefined,
    stateDir: args.values['state-dir'] as string | undefined,
    // A fix that gives it an environment file says this command line again, --state-dir kept and
    // the file's option before `-- CMD`.
    optionNames: { ...appOptionNamesFor('run'), startedAs: commandLineAgain(spec.name, args, ['environment'], false), startedAsRest: commandRestAgain(args) },
  });
  if (named === undefined) return app.run(args.rest);
  return app.runCommand(commandNamed(app, named, args));
}

/** `--command NAME` checked before anything runs: a key of commands: this CLI can give all it needs. */
function commandNamed(app: AppPackage, named: string, args: ParsedCommand): CommandName {
  const have = Object.keys(app.description.commands);
  const dir = shellWord(args.positionals[0]);
  if (!(COMMAND_NAMES as readonly string[]).includes(named)) {
    const near = closest(named, COMMAND_NAMES);
    const has = have.length === 0 ? 'no commands' : listOf(have.map((name) => `commands.${name}`));
    const example = near !== undefined && have.includes(near) ? near : have[0];
    throw new GatewayError('APPPKG_USAGE', {
      reason: `--command: expected a key of app.yaml's commands: (${COMMAND_NAMES.join(', ')}), found ${JSON.stringify(named)}${near ? ` (did you mean ${near}?)` : ''}; ${app.name} has ${has}`,
      command: 'run',
      fix: `name one of its commands${example === undefined ? '' : `, e.g. --command ${example}`}; any other command line goes after --: \`apppkg-gateway run ${dir} -- ${shellWord(named)} ...\``,
    });
  }
  // runCommand's refusal names options.env, which the CLI has no way to give. An app without
  // the hook is told what runCommand tells it (hooklessBackupFix): the command that needs none.
  if ((named === 'backup' || named === 'restore') && have.includes(named)) {
    throw new GatewayError('APPPKG_USAGE', {
      reason: `--command ${named}: commands.${named} needs its directory, APPPKG_BACKUP_DIR, which run gives no command`,
      command: 'run',
      fix: `run \`apppkg-gateway ${named} ${dir} ${named === 'backup' ? '--to' : '--from'} DIR\`, which also ${named === 'backup' ? "checks DIR, dumps the app's database and Redis keys beside the hook's files and marks the backup" : "checks that DIR is a backup of this app and loads its database and Redis keys first"}`,
    });
  }
  return named as CommandName;
}
