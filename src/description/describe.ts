// `apppkg-gateway describe`: the normalised description as JSON, keys always in the same order
// (the order of SPEC §1.1), so that its output can be diffed and tested.

import { COMMAND_NAMES, type AppServices, type CommandName, type Description, type ProcessSpec } from './types.js';

/**
 * The JSON object `describe` prints (AppPackage.description): every key of Description, defaults
 * filled in. A type alias, not an interface, so that it stays a Record<string, unknown> too.
 */
export type DescribedApp = {
  name: string;
  /** From the NAME.VERSION directory suffix; null when the directory has none. */
  version: string | null;
  /** The package directory, absolute, symlinks resolved. */
  dir: string;
  /** app.yaml, absolute. */
  file: string;
  kind: Description['kind'];
  platform: string[];
  os: string[];
  python: string | null;
  rpm: string[];
  deb: string[];
  pip: string | null;
  paths: string[];
  /** `module:object`; null for a `command` app. */
  app: string | null;
  settings: string[];
  static: Record<string, string>;
  health: string | null;
  services: { database: AppServices['database']; redis: AppServices['redis'] };
  mail: string | null;
  processes: Record<string, ProcessSpec>;
  commands: Partial<Record<CommandName, string>>;
  /** The `x-` keys, as written. */
  extensions: Record<string, unknown>;
  /** For an app asking for `services:`: what backs each on this host, passwords masked (docs/services.md). */
  provides?: Record<string, unknown>;
};

/** The JSON object `describe` prints: every key of Description, defaults filled in. */
export function describeJson(desc: Description): DescribedApp {
  const commands: Record<string, string> = {};
  for (const hook of COMMAND_NAMES) {
    const command = desc.commands[hook];
    if (command !== undefined) commands[hook] = command;
  }
  // fromEntries, not assignment: a process named "__proto__" must stay a key.
  const processes = Object.fromEntries(
    Object.entries(desc.processes).map(([name, spec]) => [name, { command: spec.command, route: spec.route }]),
  );
  return {
    name: desc.name,
    version: desc.version,
    dir: desc.dir,
    file: desc.file,
    kind: desc.kind,
    platform: [...desc.platform],
    os: [...desc.os],
    python: desc.python,
    rpm: [...desc.rpm],
    deb: [...desc.deb],
    pip: desc.pip,
    paths: [...desc.paths],
    app: desc.app,
    settings: [...desc.settings],
    static: { ...desc.static },
    health: desc.health,
    // What the app asks for (SPEC 5.2); what the host gives is `describe`'s `provides`.
    services: { database: desc.services?.database ?? null, redis: desc.services?.redis ?? null },
    mail: desc.mail ?? null,
    processes,
    commands,
    extensions: { ...desc.extensions },
  };
}
