// A fix that is a command to type again (`restore ... --force`, `uninstall ...` once the reason
// is fixed) is typed as it is written: without this run's --environment and --state-dir it
// reaches another state root (as root, /var/lib/apppkg-gateway's copy of the app, restored into
// or left alone there) or a host without the services. The library does not know what was on the
// command line; the command adds them to the error, whose hint ends its command with them.
import { GatewayError, isGatewayError } from '../errors.js';
import type { ParsedCommand } from './args.js';

/** The app options of `values` that a command to run again must repeat, as words. */
export function appOptionWords(values: ParsedCommand['values']): string[] {
  const words: string[] = [];
  if (typeof values.environment === 'string') words.push('--environment', values.environment);
  if (typeof values['state-dir'] === 'string') words.push('--state-dir', values['state-dir']);
  return words;
}

/** Runs `work`; a GatewayError it throws is thrown again with `appOptions` in its details. */
export async function withAppOptions<T>(values: ParsedCommand['values'], work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    const appOptions = appOptionWords(values);
    if (!isGatewayError(err) || appOptions.length === 0) throw err;
    throw new GatewayError(err.code, { ...err.details, appOptions });
  }
}
