// The normalised description: what every other module reads. Whatever spelling app.yaml used
// (flat form, `wsgi: {app: ...}`, a string or a list), it arrives here in one shape.

export const COMMAND_NAMES = ['install', 'update', 'check', 'backup', 'restore', 'uninstall', 'test'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export interface ProcessSpec {
  command: string;
  /** Path prefix (under the app's mount) whose requests, websockets included, go to this process. */
  route: string | null;
}

export interface AppServices {
  /** sql: PostgreSQL where the host has one, else SQLite. */
  database: 'sql' | 'postgresql' | 'sqlite' | null;
  redis: 'redis' | null;
}

export interface Description {
  /** Absolute path of app.yaml. */
  file: string;
  /** Absolute path of the package directory (symlinks resolved). */
  dir: string;
  name: string;
  /** From the NAME.VERSION directory suffix; null when the directory has none. */
  version: string | null;
  /** `wsgi`: the gateway imports `app`; `command`: processes.web starts its own server on $PORT. */
  kind: 'wsgi' | 'asgi' | 'command';
  /** The mixins as written, normalised to a list (always includes "python"). */
  platform: string[];
  /** Accepted host OS families (posix, linux, darwin, ...); empty = any. */
  os: string[];
  /** A PEP 440 specifier, or null for any interpreter. */
  python: string | null;
  deb: string[];
  rpm: string[];
  /** Requirements file, relative to dir; null when no virtualenv is wanted. */
  pip: string | null;
  /** Relative to dir, in order: prepended to sys.path after the app directory. */
  paths: string[];
  /** `module:object`; null for `command` apps. */
  app: string | null;
  /** Names the environment must inject. */
  settings: string[];
  /** URL prefix (starting with /, no trailing /) -> directory relative to dir. */
  static: Record<string, string>;
  health: string | null;
  /** What the app needs from the host (SPEC 5.2); null where it asks for nothing. */
  services: AppServices;
  /** The path under its mount that receives incoming mail (SPEC 5.3), or null. */
  mail: string | null;
  processes: Record<string, ProcessSpec>;
  commands: Partial<Record<CommandName, string>>;
  /** `x-` keys, kept verbatim for the user's own tools. */
  extensions: Record<string, unknown>;
  /**
   * Where each key stands in app.yaml, so that errors found later (no interpreter fits
   * `python:`, a required setting is missing) still point at the line: top-level keys at their
   * value, nested ones by their label (`static["/assets"]`, `processes.ws`, `settings[1]`, as
   * keyLabel spells them) at their own key. `positionOf` finds the nearest one.
   */
  positions: Record<string, { line: number; column: number }>;
}
