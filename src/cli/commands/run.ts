import { APP_OPTIONS, APP_OPTION_HELP, APP_OPTION_NAMES, type CommandSpec, type ParsedCommand } from '../args.js';
import { AppPackage } from '../../app-package.js';
import { GatewayError } from '../../errors.js';
import { useStateRootProbeCache } from '../../environment/probe-cache.js';

export const spec: CommandSpec = {
  name: 'run',
  summary:
    "Run any command in the app's environment: its interpreter as `python`, its sys.path, settings,\n" +
    'data/log/tmp directories, with the app directory as the working directory. Your own environment\n' +
    "is passed on beneath the app's variables. As root, it runs as the app's user, as the app does.\n" +
    'Exits with its status (127 when it is not there, 126 when it is not executable, as a shell does, saying\n' +
    "why: a name not on the app's PATH, a path with no file from the app directory); what it started and left\n" +
    'running is ended then (SIGTERM, SIGKILL 3 s later).',
  usage: 'apppkg-gateway run APP_DIR [--environment FILE] [--state-dir DIR] -- CMD [ARGS...]',
  optionHelp: APP_OPTION_HELP,
  options: APP_OPTIONS,
  allowPositionals: 1,
  passThrough: true,
};

export async function run(args: ParsedCommand): Promise<number> {
  if (args.positionals.length === 0 || args.rest.length === 0) {
    // Said of what is missing, as backup's --to is.
    const missing = args.positionals.length === 0 ? 'APP_DIR, the app' : 'CMD, the command to run after --';
    throw new GatewayError('APPPKG_USAGE', {
      reason: `expected APP_DIR -- CMD, found no ${missing}`,
      command: 'run',
      fix: 'write e.g. `apppkg-gateway run /var/apps/blog -- python manage.py migrate`',
    });
  }
  useStateRootProbeCache(args.values['state-dir'] as string | undefined, 'read-write');
  const app = await AppPackage.open(args.positionals[0], {
    environment: args.values.environment as string | undefined,
    stateDir: args.values['state-dir'] as string | undefined,
    optionNames: APP_OPTION_NAMES,
  });
  return app.run(args.rest);
}
