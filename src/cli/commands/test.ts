import { APP_OPTIONS, APP_OPTION_HELP, type CommandSpec, type ParsedCommand } from '../args.js';
import { AppPackage } from '../../app-package.js';

export const spec: CommandSpec = {
  name: 'test',
  summary: "Run the app's commands.test in its environment; exits with the hook's status.",
  usage: 'apppkg-gateway test [APP_DIR] [--environment FILE] [--state-dir DIR]',
  optionHelp: APP_OPTION_HELP,
  options: APP_OPTIONS,
  allowPositionals: 1,
};

export async function run(args: ParsedCommand): Promise<number> {
  const app = await AppPackage.open(args.positionals[0] ?? '.', {
    environment: args.values.environment as string | undefined,
    stateDir: args.values['state-dir'] as string | undefined,
  });
  return app.runCommand('test');
}
