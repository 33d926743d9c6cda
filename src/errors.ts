// Every failure a user can cause has a stable code, a message built from values, a hint that
// says how to fix it, and the CLI exit status it maps to. Callers match on `code`, never on
// message text. docs/errors.md is checked against this table by test/errors.test.ts.

export interface ErrorDetails {
  file?: string;
  line?: number;
  column?: number;
  key?: string;
  expected?: string;
  found?: string;
  cause?: unknown;
  /** A description error may carry every problem found in its file, each a GatewayError. */
  problems?: GatewayError[];
  /** Values the message and hint templates use. */
  [name: string]: unknown;
}

interface CodeEntry {
  /** One line, built from the details; never mentions the file position (added around it). */
  message: (d: ErrorDetails) => string;
  hint: (d: ErrorDetails) => string;
  /** CLI exit status: 1 = the command ran and failed, 2 = bad usage. */
  exitStatus: 1 | 2;
}

const str = (v: unknown): string => (v === undefined ? '' : String(v));

export const ERROR_CODES = {
  APPPKG_USAGE: {
    message: (d) => str(d.reason),
    hint: (d) => `run \`apppkg-gateway ${d.command ? `${str(d.command)} ` : ''}--help\` for the usage`,
    exitStatus: 2,
  },
  APPPKG_ADDR_INVALID: {
    message: (d) => `${str(d.key) || 'address'}: expected PORT, HOST:PORT or unix:/path, found ${JSON.stringify(d.found)}`,
    hint: () => 'write e.g. 8000, 127.0.0.1:8000 or unix:/run/apppkg/gateway.sock',
    exitStatus: 2,
  },
  APPPKG_TRUST_PROXY_INVALID: {
    message: (d) => `--trust-proxy: expected IP addresses, CIDR ranges or "loopback", found ${JSON.stringify(d.found)}`,
    hint: () => 'write e.g. --trust-proxy 127.0.0.1,10.0.0.0/8 (the addresses of the proxies in front of the gateway)',
    exitStatus: 2,
  },
  APPPKG_LISTEN_FAILED: {
    message: (d) => `cannot listen on ${str(d.address)}: ${str(d.reason)}`,
    hint: () => 'choose another address with --port/--listen, or stop what is using it',
    exitStatus: 1,
  },
  APPPKG_ADMIN_UNREACHABLE: {
    message: (d) => `no gateway answers on ${str(d.address)}${d.reason ? ` (${str(d.reason)})` : ''}`,
    hint: () => 'start one (`apppkg-gateway --apps DIR` serves its admin listener on 127.0.0.1:8099), or pass --admin ADDR with the address the gateway was given',
    exitStatus: 1,
  },
  APPPKG_ADMIN_BAD_ANSWER: {
    message: (d) => `${str(d.address)} answered ${str(d.found)}, expected a gateway's status JSON`,
    hint: () => 'check that --admin names the admin listener of an apppkg-gateway, not another server',
    exitStatus: 1,
  },
  APPPKG_DESC_NOT_FOUND: {
    message: (d) => `no app.yaml in ${str(d.dir)}`,
    hint: () => 'run `apppkg-gateway init DIR` to write one, or point at the directory that holds app.yaml',
    exitStatus: 1,
  },
  APPPKG_DESC_INVALID: {
    message: (d) => `${str(d.file)}: ${d.problems?.length ?? 0} problem(s) in the description`,
    hint: () => 'fix each problem listed above; `apppkg-gateway describe DIR` shows the result',
    exitStatus: 1,
  },
  APPPKG_DESC_YAML_SYNTAX: {
    message: (d) => `${str(d.key) || 'YAML'}: expected valid YAML, found ${str(d.found)}`,
    hint: (d) => str(d.fix) || 'check the indentation (spaces, not tabs, each level the same) and that each key is followed by ": "',
    exitStatus: 1,
  },
  APPPKG_DESC_NOT_MAPPING: {
    message: (d) => `expected a mapping of keys (like \`app: module:object\`), found ${str(d.found)}`,
    hint: () => 'write one `key: value` per line; see README "The description"',
    exitStatus: 1,
  },
  APPPKG_DESC_UNKNOWN_KEY: {
    message: (d) => `${str(d.key)}: expected one of the known keys, found an unknown key${d.suggestion ? ` (did you mean "${str(d.suggestion)}"?)` : ''}`,
    hint: (d) =>
      d.suggestion
        ? `rename it to "${str(d.suggestion)}", or prefix it with "x-" to keep it as your own`
        : `remove it, or prefix it with "x-" to keep it as your own; ${Array.isArray(d.known) && d.known.length > 0 ? `the known keys here are ${d.known.join(', ')}` : 'the known keys are listed in docs/description.md'}`,
    exitStatus: 1,
  },
  APPPKG_DESC_BAD_VALUE: {
    message: (d) => `${str(d.key)}: expected ${str(d.expected)}, found ${str(d.found)}`,
    hint: (d) => str(d.fix) || `change ${str(d.key)} to ${str(d.expected)}`,
    exitStatus: 1,
  },
  APPPKG_DESC_MISSING_KEY: {
    message: (d) => `${str(d.key)}: expected ${str(d.expected)}, found nothing`,
    hint: (d) => str(d.fix) || `add \`${str(d.key)}: ...\` to app.yaml`,
    exitStatus: 1,
  },
  APPPKG_ENVFILE_INVALID: {
    message: (d) => `${str(d.file)}: ${d.problems?.length ?? 0} problem(s) in the environment file`,
    hint: () => 'fix each problem listed above; the keys are described in docs/description.md',
    exitStatus: 1,
  },
  APPPKG_FILE_UNREADABLE: {
    message: (d) => `cannot read ${str(d.file)}: ${str(d.reason)}`,
    hint: () => 'make the file readable by the user the gateway runs as (and its directories searchable)',
    exitStatus: 1,
  },
  APPPKG_ENVFILE_NOT_FOUND: {
    message: (d) => `environment file ${str(d.file)} does not exist`,
    hint: () => 'pass an existing YAML file to --environment, or leave the flag out',
    exitStatus: 1,
  },
  APPPKG_STATE_DIR_FAILED: {
    message: (d) => `cannot prepare ${str(d.path)}: ${str(d.reason)}`,
    hint: () => 'choose a writable state root with --state-dir or APPPKG_STATE_DIR',
    exitStatus: 1,
  },
  APPPKG_PY_NO_INTERPRETER: {
    message: (d) => `python: no interpreter satisfies ${JSON.stringify(d.specifier)}${d.reasonDeb ? ' on the system interpreter (deb packages are listed)' : ''}; found ${str(d.foundList) || 'none'}`,
    hint: (d) =>
      d.reasonDeb
        ? 'install a system python3 that satisfies the specifier, or loosen `python:` in app.yaml'
        : 'install a matching Python (python3.N on PATH), name one in the environment file (`python: /path/to/python3`), or loosen `python:` in app.yaml',
    exitStatus: 1,
  },
  APPPKG_PY_NOT_EXECUTABLE: {
    message: (d) => `interpreter ${str(d.path)} cannot be run: ${str(d.reason)}`,
    hint: () => 'install it where the app\'s user can run it (e.g. /usr/bin/python3), or name another with `python:` in the environment file',
    exitStatus: 1,
  },
  APPPKG_USER_UNKNOWN: {
    message: (d) => `user: ${JSON.stringify(d.user)} (for ${str(d.app)}) is not a user of this host`,
    hint: () => 'create the user (adduser --system NAME), or name an existing one in the environment file',
    exitStatus: 1,
  },
  APPPKG_OS_MISMATCH: {
    message: (d) => `os: the app needs ${str(d.expected)}, this host is ${str(d.found)}`,
    hint: () => 'run the app on a matching host, or widen `os:` in app.yaml (posix covers linux and darwin)',
    exitStatus: 1,
  },
  APPPKG_SETTINGS_MISSING: {
    message: (d) => `settings: the app requires ${str(d.missing)}, which the environment does not provide`,
    hint: (d) =>
      `set ${str(d.missing)} in the environment file (apps: {${str(d.app)}: {settings: {...}}}) or, under serve/run/check, as environment variables`,
    exitStatus: 1,
  },
  APPPKG_DEB_MISSING: {
    message: (d) => `deb: package(s) not installed: ${str(d.missing)}`,
    hint: (d) => `run \`apt-get install -y ${str(d.missing)}\` (or \`apppkg-gateway install --system\` as root)`,
    exitStatus: 1,
  },
  APPPKG_RPM_MISSING: {
    message: (d) => `rpm: package(s) not installed: ${str(d.missing)}`,
    hint: (d) => `run \`dnf install -y ${str(d.missing)}\``,
    exitStatus: 1,
  },
  APPPKG_PIP_UNSATISFIED: {
    message: (d) => `pip: requirement(s) not satisfied: ${str(d.missing)}`,
    hint: () => 'run `apppkg-gateway install DIR` to build the app\'s virtualenv',
    exitStatus: 1,
  },
  APPPKG_PIP_FILE_UNREADABLE: {
    message: (d) => `pip: cannot read the requirements file ${str(d.file)}: ${str(d.reason)}`,
    hint: () => 'point `pip:` in app.yaml at a requirements file inside the app directory (relative to it)',
    exitStatus: 1,
  },
  APPPKG_APP_IMPORT_FAILED: {
    message: (d) => `app: cannot import ${str(d.app)}${d.where ? ` (${str(d.where)})` : ''}: ${str(d.reason)}`,
    hint: () => 'fix the error shown in the traceback, then try again (`apppkg-gateway check DIR` repeats the import)',
    exitStatus: 1,
  },
  APPPKG_APP_NOT_CALLABLE: {
    message: (d) => `app: ${str(d.app)} is ${str(d.found)}, expected a WSGI callable`,
    hint: () => 'point `app:` at the WSGI application object, e.g. `app: mypkg.wsgi:application`',
    exitStatus: 1,
  },
  APPPKG_WORKER_START_FAILED: {
    message: (d) => `worker of ${str(d.app)} exited before it was ready (${str(d.reason)})`,
    hint: () => 'read the app log above; `apppkg-gateway check DIR` runs the same import in the foreground',
    exitStatus: 1,
  },
  APPPKG_PROCESS_START_FAILED: {
    message: (d) => `processes.${str(d.process)} of ${str(d.app)} did not start (${str(d.reason)})`,
    hint: (d) =>
      `read the app log (its lines begin with [${str(d.process)}]); a process with a route (or processes.web) must listen on 127.0.0.1:$PORT — try it with \`apppkg-gateway run DIR -- sh -c 'PORT=8080 ...'\``,
    exitStatus: 1,
  },
  APPPKG_APP_PROBE_FAILED: {
    message: (d) => `health probe of ${str(d.app)}: GET ${str(d.path)} ${d.status ? `answered ${str(d.status)}` : `failed (${str(d.reason)})`}, expected 2xx or 3xx`,
    hint: () => 'make the `health:` path of app.yaml answer 200 once the app can serve (read the app log for why it did not), or remove `health:`',
    exitStatus: 1,
  },
  APPPKG_COMMAND_FAILED: {
    message: (d) => `${str(d.command)} exited with status ${str(d.status)}`,
    hint: () => 'read its output above',
    exitStatus: 1,
  },
  APPPKG_INSTALL_NEEDS_ROOT: {
    message: (d) => `install --system: installing deb packages needs root, this is uid ${str(d.uid)}`,
    hint: (d) => `run \`sudo apppkg-gateway install --system ${str(d.dir) || 'APP_DIR'}\`, or install the packages yourself (apt-get install -y ${str(d.packages) || 'PACKAGE...'}) and run install without --system`,
    exitStatus: 1,
  },
  APPPKG_APT_FAILED: {
    message: (d) => `deb: \`apt-get install -y ${str(d.packages)}\` exited with status ${str(d.status)}`,
    hint: () => 'read apt\'s output above; when it cannot find a package, run `apt-get update` first and check the name with `apt-cache policy NAME`',
    exitStatus: 1,
  },
  APPPKG_VENV_FAILED: {
    message: (d) => `pip: cannot create the virtualenv ${str(d.path)} with ${str(d.python)}: ${str(d.reason)}`,
    hint: () => 'read the output above; on Debian the system python3 needs `apt-get install -y python3-venv`; or name another interpreter with `python:` in the environment file',
    exitStatus: 1,
  },
  APPPKG_PIP_INSTALL_FAILED: {
    message: (d) => `pip: \`pip install -r ${str(d.requirements)}\` exited with status ${str(d.status)}; the previous virtualenv (if any) is kept`,
    hint: () => 'read pip\'s output above; pip runs offline (--no-index): put each wheel or sdist in the app directory or beside the requirements file, and name it there (NAME==VERSION or the file name)',
    exitStatus: 1,
  },
  APPPKG_BACKUP_FAILED: {
    message: (d) => `cannot ${str(d.action)}: ${str(d.reason)}`,
    hint: () => 'check that the backup directory is writable, has room, and lies outside the app\'s data directory',
    exitStatus: 1,
  },
  APPPKG_BACKUP_NOT_EMPTY: {
    message: (d) => `backup --to ${str(d.path)}: expected a new or empty directory (or an earlier backup of ${str(d.app)}), found ${str(d.found)}`,
    hint: () => 'choose a new directory, e.g. --to /var/backups/NAME-$(date +%F)',
    exitStatus: 1,
  },
  APPPKG_BACKUP_EMPTY: {
    message: (d) => `restore --from ${str(d.path)}: expected a backup, found ${str(d.found) || 'an empty directory'}`,
    hint: () => 'name the directory that `apppkg-gateway backup APP_DIR --to DIR` wrote; nothing was changed',
    exitStatus: 1,
  },
  APPPKG_BACKUP_FOREIGN: {
    message: (d) => `restore --from ${str(d.path)}: expected a backup of ${str(d.app)}, found ${str(d.found)}`,
    hint: () => 'name a directory written by `apppkg-gateway backup` for this app (it holds apppkg-backup.json); nothing was changed',
    exitStatus: 1,
  },
  APPPKG_NOT_CONFIRMED: {
    message: (d) => `${str(d.action)} not confirmed: ${str(d.reason)}; nothing was removed`,
    hint: () => 'answer y at the prompt, or pass --yes (needed when stdin is not a terminal, as in scripts)',
    exitStatus: 1,
  },
  APPPKG_REMOVE_FAILED: {
    message: (d) => `cannot remove ${str(d.path)}: ${str(d.reason)}`,
    hint: (d) => str(d.fix) || 'run uninstall as the user that owns the state directory (or root), then run it again',
    exitStatus: 1,
  },
  APPPKG_INIT_EXISTS: {
    message: (d) => `${str(d.file)} already exists`,
    hint: () => 'edit it, or remove it and run init again',
    exitStatus: 1,
  },
  APPPKG_INIT_NO_APP: {
    message: (d) => `found no WSGI application object in ${str(d.dir)}`,
    hint: () => 'write `app: module:object` in the generated app.yaml by hand',
    exitStatus: 1,
  },
} satisfies Record<string, CodeEntry>;

