// The description under a name other than `app.yaml` (`app.yml`, the other common YAML
// extension, or `App.yaml`): only `app.yaml` is read, so such a package would be passed over in
// silence under --apps, told to `init` a second file by the commands, and given one by `init`.
// One error for all of them, made here: the commands, --apps' discovery and `init` say it alike.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { GatewayError } from '../errors.js';

/** APPPKG_DESC_NOT_FOUND for `dir` whose description is misnamed, with the `mv` that fixes it; null when it has none. */
export function misnamedDescriptionError(dir: string): GatewayError | null {
  let misnamed: string | undefined;
  try {
    misnamed = readdirSync(dir).find((entry) => entry !== 'app.yaml' && /^app\.ya?ml$/i.test(entry));
  } catch {
    return null;
  }
  return misnamed === undefined ? null : new GatewayError('APPPKG_DESC_NOT_FOUND', { dir, file: path.join(dir, misnamed), misnamed });
}
