import { APP_OPTIONS, APP_OPTION_HELP, type CommandSpec, type ParsedCommand } from '../args.js';
import { GatewayError } from '../../errors.js';
import { useStateRootProbeCache } from '../../environment/probe-cache.js';
import { restoreApp } from '../../lifecycle/restore.js';
import { withAppOptions } from '../fix-options.js';

export const spec: CommandSpec = {
  name: 'restore',
  summary:
    "Restore an app from a backup: its commands.restore with APPPKG_BACKUP_DIR=DIR; without the hook, its\n" +
    'data directory replaced by the copy a `backup` wrote. Either way an empty DIR, or one that is not a\n' +
    'backup of this app, is refused and nothing changes. The app\'s database (services.database) and Redis keys\n' +
    'are replaced by the backup\'s, whatever they hold now. Stop the app first. As root,\n' +
    'DIR is given to the app\'s user for commands.restore, which runs as that user.',
  usage: 'apppkg-gateway restore APP_DIR --from DIR [--force] [--environment FILE] [--state-dir DIR]',
  optionHelp: [
    ['--from DIR', 'a directory written by `apppkg-gateway backup APP_DIR --to DIR`'],
    ['--force', 'changes nothing: restore replaces the database and Redis keys without it (kept so that scripts passing it still run)'],
    ...APP_OPTION_HELP,
  ],
  options: { ...APP_OPTIONS, from: { type: 'string' }, force: { type: 'boolean' } },
  allowPositionals: 1,
  // run() says what an empty --from misses, with APP_DIR's absence.
  refusesEmpty: ['from'],
};

export async function run(args: ParsedCommand): Promise<number> {
  const from = args.values.from;
  if (args.positionals.length === 0 || typeof from !== 'string' || from === '') {
    // Said of what is missing: "expected APP_DIR --from DIR" left the user to find which.
    const missing = args.positionals.length === 0 ? 'APP_DIR, the app' : '--from DIR, the directory `backup --to` wrote';
    throw new GatewayError('APPPKG_USAGE', {
      reason: `expected APP_DIR --from DIR, found no ${missing}${from === '' ? ` (--from was given "")` : ''}`,
      command: 'restore',
      fix: 'write e.g. `apppkg-gateway restore /var/apps/blog --from /var/backups/blog-2026-11-24`',
    });
  }
  // Restore writes the app's state into the root: its cache is kept there too.
  useStateRootProbeCache(args.values['state-dir'] as string | undefined, 'read-write');
  await withAppOptions(args.values, () => restoreApp({
    dir: args.positionals[0],
    from,
    environmentFile: args.values.environment as string | undefined,
    stateDir: args.values['state-dir'] as string | undefined,
    say: (line) => process.stdout.write(`${line}\n`),
  }));
  return 0;
}
