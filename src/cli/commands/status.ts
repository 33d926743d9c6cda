// `apppkg-gateway status`: reads GET /status from a running gateway's admin listener and prints
// it as a table (or as the raw JSON with --json, for scripts). With --watch it follows GET
// /events: in a terminal the table is redrawn in place; into a pipe or file each changed
// table is printed after a line with the time, without escape codes (issue 14). The stream
// sends the whole status once, then what changed: the copy here is kept whole by applying them.
import { ADMIN_OPTION_HELP, ADMIN_OPTIONS, AdminClient, checkStatus, parseStatus, sseParser } from '../admin-client.js';
import type { CommandSpec, ParsedCommand } from '../args.js';
import { applyStatusEvent } from '../../admin/status-patch.js';
import type { GatewayStatus } from '../../admin/status-types.js';
import { renderStatusTable } from '../../admin/status-table.js';

export const spec: CommandSpec = {
  name: 'status',
  summary: 'Apps, versions, workers, restarts, requests, from a running gateway.',
  usage: 'apppkg-gateway status [--watch] [--json] [--admin ADDR] [--admin-token FILE]',
  optionHelp: [
    ...ADMIN_OPTION_HELP,
    ['--json', 'print the status as JSON (the body of GET /status), for scripts; with --watch, one line per change'],
    ['-w, --watch', 'keep following the gateway: redraw the table in a terminal, else print it again at each change; Ctrl-C stops'],
  ],
  options: { ...ADMIN_OPTIONS, json: { type: 'boolean' }, watch: { type: 'boolean', short: 'w' } },
  allowPositionals: 0,
};

/** Clear the screen, cursor home (ECMA-48 ED 2, CUP). */
const REDRAW = '\x1b[2J\x1b[H';

export async function run(args: ParsedCommand): Promise<number> {
  const client = AdminClient.fromOptions(args.values);
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

async function watch(client: AdminClient, json: boolean): Promise<void> {
  const tty = process.stdout.isTTY === true;
  let shown = '';
  let status: GatewayStatus | null = null;
  const onEvent = (event: string, data: string): void => {
    if (event !== 'status' && event !== 'apps') return;
    status = checkStatus(() => applyStatusEvent(status, event, data), client.address, `an event of /events that is not a status or a change to one (${event})`);
    if (status === null) return;
    if (json) {
      process.stdout.write(`${JSON.stringify(status)}\n`);
      return;
    }
    // The gateway sends when anything changed, CPU samples included: print what a reader sees change.
    const table = renderStatusTable(status);
    if (table === shown) return;
    const separator = `${shown === '' ? '' : '\n'}-- ${new Date().toISOString()}\n`;
    shown = table;
    process.stdout.write(tty ? `${REDRAW}${table}` : `${separator}${table}`);
  };
  await client.follow('/events', {}, sseParser(onEvent));
}
