import { resolve } from 'node:path';
import { APP_OPTIONS, APP_OPTION_HELP, type CommandSpec, type ParsedCommand } from '../args.js';
import { resolveApp } from '../../app-context.js';
import { runInAppEnvironment } from '../../lifecycle/run-command.js';

export const spec: CommandSpec = {
  name: 'test',
  summary: "Run the app's commands.test in its environment; exits with the hook's status.",
  usage: 'apppkg-gateway test [APP_DIR]',
  optionHelp: APP_OPTION_HELP,
  options: APP_OPTIONS,
  allowPositionals: 1,
};

export async function run(args: ParsedCommand): Promise<number> {
  const ctx = await resolveApp({
    dir: resolve(args.positionals[0] ?? '.'),
    mode: 'development',
    environmentFile: args.values.environment as string | undefined,
    stateDir: args.values['state-dir'] as string | undefined,
    settingsFromProcessEnv: true,
  });
  const hook = ctx.desc.commands.test;
  if (!hook) {
    process.stderr.write(`apppkg-gateway: ${ctx.desc.name} has no commands.test\n  fix: add e.g. \`commands: {test: python -m unittest discover -s tests}\` to app.yaml\n`);
    return 1;
  }
  return runInAppEnvironment(ctx, { shell: hook });
}