export type ErrorCode = keyof typeof ERROR_CODES;

export class GatewayError extends Error {
  readonly code: ErrorCode;
  readonly hint: string;
  readonly details: ErrorDetails;
  readonly exitStatus: 1 | 2;

  constructor(code: ErrorCode, details: ErrorDetails = {}) {
    const entry: CodeEntry = ERROR_CODES[code];
    super(entry.message(details), details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'GatewayError';
    this.code = code;
    this.details = details;
    this.hint = entry.hint(details);
    this.exitStatus = entry.exitStatus;
  }

  get file(): string | undefined { return this.details.file; }
  get line(): number | undefined { return this.details.line; }
  get column(): number | undefined { return this.details.column; }
  get key(): string | undefined { return this.details.key; }
  get problems(): GatewayError[] { return this.details.problems ?? []; }

  /** `file:line:col: message` then `  fix: hint`, one block per problem for a description. */
  format(): string {
    if (this.problems.length > 0) {
      return this.problems.map((p) => p.format()).join('\n');
    }
    const where = this.file ? `${this.file}${this.line ? `:${this.line}:${this.column ?? 1}` : ''}: ` : '';
    return `${where}${this.message}\n  fix: ${this.hint}`;
  }

  toJSON(): Record<string, unknown> {
    return {
      code: this.code,
      message: this.message,
      hint: this.hint,
      file: this.file,
      line: this.line,
      column: this.column,
      key: this.key,
      problems: this.problems.length > 0 ? this.problems.map((p) => p.toJSON()) : undefined,
    };
  }
}

export function isGatewayError(err: unknown): err is GatewayError {
  return err instanceof Error && typeof (err as GatewayError).code === 'string' && (err as GatewayError).code.startsWith('APPPKG_');
}
