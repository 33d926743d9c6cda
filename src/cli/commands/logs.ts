// `apppkg-gateway logs NAME [-f]`: the last lines of an app's log (its stdout and stderr, as
// the gateway keeps them), from the running gateway's admin listener, and with -f what is
// appended, written out as it arrives so that `logs blog -f | grep ERROR` works (issue 14).
import { ADMIN_OPTION_HELP, ADMIN_OPTIONS, AdminClient } from '../admin-client.js';
import { intOption, type CommandSpec, type ParsedCommand } from '../args.js';
import { GatewayError } from '../../errors.js';

export const spec: CommandSpec = {
  name: 'logs',
  summary: "An app's log (its processes' stdout and stderr) from a running gateway; -f follows it.",
  usage: 'apppkg-gateway logs NAME [-f|--follow] [--lines N] [--admin ADDR] [--admin-token FILE]',
  optionHelp: [
    ['-f, --follow', 'keep printing what the app writes, until Ctrl-C (or the gateway stops: exit 1)'],
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
  const client = AdminClient.fromOptions(args.values);
  const path = `/apps/${encodeURIComponent(name)}/log?lines=${lines}`;
  try {
    if (args.values.follow) {
      await client.follow(`${path}&follow=1`, { app: name }, (chunk) => process.stdout.write(chunk));
      return 0;
    }
    // A reader that leaves early (`logs blog | head -1`) is not a failure.
    process.stdout.on('error', () => {});
    const text = await client.text(path, { app: name, timeoutMs: 30_000 });
    process.stdout.write(text);
    if (text === '' && lines > 0) {
      // Printing nothing looks like output still to come: say the log is empty, and which file it is.
      const file = await client.status().then((s) => s.apps.find((a) => a.name === name)?.log.file, () => undefined);
      process.stderr.write(`apppkg-gateway: the log of ${name}${file ? `, ${file},` : ''} is empty: the app has written nothing to its stdout or stderr yet (\`apppkg-gateway logs ${name} -f\` waits for what it writes)\n`);
    }
    return 0;
  } finally {
    await client.close();
  }
}
