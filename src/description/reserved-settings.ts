// The setting names the gateway gives every process itself (PATH, PORT, TMPDIR, APPPKG_*, ...).
// The environment file's schema is where the rule is written (its settings' propertyNames
// `not`); app.yaml's settings: list is held to that very rule, read from the schema, so that an
// app never requires a name no environment file may give.

import { readSchema, type JsonSchema } from './validators.js';

export interface ReservedSettingsRule {
  /** True for a name the gateway sets itself and the environment file refuses. */
  isReserved: (name: string) => boolean;
  /** The environment schema's own words: which names, and why. */
  expected: string;
  fix: string;
}

let rule: ReservedSettingsRule | null = null;

export function reservedSettingsRule(): ReservedSettingsRule {
  if (rule !== null) return rule;
  const definitions = readSchema('environment').definitions as Record<string, JsonSchema>;
  const names = (definitions.settings as { propertyNames: JsonSchema }).propertyNames;
  const branches = ((names.not as JsonSchema).anyOf as JsonSchema[]).map(branchTest);
  rule = {
    isReserved: (name) => branches.some((matches) => matches(name)),
    expected: String(names['x-expected']),
    fix: String(names['x-fix']),
  };
  return rule;
}

/** One branch of the schema's `not: {anyOf: [...]}`; only the two keywords it uses are understood. */
function branchTest(branch: JsonSchema): (name: string) => boolean {
  if (typeof branch.pattern === 'string') {
    const pattern = new RegExp(branch.pattern, 'u'); // as ajv reads a pattern
    return (name) => pattern.test(name);
  }
  if (Array.isArray(branch.enum)) {
    const reserved = new Set(branch.enum.map(String));
    return (name) => reserved.has(name);
  }
  // A keyword added to the schema's rule must be taught here, or app.yaml would let names through.
  throw new Error(`environment schema: settings propertyNames.not has a branch reserved-settings.ts does not understand: ${JSON.stringify(branch)}`);
}
