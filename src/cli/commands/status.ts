// `apppkg-gateway status`: reads GET /status from a running gateway's admin listener and prints
// it as a table (or as the raw JSON with --json, for scripts). With --watch it follows GET
// /events: in a terminal the table is redrawn in place; into a pipe or file each changed
// table is printed after a line with the time, without escape codes (issue 14). The stream
// sends the whole status once, then what changed: the copy here is kept whole by applying them.
// A gateway that goes away (a restart, an upgrade) is waited for and followed again when it is back.
import { setTimeout as delay } from 'node:timers/promises';
import { ADMIN_OPTION_HELP, ADMIN_OPTIONS, AdminClient, checkStatus, parseStatus, sseParser } from '../admin-client.js';
import type { CommandSpec, ParsedCommand } from '../args.js';
import { applyStatusEvent } from '../../admin/status-patch.js';
import type { GatewayStatus } from '../../admin/status-types.js';
import { renderStatusTable } from '../../admin/status-table.js';
import { isGatewayError } from '../../errors.js';

export const spec: CommandSpec = {
  name: 'status',
  summary: 'Apps, versions, workers, restarts, requests, from a running gateway.',
  usage: 'apppkg-gateway status [--watch] [--json] [--admin ADDR] [--admin-token FILE]',
  optionHelp: [
    ...ADMIN_OPTION_HELP,
    ['--json', 'print the status as JSON (the body of GET /status), for scripts; with --watch, one line per change'],
    ['-w, --watch', 'keep following the gateway: redraw the table in a terminal, else print it again at each change; a gateway that restarts is waited for (tried every second) and followed again; Ctrl-C stops'],
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

/** Between tries to reach a gateway that went away: what a restart takes, said once, not a flood. */
const RECONNECT_MS = 1000;

/**
 * A gateway that is not there now but may be back: stopped or restarting (`systemctl restart`,
 * an upgrade), its socket gone or refused meanwhile, or one that took the connection and said
 * nothing while it starts. A refused token (401) or another server's answer is not waited out.
 */
const AWAY = new Set(['APPPKG_ADMIN_GONE', 'APPPKG_ADMIN_UNREACHABLE', 'APPPKG_ADMIN_NO_ANSWER']);

/**
 * Follows GET /events until Ctrl-C, across restarts of the gateway, as `tail -F` follows a file
 * that is replaced: a watcher left open on a host expects to see the gateway that comes back,
 * not an exit because the old one went. A gateway never reached at the start is still an error.
 */
async function watch(client: AdminClient, json: boolean): Promise<void> {
  const tty = process.stdout.isTTY === true;
  const stopped = new AbortController();
  const stop = (): void => stopped.abort();
  // For the whole watch: between two connections no follow holds these, and Node's default
  // would end the command by the signal, not with 0.
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  let shown = '';
  let status: GatewayStatus | null = null;
  let reached = false;
  let lost = false;
  const onEvent = (event: string, data: string): void => {
    if (event !== 'status' && event !== 'apps') return;
    status = checkStatus(() => applyStatusEvent(status, event, data), client.address, `an event of /events that is not a status or a change to one (${event})`);
    if (status === null) return;
    reached = true;
    if (lost) {
      lost = false;
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
    process.stdout.write(tty ? `${REDRAW}${table}` : `${separator}${table}`);
  };
  try {
    while (!stopped.signal.aborted) {
      try {
        // A parser per connection: a half-received event of the old one is not the new one's start.
        await client.follow('/events', {}, sseParser(onEvent));
        return;
      } catch (err) {
        if (!isGatewayError(err) || !AWAY.has(err.code) || (!reached && err.code !== 'APPPKG_ADMIN_GONE')) throw err;
        if (!lost) {
          lost = true;
          const why = typeof err.details.reason === 'string' ? ` (${err.details.reason})` : '';
          process.stderr.write(`apppkg-gateway: lost the gateway at ${client.address}${why}; waiting for it to come back, trying every ${RECONNECT_MS / 1000} s (Ctrl-C stops)\n`);
        }
      }
      await delay(RECONNECT_MS, undefined, { signal: stopped.signal }).catch(() => {});
    }
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
