// `apppkg-gateway logs NAME [-f]`: the last lines of an app's log (its stdout and stderr, as
// the gateway keeps them), from the running gateway's admin listener, and with -f what is
// appended, written out as it arrives so that `logs blog -f | grep ERROR` works (issue 14).
// A gateway that goes away while followed (a restart, an upgrade) is waited for, and the log
// followed again from where it was left when it is back.
import { ADMIN_OPTION_HELP, ADMIN_OPTIONS, AdminClient } from '../admin-client.js';
import { commandLineAgain, intOption, type CommandSpec, type ParsedCommand } from '../args.js';
import { GatewayAway } from '../gateway-away.js';
import { LOG_POSITION_HEADER, parseLogPosition } from '../../admin/log-follow.js';
import { GatewayError } from '../../errors.js';
import { shellLine } from '../../shell-words.js';

export const spec: CommandSpec = {
  name: 'logs',
  summary: "An app's log (its processes' stdout and stderr) from a running gateway; -f follows it.",
  usage: 'apppkg-gateway logs NAME [-f|--follow] [--lines N] [--admin ADDR] [--admin-token FILE] [--state-dir DIR]',
  optionHelp: [
    ['-f, --follow', 'keep printing what the app writes, until Ctrl-C; a gateway that restarts is waited for (tried every second; given no --admin, at the address STATE/admin.address names at that try, as tail -F opens a file by its name again) and the log followed again from where it was left; a rotated admin token ends it (exit 1)'],
    ['-n, --lines N', 'how many of the last lines to print first (default 100, at most 10000)'],
    ...ADMIN_OPTION_HELP,
  ],
  options: { ...ADMIN_OPTIONS, follow: { type: 'boolean', short: 'f' }, lines: { type: 'string', short: 'n' } },
  allowPositionals: 1,
};

/** The admin listener's own bound (docs/admin.md): asked for more, it would answer fewer. */
const MAX_LINES = 10_000;

export async function run(args: ParsedCommand): Promise<number> {
  const name = args.positionals[0];
  if (name === undefined) {
    throw new GatewayError('APPPKG_USAGE', { reason: 'expected NAME, the app whose log to print', command: spec.name });
  }
  const lines = Math.min(intOption(args.values.lines, '--lines', 0, spec.name, 100) ?? 100, MAX_LINES);
  const client = AdminClient.fromOptions(args.values, shellLine(['logs', name, ...(args.values.follow ? ['-f'] : [])]), commandLineAgain(spec.name, args, ['admin-token']));
  const path = `/apps/${encodeURIComponent(name)}/log?lines=${lines}`;
  try {
    if (args.values.follow) {
      await follow(client, name, lines);
      return 0;
    }
    // A reader that leaves early (`logs blog | head -1`) is not a failure.
    process.stdout.on('error', () => {});
    const { text, headers } = await client.textAnswer(path, { app: name, timeoutMs: 30_000 });
    process.stdout.write(text);
    if (text === '' && lines > 0) {
      // Printing nothing looks like output still to come: say the log is empty, and which file it is.
      const file = await client.status().then((s) => s.apps.find((a) => a.name === name)?.log.file, () => undefined);
      const named = `the log of ${name}${file ? `, ${file},` : ''}`;
      // The gateway names the file it read (Apppkg-Log-Position); none read, there is none: an
      // app's log is made as it starts, so it was removed, and the app writes on into the removed
      // file, which "the app has written nothing yet" hid.
      const read = headers[LOG_POSITION_HEADER.toLowerCase()] !== undefined;
      process.stderr.write(read
        ? `apppkg-gateway: ${named} is empty: the app has written nothing to its stdout or stderr yet (\`apppkg-gateway logs ${name} -f\` waits for what it writes)\n`
        : `apppkg-gateway: ${named} is not there: it was removed, and what the app writes goes into the removed file until the gateway opens the log again: send it SIGUSR1 (systemctl kill -s USR1 apppkg-gateway), as after logrotate\n`);
    }
    return 0;
  } finally {
    await client.close();
  }
}

/**
 * Follows the app's log until Ctrl-C, across restarts of the gateway, as `tail -F` follows a
 * file: once the gateway is back, the log goes on from where it was left when it is still the
 * same file (what the app wrote meanwhile, its start in the new gateway, is shown; nothing is
 * shown twice); a log rotated or started anew meanwhile, or a gateway that cannot say where
 * its answer starts (an older one), is followed from its end, and the line on stderr says so.
 */
async function follow(client: AdminClient, name: string, lines: number): Promise<void> {
  const base = `/apps/${encodeURIComponent(name)}/log`;
  const away = new GatewayAway(client);
  /** Where what was printed ends: the file (DEV:INO) and the offset in it, when the gateway said. */
  let at: { file: string; offset: number } | null = null;
  let first = true;
  await away.run(() => {
    const left = at;
    const path = first ? `${base}?lines=${lines}&follow=1` : `${base}?lines=0&follow=1${left === null ? '' : `&from=${left.file}:${left.offset}`}`;
    const onOpen = (headers: Record<string, string | string[] | undefined>): void => {
      first = false;
      const header = headers[LOG_POSITION_HEADER.toLowerCase()];
      at = parseLogPosition(typeof header === 'string' ? header : null);
      if (!away.back()) return;
      const where =
        left !== null && at !== null && at.file === left.file && at.offset === left.offset ? 'from where it was left'
        : left !== null && at !== null ? `from its end: it is not the file followed before (rotated or started anew)`
        : 'from its end';
      process.stderr.write(`apppkg-gateway: the gateway at ${client.address} is back; following the log of ${name} ${where}\n`);
    };
    return client.follow(path, { app: name }, (chunk) => {
      if (at !== null) at.offset += chunk.length;
      process.stdout.write(chunk);
    }, onOpen);
  });
}
