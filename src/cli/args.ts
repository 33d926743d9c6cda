import { parseArgs, type ParseArgsConfig } from 'node:util';
import { GatewayError } from '../errors.js';

export { addrUrl, formatAddr, parseAddr, type ListenAddress } from '../net/address.js';

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
  const lines = [`usage: ${spec.usage}`, '', spec.summary];
  if (spec.optionHelp.length > 0) lines.push('', 'options:', optionLines(spec));
  return lines.join('\n');
}

/** The option list of `spec`, one flag a line, --help's included. */
export function optionLines(spec: CommandSpec): string {
  const options: Array<[string, string]> = [...spec.optionHelp, ['-h, --help', 'show this help']];
  // The column is as wide as the widest flag, --help's included (`init --help` ran them together).
  const width = Math.max(...options.map(([flag]) => flag.length)) + 2;
  return options.map(([flag, text]) => `  ${flag.padEnd(width)}${text}`).join('\n');
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
