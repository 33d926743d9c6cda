// Where a key of app.yaml stands, for errors found after loading (a missing static directory,
// a setting nobody gives, a service the host lacks): each points at its own entry (SPEC §1.1).

import type { Description } from './types.js';
import { keyLabel, type YamlPath } from './yaml-file.js';

export interface KeyPlace {
  file: string;
  line: number;
  column: number;
}

/** The place of the key at `at`, or of its nearest parent the file has; undefined for none. */
export function placeOf(desc: Pick<Description, 'file' | 'positions'>, at: YamlPath): KeyPlace | undefined {
  for (let depth = at.length; depth > 0; depth--) {
    const label = keyLabel(at.slice(0, depth));
    if (Object.hasOwn(desc.positions, label)) return { file: desc.file, ...desc.positions[label] };
  }
  return undefined;
}
