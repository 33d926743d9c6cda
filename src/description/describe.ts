// `apppkg-gateway describe`: the normalised description as JSON, keys always in the same order
// (the order of SPEC §1.1), so that its output can be diffed and tested.

import { COMMAND_NAMES, type Description } from './types.js';

/** The JSON object `describe` prints: every key of Description, defaults filled in. */
export function describeJson(desc: Description): Record<string, unknown> {
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
