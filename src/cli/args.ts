import { parseArgs, type ParseArgsConfig } from 'node:util';
import path from 'node:path';
import { closest } from '../closest.js';
import { CLI_COMMAND_WORDS, type CommandWords } from '../command-words.js';
import { APP_YAML_LINES, GatewayError } from '../errors.js';
import { shellLine, shellWord } from '../shell-words.js';

export { addrUrl, formatAddr, isHostSyntax, parseAddr, parseUrlAddr, type ListenAddress } from '../net/address.js';

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
  /**
   * Options this command does not take that a user of the other mode, or of another server,
   * types for it (`serve --listen`, gunicorn's `--bind`): what to write instead. A typo's
   * nearest option would send them to the wrong one.
   */
  otherSpellings?: Record<string, string>;
  /** Options whose empty value the command refuses itself, in words parseCommand does not have. */
  refusesEmpty?: readonly string[];
}

export interface ParsedCommand {
  values: Record<string, string | boolean | string[] | undefined>;
  positionals: string[];
  rest: string[];
  help: boolean;
  /**
   * The words after the command's name as the user gave them, one entry per option (with its
   * value) or argument, in their order: a fix that says the command again keeps every one.
   */
  given: Array<{ option?: string; words: string[] }>;
}

export function parseCommand(spec: CommandSpec, argv: string[]): ParsedCommand {
  let own = spec.normalizeArgv ? spec.normalizeArgv(argv) : argv;
  let rest: string[] = [];
  // `run APP python manage.py migrate`, the `--` forgotten: the command's words are no options
  // or arguments of ours, and the refusal says where they go.
  let missingDash = false;
  if (spec.passThrough) {
    const dash = argv.indexOf('--');
    if (dash >= 0) {
      own = argv.slice(0, dash);
      rest = argv.slice(dash + 1);
    } else {
      missingDash = true;
    }
  }
  const withoutDash = (word: string) =>
    `expected -- before the command, found ${JSON.stringify(word)} (write apppkg-gateway ${spec.name} APP_DIR -- ${word} ...)`;
  let parsed;
  try {
    parsed = parseArgs({
      args: own,
      options: { ...spec.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
      tokens: true,
    });
  } catch (err) {
    const lax = missingDash ? parseArgs({ args: own, options: spec.options, allowPositionals: true, strict: false }).positionals : [];
    const reason = lax.length > spec.allowPositionals ? withoutDash(lax[spec.allowPositionals]) : usageReason(err as NodeJS.ErrnoException, spec, own);
    throw new GatewayError('APPPKG_USAGE', { reason, command: spec.name });
  }
  const values = parsed.values as ParsedCommand['values'];
  const help = values.help === true;
  if (!help) refuseShortEquals(spec, parsed.tokens);
  if (!help) refuseRepeated(spec, parsed.tokens);
  if (!help) refuseEmpty(spec, parsed.tokens);
  if (!help && parsed.positionals.length > spec.allowPositionals) {
    const extra = parsed.positionals[spec.allowPositionals];
    throw new GatewayError('APPPKG_USAGE', {
      reason: missingDash ? withoutDash(extra) : `unexpected argument ${JSON.stringify(extra)}`,
      command: spec.name,
    });
  }
  const tokens = parsed.tokens as Array<{ kind: string; name?: string; rawName?: string; value?: string; inlineValue?: boolean }>;
  // An option's value after "=" stays there: `--trust-proxy=ADDR` takes its value no other way.
  const optionWords = (t: (typeof tokens)[number]): string[] => {
    const raw = t.rawName ?? `--${t.name}`;
    if (t.value === undefined) return [raw];
    return t.inlineValue ? [`${raw}=${t.value}`] : [raw, t.value];
  };
  const given = tokens.map((t) => (t.kind === 'option' ? { option: t.name, words: optionWords(t) } : { words: [t.kind === 'positional' ? (t.value ?? '') : '--'] }));
  return { values, positionals: parsed.positionals, rest, help, given };
}

/**
 * `name` and the words given to it (ParsedCommand.given) as one command line, without the options
 * named in `without`; `name` '' is the gateway's own command (`apppkg-gateway --apps DIR`), which has none.
 * `rest` false leaves out what follows `--` (run's CMD): commandRestAgain says it, for a fix that
 * adds an option, which after `--` went to CMD.
 */
export function commandLineAgain(name: string, args: Pick<ParsedCommand, 'given' | 'rest'>, without: readonly string[] = [], rest = true): string {
  const kept = args.given.filter((g) => g.option === undefined || !without.includes(g.option)).flatMap((g) => g.words);
  return shellLine([...(name === '' ? [] : [name]), ...kept, ...(rest && args.rest.length > 0 ? ['--', ...args.rest] : [])]);
}

/** `-- CMD ...` as given (ParsedCommand.rest), to follow commandLineAgain(..., false); undefined when none was. */
export function commandRestAgain(args: Pick<ParsedCommand, 'rest'>): string | undefined {
  return args.rest.length > 0 ? shellLine(['--', ...args.rest]) : undefined;
}

/**
 * `-e=env.yaml`, written as `--environment=env.yaml` is: node:util (as getopt) takes what follows
 * a short option as its value, "=" included, and the user was told that "=env.yaml" was no file.
 */
function refuseShortEquals(spec: CommandSpec, tokens: Array<{ kind: string; name?: string; rawName?: string; value?: string; inlineValue?: boolean }>): void {
  for (const token of tokens) {
    if (token.kind !== 'option' || token.inlineValue !== true || token.rawName === undefined || /^--/.test(token.rawName)) continue;
    if (token.value === undefined || !token.value.startsWith('=')) continue;
    const value = token.value.slice(1);
    throw new GatewayError('APPPKG_USAGE', {
      reason: `${token.rawName}${token.value}: a short option's value follows it after a space, found "=" before it`,
      command: spec.name,
      fix: `write ${token.rawName} ${value === '' || /[\s"'$*?]/.test(value) ? JSON.stringify(value) : value}, or --${token.name}=${value}`,
    });
  }
}

/** Options whose value is parsed, as a number or an address: "" is no such value, said with one. */
const PARSED_VALUES: ReadonlySet<string> = new Set(['grace', 'header-timeout', 'watch-interval', 'settle', 'hook-timeout', 'max-workers', 'workers', 'threads', 'port', 'socket-mode', 'listen', 'admin', 'host']);

/**
 * `--state-dir ""`, as a script's unset or empty variable gives it (`--state-dir "$STATE"`): an
 * empty value was taken for none, the default, and such a script wrote into
 * /var/lib/apppkg-gateway (an empty --environment read no file, --socket-owner gave no owner).
 * No option takes an empty value for anything, so each refuses it; those parsed as a number or
 * an address (PARSED_VALUES) are refused by their parsers, whose fix shows the form by example.
 */
function refuseEmpty(spec: CommandSpec, tokens: Array<{ kind: string; name?: string; rawName?: string; value?: string }>): void {
  for (const token of tokens) {
    if (token.kind !== 'option' || token.value !== '' || token.name === undefined) continue;
    if (PARSED_VALUES.has(token.name) || spec.refusesEmpty?.includes(token.name)) continue;
    const flag = `--${token.name}`;
    // What --help says the value is: DIR of `--state-dir DIR`, ADDR,... of `--trust-proxy[=ADDR,...]`.
    const help = spec.optionHelp.find(([flags]) => flags.split(/,\s*/).some((f) => f.split(/[\s=[]/)[0] === flag))?.[0];
    const after = help === undefined ? '' : help.slice(help.indexOf(flag) + flag.length).trim();
    const attached = after.startsWith('[=') && after.endsWith(']');
    const what = (attached ? after.slice(2, -1) : after) || 'a value';
    throw new GatewayError('APPPKG_USAGE', {
      reason: `${flag}: expected ${what}, found an empty value ("")`,
      command: spec.name,
      fix: `give ${attached ? `${flag}=${what}` : `${flag} ${what}`}, not "" (as a script's variable that is unset or empty gives it): an empty value is never taken for the default`,
    });
  }
}

/**
 * node:util keeps the last value of an option given twice: `status --admin A --admin B` asked B
 * unsaid, and `--admin A --admin B` served one admin listener where two may have been meant (as
 * --listen, the one option that takes several). Which one the user meant cannot be known, so it
 * is bad usage, as it is for a repeated key in app.yaml.
 */
function refuseRepeated(spec: CommandSpec, tokens: Array<{ kind: string; name?: string; value?: string }>): void {
  const given = new Map<string, string[]>();
  for (const token of tokens) {
    if (token.kind !== 'option' || token.name === undefined) continue;
    const option = spec.options[token.name];
    if (option === undefined || option.type !== 'string' || option.multiple === true) continue;
    given.set(token.name, [...(given.get(token.name) ?? []), token.value ?? '']);
  }
  for (const [name, values] of given) {
    if (values.length < 2) continue;
    const flag = `--${name}`;
    const times = values.length === 2 ? 'twice' : `${values.length} times`;
    // A bare --trust-proxy reaches here as "*" (normalizeArgv): shown as the user wrote it.
    const written = (v: string) => (name === 'trust-proxy' && v === '*' ? flag : name !== 'trust-proxy' && /^[^-\s"'*]\S*$/.test(v) ? `${flag} ${v}` : `${flag}=${JSON.stringify(v)}`);
    throw new GatewayError('APPPKG_USAGE', {
      reason: `${flag}: given ${times} (${values.map(written).join(', then ')}), and it takes one value`,
      command: spec.name,
      fix: `give ${flag} once, with the value you mean (e.g. ${written(values[values.length - 1])})`,
    });
  }
}

/**
 * node:util parseArgs' refusal said as our messages are ("KEY: expected X, found Y", the
 * nearest option for a typo), not as Node's advice on positionals after `--`, which an
 * `apppkg-gateway serve --prot 8000` never meant. Node's text when its wording is unknown.
 */
function usageReason(err: NodeJS.ErrnoException, spec: CommandSpec, args: string[]): string {
  const unknown = /^Unknown option '([^']+)'/.exec(err.message);
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && unknown) {
    const instead = spec.otherSpellings?.[unknown[1].split('=')[0]];
    if (instead !== undefined) return `unknown option ${unknown[1]}: ${instead}`;
    // `status --version`, `--apps DIR --version`: the version is asked alone, not of a command.
    if (['--version', '-V'].includes(unknown[1])) return `unknown option ${unknown[1]}: the version is \`apppkg-gateway --version\`, alone`;
    const flags = Object.entries(spec.options).flatMap(([name, o]) => [`--${name}`, ...(o.short ? [`-${o.short}`] : [])]);
    const near = closest(unknown[1], [...flags, '--help']);
    return `unknown option ${unknown[1]}${near ? ` (did you mean ${near}?)` : ''}`;
  }
  const option = /^Option '(?:-\w, )?(--[\w-]+|-\w)(?: <value>)?' (argument missing|does not take an argument|argument is ambiguous)/.exec(err.message);
  if (err.code !== 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || !option) return err.message;
  const [, named, what] = option;
  // `-p -5` is named by its short form alone: said as the long one, as --help lists it.
  const byShort = Object.keys(spec.options).find((name) => `-${spec.options[name].short}` === named);
  const flag = byShort === undefined ? named : `--${byShort}`;
  if (what === 'argument missing') return `${flag}: expected a value after it, found none`;
  if (what === 'does not take an argument') {
    const given = args.find((a) => a.startsWith(`${flag}=`));
    return `${flag} takes no value, found ${JSON.stringify(given ?? `${flag}=...`)}`;
  }
  // `--threads -1`: the value reads as an option; `--threads=-1` gives it as a value.
  const short = spec.options[flag.slice(2)]?.short;
  const at = args.findIndex((a, i) => (a === flag || (short !== undefined && a === `-${short}`)) && args[i + 1]?.startsWith('-'));
  const value = at >= 0 ? args[at + 1] : '-...';
  return `${flag}: expected a value after it, found ${JSON.stringify(value)}, which reads as an option (write ${flag}=${value} to give it as the value)`;
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

/** A whole-number option; `example` is a value the fix shows (its default, say). */
export function intOption(value: unknown, key: string, min: number, command: string, example: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) {
    throw new GatewayError('APPPKG_USAGE', {
      reason: `${key}: expected an integer >= ${min}, found ${JSON.stringify(value)}`,
      command,
      fix: `give ${key} a whole number of at least ${min}, e.g. ${key} ${example}`,
    });
  }
  return n;
}

/** Digits with an optional fraction: Number() also takes "" (0), " 5", "0x1e" and "1e3". */
const SECONDS = /^(?:\d+(?:\.\d*)?|\.\d+)$/;

/**
 * --hook-timeout (the gateway's and serve's) in milliseconds: how long commands.install or
 * commands.update may run. 0 would stop every hook at once, so it is refused as bad usage.
 */
export function hookTimeoutOption(value: unknown, command: string): number {
  if (value === undefined) return 600_000;
  const n = typeof value === 'string' && SECONDS.test(value) ? Number(value) : Number.NaN;
  if (!Number.isFinite(n) || n <= 0) {
    throw new GatewayError('APPPKG_USAGE', {
      reason: `--hook-timeout: expected a number of seconds > 0, found ${JSON.stringify(value)}`,
      command,
      fix: 'give --hook-timeout a number of seconds above 0 (a fraction is fine), e.g. --hook-timeout 1800',
    });
  }
  return Math.round(n * 1000);
}

/** Options every command that acts on one app directory takes. */
export const APP_OPTIONS: Options = {
  environment: { type: 'string', short: 'e' },
  'state-dir': { type: 'string' },
};

/** What AppPackage's refusals call APP_OPTIONS here: the flags typed, not the library's option names. */
/**
 * What the app commands' errors call their options. apppkg's Python library runs this CLI with
 * APPPKG_CALLER=python and passes its stderr on to a caller who gave `state_dir=` and
 * `environment=`, never a flag: told "--state-dir", that caller had no such thing to change.
 */
export function appOptionNames(env: NodeJS.ProcessEnv): { environment: string; stateDir: string; commands: CommandWords; reader?: string } {
  if (env.APPPKG_CALLER !== 'python') return { environment: '--environment', stateDir: '--state-dir', commands: CLI_COMMAND_WORDS };
  // The directory was AppPackage(path)'s, not APP_DIR: the library leaves saying so to us, so
  // that it and `check DIR` say a missing directory, or a file, in the same words.
  // No app.yaml: what goes in one first, since AppPackage's caller may have no `apppkg-gateway` on
  // PATH (the library runs it from $APPPKG_GATEWAY or beside python-shim/); init as the other way.
  const writeAppYaml = (dir: string): string =>
    `write ${shellWord(path.join(dir, 'app.yaml'))}, ${APP_YAML_LINES}; or have \`apppkg-gateway init ${shellWord(dir)}\` write one for the project there`;
  return {
    environment: 'environment=',
    stateDir: 'state_dir=',
    commands: { ...CLI_COMMAND_WORDS, fixDetails: (dir) => ({ dirGiver: 'AppPackage', writeAppYaml: writeAppYaml(dir) }) },
    // This CLI runs as the Python program's user: it read app.yaml for that program.
    reader: 'the user the Python program calling AppPackage runs as',
  };
}

export const APP_OPTION_NAMES = appOptionNames(process.env);

/**
 * APP_OPTION_NAMES for `command`, with who reads the app's files there: the user running it
 * (told "the user the gateway runs as", a user of `check` looked for a gateway that had not read
 * the file), or the Python program this CLI runs for.
 */
export function appOptionNamesFor(command: string): ReturnType<typeof appOptionNames> {
  return { ...APP_OPTION_NAMES, reader: APP_OPTION_NAMES.reader ?? `the user running \`apppkg-gateway ${command}\`` };
}

export const APP_OPTION_HELP: Array<[string, string]> = [
  ['-e, --environment FILE', 'the host\'s environment file (settings, overrides), as under --apps'],
  ['--state-dir DIR', 'state root for data/log/tmp (default: $APPPKG_STATE_DIR, /var/lib/apppkg-gateway as root, else $XDG_STATE_HOME/apppkg-gateway or ~/.local/state/apppkg-gateway)'],
];
