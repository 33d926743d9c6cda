// APPPKG_ADMIN_NO_SUCH_APP with its "did you mean": the CLI's admin client built it from the
// names status gave, and a program's gateway.restart('blgo') was told only the names, so the
// one that asked names the app the same way wherever it asked.
import { nearAppName } from '../description/near-app-name.js';
import { GatewayError } from '../errors.js';

/**
 * `app`, which the gateway has none of, among `apps`, the ones it has. `asked`: the admin
 * address the CLI asked (`{ address }`), or, for a program's own Gateway, the words that name
 * it to the program (`{ gateway }`).
 */
export function noSuchAppError(asked: { address: string } | { gateway: string }, app: string, apps: readonly string[]): GatewayError {
  const near = nearAppName(app, apps);
  return new GatewayError('APPPKG_ADMIN_NO_SUCH_APP', { ...asked, app, apps: apps.length > 0 ? apps.join(', ') : '(none)', suggestion: near?.app, versionDir: near?.versionDir });
}
