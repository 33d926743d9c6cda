import { createInterface } from 'node:readline/promises';
import { APP_OPTIONS, APP_OPTION_HELP, type CommandSpec, type ParsedCommand } from '../args.js';
import { GatewayError } from '../../errors.js';
import { useStateRootProbeCache } from '../../environment/probe-cache.js';
import { uninstallApp } from '../../lifecycle/uninstall.js';
import { withAppOptions } from '../fix-options.js';

export const spec: CommandSpec = {
  name: 'uninstall',
  summary:
    "Uninstall an app: its commands.uninstall, then its data, logs, tmp, virtualenv and run helpers are\n" +
    'removed with its whole state directory, and its services\' database and role, Redis user and keys\n' +
    'are dropped. The app directory is left as it is. As root, what the app\'s user owns there is\n' +
    'removed as that user. Asks first when\n' +
    'stdin is a terminal (--yes does not ask); without one, as in a script, it goes ahead.',
  usage: 'apppkg-gateway uninstall APP_DIR [--yes] [--environment FILE] [--state-dir DIR]',
  optionHelp: [['-y, --yes', 'do not ask on a terminal either'], ...APP_OPTION_HELP],
  options: { ...APP_OPTIONS, yes: { type: 'boolean', short: 'y' } },
  allowPositionals: 1,
};

export async function run(args: ParsedCommand): Promise<number> {
  if (args.positionals.length === 0) {
    throw new GatewayError('APPPKG_USAGE', { reason: 'expected APP_DIR (uninstall never guesses the app)', command: 'uninstall' });
  }
  const yes = args.values.yes === true;
  // Its hook runs only where the app's state is, in a root that exists: its cache is kept there.
  useStateRootProbeCache(args.values['state-dir'] as string | undefined, 'read-write');
  await withAppOptions(args.values, () => uninstallApp({
    dir: args.positionals[0],
    environmentFile: args.values.environment as string | undefined,
    stateDir: args.values['state-dir'] as string | undefined,
    say: (line) => process.stdout.write(`${line}\n`),
    confirm: async ({ name, stateDir }) => {
      if (yes) return true;
      // SPEC 3's `uninstall APP_DIR` removes; a script has no one to ask. The question is
      // for a person at a terminal, who may have named the wrong directory.
      if (!process.stdin.isTTY) return true;
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      try {
        process.stderr.write(`apppkg-gateway: uninstall removes ${stateDir}\n`);
        const answer = await rl.question(`remove the data, logs, tmp and virtualenv of ${name}? [y/N] `);
        return /^\s*y(es)?\s*$/i.test(answer);
      } finally {
        rl.close();
      }
    },
  }));
  return 0;
}
