// `apppkg-gateway status`: reads GET /status from a running gateway's admin listener and prints
// it as a table (or as the raw JSON with --json, for scripts).
import { Agent, request } from 'undici';
import { formatAddr, parseAddr, type CommandSpec, type ParsedCommand } from '../args.js';
import { DEFAULT_ADMIN } from '../../admin/admin-server.js';
import type { GatewayStatus } from '../../admin/status-types.js';
import { renderStatusTable } from '../../admin/status-table.js';
import { GatewayError } from '../../errors.js';

export const spec: CommandSpec = {
  name: 'status',
  summary: 'Apps, versions, workers, restarts, requests, from a running gateway.',
  usage: 'apppkg-gateway status [--admin ADDR] [--json]',
  optionHelp: [
    ['--admin ADDR', `the gateway's admin listener: PORT, HOST:PORT or unix:/path (default ${DEFAULT_ADMIN})`],
    ['--json', 'print the status as JSON (the body of GET /status), for scripts'],
  ],
  options: { admin: { type: 'string' }, json: { type: 'boolean' } },
  allowPositionals: 0,
};

/** A gateway answers /status in milliseconds; past this something is wrong, so say so. */
const TIMEOUT_MS = 5000;

export async function run(args: ParsedCommand): Promise<number> {
  const addr = parseAddr((args.values.admin as string | undefined) ?? DEFAULT_ADMIN, '--admin');
  const address = formatAddr(addr);
  const body = await fetchStatus(addr, address);
  if (args.values.json) {
    process.stdout.write(body.endsWith('\n') ? body : `${body}\n`);
    return 0;
  }
  let status: GatewayStatus;
  try {
    status = JSON.parse(body) as GatewayStatus;
  } catch {
    throw new GatewayError('APPPKG_ADMIN_BAD_ANSWER', { address, found: 'a body that is not JSON' });
  }
  if (!Array.isArray(status?.apps) || !Array.isArray(status?.broken)) {
    throw new GatewayError('APPPKG_ADMIN_BAD_ANSWER', { address, found: 'JSON without apps and broken' });
  }
  process.stdout.write(renderStatusTable(status));
  return 0;
}

async function fetchStatus(addr: ReturnType<typeof parseAddr>, address: string): Promise<string> {
  const timeouts = { headersTimeout: TIMEOUT_MS, bodyTimeout: TIMEOUT_MS };
  const agent =
    addr.kind === 'unix'
      ? new Agent({ ...timeouts, connect: { socketPath: addr.path, timeout: TIMEOUT_MS } })
      : new Agent({ ...timeouts, connect: { timeout: TIMEOUT_MS } });
  const host = addr.kind === 'tcp' ? (addr.host.includes(':') ? `[${addr.host}]` : addr.host) : 'localhost';
  const origin = addr.kind === 'tcp' ? `http://${host}:${addr.port}` : 'http://localhost';
  try {
    let statusCode: number;
    let text: string;
    try {
      const res = await request(`${origin}/status`, { dispatcher: agent, headers: { accept: 'application/json' } });
      statusCode = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      // Refused, no such socket, no permission, or no answer in time: all "nobody answers".
      const e = err as NodeJS.ErrnoException;
      throw new GatewayError('APPPKG_ADMIN_UNREACHABLE', { address, reason: e.code ?? e.message, cause: err });
    }
    if (statusCode !== 200) {
      throw new GatewayError('APPPKG_ADMIN_BAD_ANSWER', { address, found: `HTTP ${statusCode}` });
    }
    return text;
  } finally {
    await agent.destroy();
  }
}
