import { resolve } from 'node:path';
import { APP_OPTIONS, APP_OPTION_HELP, type CommandSpec, type ParsedCommand } from '../args.js';
import { GatewayError } from '../../errors.js';
import { resolveApp } from '../../app-context.js';
import { runInAppEnvironment } from '../../lifecycle/run-command.js';

export const spec: CommandSpec = {
  name: 'run',
  summary:
    "Run any command in the app's environment: its interpreter as `python`, its sys.path, settings,\n" +
    'data/log/tmp directories, with the app directory as the working directory. Exits with its status.',
  usage: 'apppkg-gateway run APP_DIR [--environment FILE] -- CMD [ARGS...]',
  optionHelp: APP_OPTION_HELP,
  options: APP_OPTIONS,
  allowPositionals: 1,
  passThrough: true,
};

export async function run(args: ParsedCommand): Promise<number> {
  if (args.positionals.length === 0 || args.rest.length === 0) {
    throw new GatewayError('APPPKG_USAGE', { reason: 'expected APP_DIR -- CMD', command: 'run' });
  }
  const ctx = await resolveApp({
    dir: resolve(args.positionals[0]),
    mode: 'development',
    environmentFile: args.values.environment as string | undefined,
    stateDir: args.values['state-dir'] as string | undefined,
    settingsFromProcessEnv: true,
  });
  return runInAppEnvironment(ctx, { argv: args.rest });
}
