import { parseArgs, type ParseArgsConfig } from 'node:util';
import { GatewayError } from '../errors.js';

export type ListenAddress =
  | { kind: 'tcp'; host: string; port: number }
  | { kind: 'unix'; path: string };

/** `PORT`, `HOST:PORT`, `[v6]:PORT` or `unix:/path` (SPEC §3). */
export function parseAddr(text: string, key = 'address', defaultHost = '127.0.0.1'): ListenAddress {
  const bad = () => new GatewayError('APPPKG_ADDR_INVALID', { key, found: text });
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length);
    if (!path.startsWith('/') && !path.startsWith('.')) throw bad();
    return { kind: 'unix', path };
  }
  let host = defaultHost;
  let portText = text;
  const v6 = /^\[([0-9a-fA-F:.]+)\]:(\d+)$/.exec(text);
  if (v6) {
    host = v6[1];
    portText = v6[2];
  } else if (text.includes(':')) {
    const at = text.lastIndexOf(':');
    host = text.slice(0, at);
    portText = text.slice(at + 1);
    if (host === '' || host.includes(':')) throw bad();
  }
  if (!/^\d{1,5}$/.test(portText)) throw bad();
  const port = Number(portText);
  if (port > 65535) throw bad();
  return { kind: 'tcp', host, port };
}

export function formatAddr(addr: ListenAddress): string {
  if (addr.kind === 'unix') return `unix:${addr.path}`;
  const host = addr.host.includes(':') ? `[${addr.host}]` : addr.host;
  return `${host}:${addr.port}`;
}

export function addrUrl(addr: ListenAddress): string {
  if (addr.kind === 'unix') return `unix:${addr.path}`;
  const host = addr.host === '0.0.0.0' || addr.host === '::' ? '127.0.0.1' : addr.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${addr.port}`;
}

export type Options = NonNullable<ParseArgsConfig['options']>;

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  /** One line per option, shown by --help; the option table itself is `options`. */
  optionHelp: Array<[string, string]>;
  options: Options;
  allowPositionals: number;
  /** `run APP -- CMD...`: everything after `--` is passed through. */
  passThrough?: boolean;
  /** Rewrites argv before parsing (a flag whose value is optional, say). */
  normalizeArgv?: (argv: string[]) => string[];
}

export interface ParsedCommand {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  rest: string[];
  help: boolean;
}

export function parseCommand(spec: CommandSpec, argv: string[]): ParsedCommand {
  let own = spec.normalizeArgv ? spec.normalizeArgv(argv) : argv;
  let rest: string[] = [];
  if (spec.passThrough) {
    const dash = argv.indexOf('--');
    if (dash >= 0) {
      own = argv.slice(0, dash);
      rest = argv.slice(dash + 1);
    }
  }
  let parsed;
  try {
    parsed = parseArgs({
      args: own,
      options: { ...spec.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new GatewayError('APPPKG_USAGE', { reason: (err as Error).message, command: spec.name });
  }
  const values = parsed.values as ParsedCommand['values'];
  const help = values.help === true;
  if (!help && parsed.positionals.length > spec.allowPositionals) {
    throw new GatewayError('APPPKG_USAGE', {
      reason: `unexpected argument ${JSON.stringify(parsed.positionals[spec.allowPositionals])}`,
      command: spec.name,
    });
  }
  return { values, positionals: parsed.positionals, rest, help };
}

export function helpText(spec: CommandSpec): string {
  const width = Math.max(0, ...spec.optionHelp.map(([flag]) => flag.length)) + 2;
  const lines = [`usage: ${spec.usage}`, '', spec.summary];
  if (spec.optionHelp.length > 0) {
    lines.push('', 'options:');
    for (const [flag, text] of [...spec.optionHelp, ['-h, --help', 'show this help'] as [string, string]]) {
      lines.push(`  ${flag.padEnd(width)}${text}`);
    }
  }
  return lines.join('\n');
}

export function intOption(value: unknown, key: string, min: number, command: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new GatewayError('APPPKG_USAGE', {
      reason: `${key}: expected an integer >= ${min}, found ${JSON.stringify(value)}`,
      command,
    });
  }
  return n;
}

/** Options every command that acts on one app directory takes. */
export const APP_OPTIONS: Options = {
  environment: { type: 'string', short: 'e' },
  'state-dir': { type: 'string' },
};

export const APP_OPTION_HELP: Array<[string, string]> = [
  ['-e, --environment FILE', 'the host\'s environment file (settings, overrides), as under --apps'],
  ['--state-dir DIR', 'state root for data/log/tmp (default: $APPPKG_STATE_DIR, /var/lib/apppkg-gateway as root, else ~/.local/state/apppkg-gateway)'],
];
