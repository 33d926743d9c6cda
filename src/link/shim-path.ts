// Where the bundled Python side is.

import { join } from 'node:path';
import { PACKAGE_ROOT } from '../package-root.js';

/** Absolute path of the python-shim directory. */
export const SHIM_DIR = join(PACKAGE_ROOT, 'python-shim');

/** Absolute path of the script the gateway runs: `python <SHIM_MAIN> serve|check`. */
export const SHIM_MAIN = join(SHIM_DIR, 'apppkg_shim_main.py');
