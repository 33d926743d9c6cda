import { APP_OPTIONS, APP_OPTION_HELP, type CommandSpec, type ParsedCommand } from '../args.js';
import { GatewayError } from '../../errors.js';
import { useStateRootProbeCache } from '../../environment/probe-cache.js';
import { backupApp } from '../../lifecycle/backup.js';

export const spec: CommandSpec = {
  name: 'backup',
  summary:
    "Back up an app: its commands.backup with APPPKG_BACKUP_DIR=DIR (DIR created if missing); without the\n" +
    'hook, a copy of its data directory into DIR/data. Either way DIR/apppkg-backup.json, which restore\n' +
    'checks, marks it as the app\'s backup. Beside it, its services\' data (services: in app.yaml) in\n' +
    'DIR/database/: a pg_dump of its PostgreSQL database or an online backup of its SQLite one, and\n' +
    'its Redis keys. As root, the hook runs as the app\'s user, DIR given to it; once the hook has exited,\n' +
    'DIR is root\'s again (mode 0700) before the gateway writes there.',
  usage: 'apppkg-gateway backup APP_DIR --to DIR [--environment FILE] [--state-dir DIR]',
  optionHelp: [['--to DIR', "the backup directory, outside the app's data directory: new, empty, or an earlier backup of the same app"], ...APP_OPTION_HELP],
  options: { ...APP_OPTIONS, to: { type: 'string' } },
  allowPositionals: 1,
  // run() says what an empty --to misses, with APP_DIR's absence.
  refusesEmpty: ['to'],
};

export async function run(args: ParsedCommand): Promise<number> {
  const to = args.values.to;
  if (args.positionals.length === 0 || typeof to !== 'string' || to === '') {
    // Said of what is missing: "expected APP_DIR --to DIR" left the user to find which.
    const missing = args.positionals.length === 0 ? 'APP_DIR, the app' : '--to DIR, where the backup goes';
    throw new GatewayError('APPPKG_USAGE', {
      reason: `expected APP_DIR --to DIR, found no ${missing}${to === '' ? ` (--to was given "")` : ''}`,
      command: 'backup',
      fix: 'write e.g. `apppkg-gateway backup /var/apps/blog --to /var/backups/blog-$(date +%F)`',
    });
  }
  // Read-only: a backup writes into --to and reads the app's state; a root it only reads (the
  // wrong one, sudo or not, of an app that never ran there) must not be made for a cache.
  useStateRootProbeCache(args.values['state-dir'] as string | undefined, 'read-only');
  await backupApp({
    dir: args.positionals[0],
    to,
    environmentFile: args.values.environment as string | undefined,
    stateDir: args.values['state-dir'] as string | undefined,
    say: (line) => process.stdout.write(`${line}\n`),
  });
  return 0;
}
