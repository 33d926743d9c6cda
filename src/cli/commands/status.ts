// `apppkg-gateway status`: reads GET /status from a running gateway's admin listener and prints
// it as a table (or as the raw JSON with --json, for scripts). With --watch it follows GET
// /events: in a terminal the table is redrawn in place; into a pipe or file each changed
// table is printed after a line with the time, without escape codes (issue 14). The stream
// sends the whole status once, then what changed: the copy here is kept whole by applying them.
// A gateway that goes away (a restart, an upgrade) is waited for and followed again when it is back.
import { ADMIN_OPTION_HELP, ADMIN_OPTIONS, AdminClient, checkStatus, parseStatus, sseParser } from '../admin-client.js';
import { commandLineAgain, type CommandSpec, type ParsedCommand } from '../args.js';
import { applyStatusEvent } from '../../admin/status-patch.js';
import type { GatewayStatus } from '../../admin/status-types.js';
import { renderStatusTable } from '../../admin/status-table.js';
import { GatewayAway } from '../gateway-away.js';
import { cutToColumns } from '../terminal-width.js';

export const spec: CommandSpec = {
  name: 'status',
  summary: 'Apps, versions, workers, restarts, requests, from a running gateway.',
  usage: 'apppkg-gateway status [--watch] [--json] [--admin ADDR] [--admin-token FILE] [--state-dir DIR]',
  optionHelp: [
    ...ADMIN_OPTION_HELP,
    ['--json', 'print the status as JSON (the body of GET /status), for scripts; with --watch, one line per change'],
    ['-w, --watch', 'keep following the gateway: redraw the table in a terminal (cut to the window by the columns each line takes, as watch(1) does; drawn again when it is resized), else print it again at each change; a gateway that restarts is waited for (tried every second; given no --admin, at the address STATE/admin.address names at that try, as tail -F opens a file by its name again) and followed again; a rotated admin token ends it (exit 1); Ctrl-C stops'],
  ],
  options: { ...ADMIN_OPTIONS, json: { type: 'boolean' }, watch: { type: 'boolean', short: 'w' } },
  allowPositionals: 0,
};

/** Clear the screen, cursor home (ECMA-48 ED 2, CUP). */
const REDRAW = '\x1b[2J\x1b[H';

/**
 * The table cut to a terminal of `columns` by `rows`, as watch(1) and top(1) cut theirs: a
 * table taller than the window scrolled at every redraw, so the header and the apps' rows were
 * never on the screen (only the last app's details, and a copy per change in the scrollback),
 * and a line wider than it wrapped into the lines below. The last row is left to the cursor.
 */
export function fitToTerminal(table: string, columns: number, rows: number): string {
  const cut = (line: string): string => cutToColumns(line, columns);
  const lines = table.replace(/\n$/, '').split('\n');
  const room = Math.max(1, rows - 1);
  if (lines.length <= room) return `${lines.map(cut).join('\n')}\n`;
  const shown = lines.slice(0, room - 1);
  const more = `... ${lines.length - shown.length} more lines (a taller window shows them, as does status without --watch)`;
  return `${[...shown, more].map(cut).join('\n')}\n`;
}

export async function run(args: ParsedCommand): Promise<number> {
  const client = AdminClient.fromOptions(args.values, args.values.watch ? 'status --watch' : 'status', commandLineAgain(spec.name, args, ['admin-token']));
  try {
    if (args.values.watch) {
      await watch(client, args.values.json === true);
      return 0;
    }
    const body = await client.statusText();
    if (args.values.json) {
      process.stdout.write(body.endsWith('\n') ? body : `${body}\n`);
      return 0;
    }
    process.stdout.write(renderStatusTable(parseStatus(body, client.address)));
    return 0;
  } finally {
    await client.close();
  }
}

/**
 * Follows GET /events until Ctrl-C, across restarts of the gateway (gateway-away.ts): a watcher
 * left open on a host expects to see the gateway that comes back, not an exit because the old
 * one went. A gateway never reached at the start is still an error.
 */
async function watch(client: AdminClient, json: boolean): Promise<void> {
  const tty = process.stdout.isTTY === true;
  const away = new GatewayAway(client);
  let shown = '';
  let status: GatewayStatus | null = null;
  const redraw = (): void => {
    if (shown === '') return;
    process.stdout.write(`${REDRAW}${fitToTerminal(shown, process.stdout.columns || 80, process.stdout.rows || 24)}`);
  };
  const onEvent = (event: string, data: string): void => {
    if (event !== 'status' && event !== 'apps') return;
    status = checkStatus(() => applyStatusEvent(status, event, data), client.address, `an event of /events that is not a status or a change to one (${event})`);
    if (status === null) return;
    if (away.back()) {
      // Printed again whole under the line saying why, even where it did not change.
      shown = '';
      process.stderr.write(`apppkg-gateway: the gateway at ${client.address} is back (pid ${status.pid}, up since ${status.startedAt})\n`);
    }
    if (json) {
      process.stdout.write(`${JSON.stringify(status)}\n`);
      return;
    }
    // The gateway sends when anything changed, CPU samples included: print what a reader sees change.
    const table = renderStatusTable(status);
    if (table === shown) return;
    const separator = `${shown === '' ? '' : '\n'}-- ${new Date().toISOString()}\n`;
    shown = table;
    if (tty) redraw();
    else process.stdout.write(`${separator}${table}`);
  };
  // A window made smaller or larger is drawn again at once, not at the next change.
  if (tty) process.stdout.on('resize', redraw);
  try {
    // A parser per connection: a half-received event of the old one is not the new one's start.
    await away.run(() => client.follow('/events', {}, sseParser(onEvent)));
  } finally {
    process.stdout.off('resize', redraw);
  }
}
