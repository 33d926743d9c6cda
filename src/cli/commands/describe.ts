import { resolve } from 'node:path';
import { APP_OPTIONS, APP_OPTION_HELP, type CommandSpec, type ParsedCommand } from '../args.js';
import { describeApp } from '../../app-context.js';
import { describeJson } from '../../description/describe.js';

export const spec: CommandSpec = {
  name: 'describe',
  summary: 'Print the normalised description of an app as JSON (what the gateway reads from app.yaml).',
  usage: 'apppkg-gateway describe [APP_DIR]',
  optionHelp: APP_OPTION_HELP.slice(0, 1),
  options: { environment: APP_OPTIONS.environment },
  allowPositionals: 1,
};

export async function run(args: ParsedCommand): Promise<number> {
  const { desc } = await describeApp({
    dir: resolve(args.positionals[0] ?? '.'),
    mode: 'development',
    environmentFile: args.values.environment as string | undefined,
  });
  process.stdout.write(`${JSON.stringify(describeJson(desc), null, 2)}\n`);
  return 0;
}
