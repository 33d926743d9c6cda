// A library call's options as plain JavaScript may pass them, where no compiler checked them
// against the .d.ts: none at all, null, a path given as a number, or a key misspelt. Node's own TypeErrors
// named neither the call nor the option ("The \"paths[0]\" argument must be of type string",
// "Cannot read properties of undefined (reading 'app')").
import { closest } from './closest.js';
import { GatewayError } from './errors.js';

/** A value as a usage error shows it: NaN and Infinity as themselves (JSON.stringify says null for both). */
export function shownValue(value: unknown): string {
  return typeof value === 'number' || value === undefined ? String(value) : JSON.stringify(value);
}

/**
 * APPPKG_USAGE unless `options` is an object (undefined where the call has a default) whose keys
 * are each one of `known` and whose `pathKeys` are each absent or a string. `call` names the call
 * (`Gateway.start`), `example` a call that would do.
 */
export function checkOptions(call: string, options: unknown, known: readonly string[], pathKeys: readonly string[], example: string): void {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) {
    throw new GatewayError('APPPKG_USAGE', { reason: `${call}: expected an options object, found ${shownValue(options)}`, fix: `give one, e.g. ${example}` });
  }
  refuseUnknownKeys(call, options, known);
  for (const key of pathKeys) {
    const value = (options as Record<string, unknown>)[key];
    if (value !== undefined && typeof value !== 'string') {
      throw new GatewayError('APPPKG_USAGE', { reason: `${call}: ${key}: expected a path (a string), found ${shownValue(value)}`, fix: `give ${key} a path, or leave it out for the default` });
    }
    refuseEmptyPath(call, key, value);
  }
}

/**
 * The keys of an options type, for checkOptions: written as `{ key: true, ... }`, so that the
 * compiler holds the list to the interface (a key added there and not here fails to build).
 */
export function optionKeys<T extends object>(keys: Record<keyof T, true>): string[] {
  return Object.keys(keys);
}

/**
 * Options the CLI passes to the library and README does not document (@internal, stripped from
 * the published types): taken, but neither listed in a refusal's fix nor offered as the one meant.
 */
const CLI_ONLY_OPTIONS: ReadonlySet<string> = new Set(['optionNames']);

/**
 * A key the call does not know is a typo (`workerz`, `timeout` for `timeoutMs`), as the CLI's
 * unknown flag is: ignored, it left the program running with the default it meant to change (one
 * worker, no bound on a command), and nothing said so.
 */
function refuseUnknownKeys(call: string, options: object, known: readonly string[]): void {
  const unknown = Object.keys(options).find((key) => !known.includes(key));
  if (unknown === undefined) return;
  const documented = known.filter((key) => !CLI_ONLY_OPTIONS.has(key));
  const meant = closest(unknown, documented);
  throw new GatewayError('APPPKG_USAGE', {
    reason: `${call}: unknown option ${unknown}`,
    fix: `${meant === undefined ? 'leave it out;' : `did you mean ${meant}?`} ${call}'s options: ${documented.join(', ')}`,
  });
}

/**
 * APPPKG_USAGE if `value`, the path option `key` of `call`, is "": `stateDir:
 * process.env.STATE_DIR` of a variable set empty was taken for none, and the program wrote into
 * the default state root (/var/lib/apppkg-gateway as root); an empty `app` served the working
 * directory.
 */
export function refuseEmptyPath(call: string, key: string, value: unknown): void {
  if (value !== '') return;
  throw new GatewayError('APPPKG_USAGE', {
    reason: `${call}: ${key}: expected a path, found an empty string`,
    fix: `give ${key} a path, or leave it out (undefined): an empty string, as a variable set to "" gives, is never taken for the default`,
  });
}

/**
 * APPPKG_USAGE unless `value`, the option `key` of `call`, is absent or a finite number of
 * milliseconds above 0 (at least 0 where `zeroAllowed`). `Number(process.env.X)` of an unset
 * variable is NaN, and a timer given NaN or a negative number fires at once.
 */
export function checkMilliseconds(call: string, key: string, value: unknown, { zeroAllowed, example }: { zeroAllowed: boolean; example: number }): void {
  if (value === undefined || (typeof value === 'number' && Number.isFinite(value) && (zeroAllowed ? value >= 0 : value > 0))) return;
  throw new GatewayError('APPPKG_USAGE', {
    reason: `${call}: ${key}: expected a number of milliseconds ${zeroAllowed ? '>= 0' : '> 0'}, found ${shownValue(value)}`,
    fix: `give ${key} a number of milliseconds, e.g. ${key}: ${example}`,
  });
}
