// Every failure a user can cause has a stable code, a message built from values, a hint that
// says how to fix it, and the CLI exit status it maps to. Callers match on `code`, never on
// message text. This table is also the one source of docs/errors.md: scripts/errors-doc.mjs
// renders it (`npm run docs:errors`), and test/errors.test.ts fails when the file is stale.

import { countOf } from './count.js';

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
  /** What happened, for docs/errors.md: one or two sentences of Markdown on one line. */
  summary: string;
  /** One line, built from the details; never mentions the file position (added around it). */
  message: (d: ErrorDetails) => string;
  /** How to fix it, built from the details; printed after `fix:` and shown in docs/errors.md. */
  hint: (d: ErrorDetails) => string;
  /** CLI exit status: 1 = the command ran and failed, 2 = bad usage. */
  exitStatus: 1 | 2;
  /** Typical details, with which docs/errors.md renders the hint (and the test, the message). */
  example: ErrorDetails;
}

const str = (v: unknown): string => (v === undefined ? '' : String(v));
/** `package` or `packages`, as many as the names listed in `list` ("a b", "a, b"). */
const nounFor = (list: unknown, singular: string): string => (str(list).split(/[\s,]+/).filter(Boolean).length === 1 ? singular : `${singular}s`);


// To add a code: APPPKG_<AREA>_<WHAT>, never reused, one entry shaped like
//
//   APPPKG_AREA_WHAT: {
//     summary: 'What happened, for the docs (Markdown, one line).',
//     message: (d) => `KEY: expected X, found ${str(d.found)}`,
//     hint: (d) => `how to fix it, with ${str(d.value)}`,
//     exitStatus: 1,
//     example: { found: 'a typical value', value: 'another' },
//   },
//
// then run `npm run docs:errors` to regenerate docs/errors.md.
export const ERROR_CODES = {
  APPPKG_USAGE: {
    summary: 'The command line is wrong: an unknown option, a missing or extra argument.',
    message: (d) => str(d.reason),
    hint: (d) => `run \`apppkg-gateway ${d.command ? `${str(d.command)} ` : ''}--help\` for the usage`,
    exitStatus: 2,
    example: { reason: 'unknown option --prot', command: 'serve' },
  },
  APPPKG_ADDR_INVALID: {
    summary: 'An address (`--listen`, `--admin`, `--port`) is not `PORT`, `HOST:PORT` or `unix:/path`.',
    message: (d) => `${str(d.key) || 'address'}: expected PORT, HOST:PORT or unix:/path, found ${JSON.stringify(d.found)}`,
    hint: () => 'write e.g. 8000, 127.0.0.1:8000 or unix:/run/apppkg/gateway.sock',
    exitStatus: 2,
    example: { key: '--listen', found: 'localhost:http' },
  },
  APPPKG_TRUST_PROXY_INVALID: {
    summary: 'An entry of `--trust-proxy=ADDR,...` is not an IP address, a CIDR range (`10.0.0.0/8`) or `loopback`; `--trust-proxy` alone trusts every peer.',
    message: (d) => `--trust-proxy: expected IP addresses, CIDR ranges or "loopback", found ${JSON.stringify(d.found)}`,
    hint: () => 'write e.g. --trust-proxy=127.0.0.1,10.0.0.0/8 (the addresses of the proxies in front of the gateway)',
    exitStatus: 2,
    example: { found: '10.0.0.0/33' },
  },
  APPPKG_LISTEN_FAILED: {
    summary: 'The gateway could not listen on an address (in use, not permitted, no such interface). It binds its listeners before it starts any app, so nothing was started.',
    message: (d) => `${d.flag ? `${str(d.flag)}: ` : ''}cannot listen on ${str(d.address)}: ${str(d.reason)}`,
    hint: (d) => {
      const flag = str(d.flag) || '--listen';
      const another = `give ${flag} another ${flag === '--port' ? 'port' : 'address'}`;
      if (d.reason === 'EADDRINUSE') return `another process listens on ${str(d.address)}: stop it (\`ss -ltnp\` names it), or ${another}`;
      if (d.reason === 'EACCES') return `ports below 1024 need root (or CAP_NET_BIND_SERVICE), and a unix: socket a writable directory: ${another}`;
      return `give ${flag} an address of this host (e.g. 127.0.0.1:8000), or stop what is using it`;
    },
    exitStatus: 1,
    example: { flag: '--listen', address: '127.0.0.1:8000', reason: 'EADDRINUSE' },
  },
  APPPKG_APPS_DIR_INVALID: {
    summary: '`--apps DIR` is not a directory of app packages: it does not exist, is a file, or is an app package itself (it holds `app.yaml`).',
    message: (d) => `--apps: expected a directory of app packages, found ${str(d.found)}`,
    hint: (d) => str(d.fix) || 'point --apps at the directory that holds the app packages, each a directory holding app.yaml',
    exitStatus: 2,
    example: {
      found: 'an app package (/srv/apps/blog/app.yaml)',
      fix: 'serve it with `apppkg-gateway serve /srv/apps/blog`, or point --apps at its parent, /srv/apps',
    },
  },
  APPPKG_ADMIN_UNREACHABLE: {
    summary: '`apppkg-gateway status` found no gateway at the admin address (refused, no such socket, no answer in time).',
    message: (d) => `no gateway answers on ${str(d.address)}${d.reason ? ` (${str(d.reason)})` : ''}`,
    hint: () => 'start one (`apppkg-gateway --apps DIR` serves its admin listener on 127.0.0.1:8099), or pass --admin ADDR with the address the gateway was given',
    exitStatus: 1,
    example: { address: '127.0.0.1:8099', reason: 'ECONNREFUSED' },
  },
  APPPKG_ADMIN_BAD_ANSWER: {
    summary: 'Something answers at the admin address, but not with a gateway\'s status JSON (another server, an error status).',
    message: (d) => `${str(d.address)} answered ${str(d.found)}, expected a gateway's admin answer`,
    hint: () => 'check that --admin names the admin listener of an apppkg-gateway, not another server',
    exitStatus: 1,
    example: { address: '127.0.0.1:8099', found: 'HTTP 404' },
  },
  APPPKG_ADMIN_TOKEN_NEEDED: {
    summary: 'The admin listener is asked to listen on an address other than loopback without a token.',
    message: (d) => `--admin ${str(d.address)} is not a loopback address, and the admin listener restarts apps and shows their logs: it needs a token there`,
    hint: () => 'write a long random token into a file only the gateway reads (`head -c 32 /dev/urandom | base64 > /etc/apppkg/admin-token; chmod 600 ...`) and pass --admin-token FILE; or keep --admin on 127.0.0.1 or a unix: socket',
    exitStatus: 2,
    example: { address: '0.0.0.0:8099' },
  },
  APPPKG_ADMIN_TOKEN_FILE: {
    summary: 'The file given to --admin-token cannot be read or holds no token.',
    message: (d) => `cannot use it as the admin token: ${str(d.reason)}`,
    hint: () => 'give --admin-token a readable file holding the token (its content, trimmed, is the token)',
    exitStatus: 2,
    example: { file: '/etc/apppkg/admin-token', reason: 'the file is empty' },
  },
  APPPKG_ADMIN_REFUSED: {
    summary: 'The admin listener refused the request: no token, a wrong token, or a route that needs one.',
    message: (d) => `${str(d.address)} refused ${str(d.what)}: ${str(d.reason)}`,
    hint: (d) => (d.hint ? str(d.hint) : 'pass --admin-token FILE with the file the gateway was started with, or use its unix: admin socket'),
    exitStatus: 1,
    example: { address: '127.0.0.1:8099', what: 'POST /apps/blog/restart', reason: 'HTTP 401' },
  },
  APPPKG_ADMIN_NO_SUCH_APP: {
    summary: 'The running gateway serves no app of that name.',
    message: (d) => `the gateway at ${str(d.address)} has no app named ${str(d.app)}`,
    hint: (d) => (d.apps ? `its apps: ${str(d.apps)}` : 'run `apppkg-gateway status` for the names of its apps'),
    exitStatus: 1,
    example: { address: '127.0.0.1:8099', app: 'blgo', apps: 'blog, shop' },
  },
  APPPKG_ADMIN_ACTION_FAILED: {
    summary: 'A restart or rollback asked through the admin listener could not be done; what served before keeps serving.',
    message: (d) => `${str(d.action)} of ${str(d.app)} failed: ${str(d.reason)}`,
    hint: (d) => (d.hint ? str(d.hint) : `see \`apppkg-gateway logs ${str(d.app)}\` and \`apppkg-gateway status\``),
    exitStatus: 1,
    example: { action: 'restart', app: 'blog', reason: 'the app failed to import: ModuleNotFoundError: No module named \'blog\'' },
  },
  APPPKG_ADMIN_GONE: {
    summary: 'The gateway went away while `logs -f` or `status --watch` followed it: it stopped or restarted, or the connection broke.',
    message: (d) => `the gateway at ${str(d.address)} went away while following ${str(d.what)} (${str(d.reason)})`,
    hint: () => 'see whether it still runs (`apppkg-gateway status`, `systemctl status apppkg-gateway`), and run the command again once it is back',
    exitStatus: 1,
    example: { address: '127.0.0.1:8099', what: 'GET /apps/blog/log?lines=100&follow=1', reason: 'it closed the stream' },
  },
  APPPKG_DESC_NOT_FOUND: {
    summary: 'The directory holds no `app.yaml`.',
    message: (d) => `no app.yaml in ${str(d.dir)}`,
    hint: () => 'run `apppkg-gateway init DIR` to write one, or point at the directory that holds app.yaml',
    exitStatus: 1,
    example: { dir: '/srv/apps/blog' },
  },
  APPPKG_DESC_INVALID: {
    summary: '`app.yaml` has one or more problems; each is listed with its own code, line and fix.',
    message: (d) => `${str(d.file)}: ${countOf(d.problems?.length ?? 0, 'problem')} in the description`,
    hint: () => 'fix each problem listed above; `apppkg-gateway describe DIR` shows the result',
    exitStatus: 1,
    example: { file: '/srv/apps/blog/app.yaml' },
  },
  APPPKG_DESC_YAML_SYNTAX: {
    summary: 'The file is not valid YAML: bad or mixed indentation, tabs, an unquoted `>=`, a key given twice.',
    message: (d) => `${str(d.key) || 'YAML'}: expected valid YAML, found ${str(d.found)}`,
    hint: (d) => str(d.fix) || 'check the indentation (spaces, not tabs, each level the same), that each key is followed by ": ", and quote values that begin with >, | or *',
    exitStatus: 1,
    example: { found: 'a tab in the indentation' },
  },
  APPPKG_DESC_NOT_MAPPING: {
    summary: 'The file\'s top level is a list or a scalar, not `key: value` lines.',
    message: (d) => `expected a mapping of keys (like \`app: module:object\`), found ${str(d.found)}`,
    hint: () => 'write one `key: value` per line; see README "The description"',
    exitStatus: 1,
    example: { found: 'a list [flask, gunicorn]' },
  },
  APPPKG_DESC_UNKNOWN_KEY: {
    summary: 'A key that the description (or environment file) does not know; often a typo.',
    message: (d) => `${str(d.key)}: expected one of the known keys, found an unknown key${d.suggestion ? ` (did you mean "${str(d.suggestion)}"?)` : ''}`,
    hint: (d) =>
      d.suggestion
        ? `rename it to "${str(d.suggestion)}", or prefix it with "x-" to keep it as your own`
        : `remove it, or prefix it with "x-" to keep it as your own; ${Array.isArray(d.known) && d.known.length > 0 ? `the known keys here are ${d.known.join(', ')}` : 'the known keys are listed in docs/description.md'}`,
    exitStatus: 1,
    example: { key: 'healt', suggestion: 'health' },
  },
  APPPKG_DESC_BAD_VALUE: {
    summary: 'A key has a value of the wrong shape: `app: nocolon`, `python: three`, a list where a string goes, a path leaving the package. docs/description.md gives each key\'s shape.',
    message: (d) => `${str(d.key)}: expected ${str(d.expected)}, found ${str(d.found)}`,
    hint: (d) => str(d.fix) || `change ${str(d.key)} to ${str(d.expected)}`,
    exitStatus: 1,
    example: { key: 'python', expected: 'a PEP 440 specifier like ">=3.9"', found: '"three"' },
  },
  APPPKG_DESC_MISSING_KEY: {
    summary: 'A key the description needs is absent: `app` for a wsgi app, `processes.web` for a command app.',
    message: (d) => `${str(d.key)}: expected ${str(d.expected)}, found nothing`,
    hint: (d) => str(d.fix) || `add \`${str(d.key)}: ...\` to app.yaml`,
    exitStatus: 1,
    example: { key: 'app', expected: 'module:object, the WSGI callable' },
  },
  APPPKG_ENVFILE_INVALID: {
    summary: 'The environment file (`--environment`) has one or more problems; each is listed with its line.',
    message: (d) => `${str(d.file)}: ${countOf(d.problems?.length ?? 0, 'problem')} in the environment file`,
    hint: () => 'fix each problem listed above; the keys are described in docs/description.md',
    exitStatus: 1,
    example: { file: '/etc/apppkg/environment.yaml' },
  },
  APPPKG_FILE_UNREADABLE: {
    summary: 'A description or environment file exists but cannot be read.',
    message: (d) => `cannot read ${str(d.file)}: ${str(d.reason)}`,
    hint: () => 'make the file readable by the user the gateway runs as (and its directories searchable)',
    exitStatus: 1,
    example: { file: '/srv/apps/blog/app.yaml', reason: 'EACCES' },
  },
  APPPKG_ENVFILE_NOT_FOUND: {
    summary: 'The file given to `--environment` does not exist.',
    message: (d) => `environment file ${str(d.file)} does not exist`,
    hint: () => 'pass an existing YAML file to --environment, or leave the flag out',
    exitStatus: 1,
    example: { file: '/etc/apppkg/environment.yaml' },
  },
  APPPKG_STATE_DIR_FAILED: {
    summary: 'The app\'s data, log or tmp directory under the state root could not be created or set up.',
    message: (d) => `cannot prepare ${str(d.path)}: ${str(d.reason)}`,
    hint: () => 'choose a writable state root with --state-dir or APPPKG_STATE_DIR',
    exitStatus: 1,
    example: { path: '/var/lib/apppkg-gateway/blog/data', reason: 'EACCES: permission denied' },
  },
  APPPKG_PY_NO_INTERPRETER: {
    summary: 'No interpreter on this host satisfies `python:` (with `deb:`, the system interpreter does not); the message lists those found.',
    message: (d) => `python: no interpreter satisfies ${JSON.stringify(d.specifier)}${d.reasonDeb ? ' on the system interpreter (deb packages are listed)' : ''}; found ${str(d.foundList) || 'none'}`,
    hint: (d) =>
      d.reasonDeb
        ? 'install a system python3 that satisfies the specifier, or loosen `python:` in app.yaml'
        : 'install a matching Python (python3.N on PATH), name one in the environment file (`python: /path/to/python3`), or loosen `python:` in app.yaml',
    exitStatus: 1,
    example: { specifier: '>=3.12', foundList: '3.9.2 (/usr/bin/python3)' },
  },
  APPPKG_PY_NOT_EXECUTABLE: {
    summary: 'The interpreter does not run: the one named in the environment file is missing, or the app\'s user (the gateway running as root) may not execute it, as with a pyenv Python under /root.',
    message: (d) => `interpreter ${str(d.path)} cannot be run: ${str(d.reason)}`,
    hint: () => 'install it where the app\'s user can run it (e.g. /usr/bin/python3), or name another with `python:` in the environment file',
    exitStatus: 1,
    example: { path: '/root/.pyenv/shims/python3', reason: 'user blog cannot run it (EACCES)' },
  },
  APPPKG_USER_UNKNOWN: {
    summary: 'The environment file\'s `user:` for an app names no user of this host.',
    message: (d) => `user: ${JSON.stringify(d.user)} (for ${str(d.app)}) is not a user of this host`,
    hint: () => 'create the user (adduser --system NAME), or name an existing one in the environment file',
    exitStatus: 1,
    example: { user: 'blog', app: 'blog' },
  },
  APPPKG_OS_MISMATCH: {
    summary: 'The app\'s `os:` does not include this host.',
    message: (d) => `os: the app needs ${str(d.expected)}, this host is ${str(d.found)}`,
    hint: () => 'run the app on a matching host, or widen `os:` in app.yaml (posix covers linux and darwin)',
    exitStatus: 1,
    example: { expected: 'darwin', found: 'linux' },
  },
  APPPKG_SETTINGS_MISSING: {
    summary: 'A name listed in `settings:` is not provided by the environment.',
    message: (d) => `settings: the app requires ${str(d.missing)}, which the environment does not provide`,
    hint: (d) =>
      `set ${str(d.missing)} in the environment file (apps: {${str(d.app)}: {settings: {...}}}) or, under serve/run/check, as environment variables`,
    exitStatus: 1,
    example: { missing: 'SECRET_KEY', app: 'blog' },
  },
  APPPKG_DEB_MISSING: {
    summary: 'A package listed in `deb:` is not installed.',
    message: (d) => `deb: ${nounFor(d.missing, 'package')} not installed: ${str(d.missing)}`,
    hint: (d) => `run \`apt-get install -y ${str(d.missing)}\` (or \`apppkg-gateway install --system\` as root)`,
    exitStatus: 1,
    example: { missing: 'python3-flask' },
  },
  APPPKG_RPM_MISSING: {
    summary: 'A package listed in `rpm:` is not installed.',
    message: (d) => `rpm: ${nounFor(d.missing, 'package')} not installed: ${str(d.missing)}`,
    hint: (d) => `run \`dnf install -y ${str(d.missing)}\``,
    exitStatus: 1,
    example: { missing: 'python3-flask' },
  },
  APPPKG_PIP_UNSATISFIED: {
    summary: 'A requirement of the `pip:` file is not installed in the app\'s interpreter or virtualenv, or at the wrong version.',
    message: (d) => `pip: ${nounFor(d.missing, 'requirement')} not satisfied: ${str(d.missing)}`,
    hint: () => 'run `apppkg-gateway install DIR` to build the app\'s virtualenv',
    exitStatus: 1,
    example: { missing: 'flask>=3.0' },
  },
  APPPKG_PIP_FILE_UNREADABLE: {
    summary: 'The requirements file named by `pip:` is missing or unreadable.',
    message: (d) => `pip: cannot read the requirements file ${str(d.file)}: ${str(d.reason)}`,
    hint: () => 'point `pip:` in app.yaml at a requirements file inside the app directory (relative to it)',
    exitStatus: 1,
    example: { file: '/srv/apps/blog/requirements.txt', reason: 'ENOENT' },
  },
  APPPKG_APP_IMPORT_FAILED: {
    summary: 'Importing the `app:` module raised; the Python traceback is printed and the message names the file and line. A worker that fails this way is not restarted until the app changes.',
    message: (d) => `app: cannot import ${str(d.app)}${d.where ? ` (${str(d.where)})` : ''}: ${str(d.reason)}`,
    hint: (d) =>
      d.log
        ? `fix the error in the traceback (its last lines follow; all of it is in ${str(d.log)}); a change to any file of the version retries it, and \`apppkg-gateway check DIR\` repeats the import in the terminal`
        : 'fix the error shown in the traceback, then try again (`apppkg-gateway check DIR` repeats the import)',
    exitStatus: 1,
    example: { app: 'blog.wsgi:application', where: 'blog/wsgi.py:3', reason: "ModuleNotFoundError: No module named 'flask'" },
  },
  APPPKG_APP_NOT_CALLABLE: {
    summary: 'The `app:` object exists but is not callable (a module, a string, None).',
    message: (d) => `app: ${str(d.app)} is ${str(d.found)}, expected a WSGI or ASGI callable`,
    hint: () => 'point `app:` at the application object, e.g. `app: mypkg.wsgi:application` (WSGI) or `app: mypkg.main:app` (ASGI)',
    exitStatus: 1,
    example: { app: 'blog.wsgi:application', found: 'a module' },
  },
  APPPKG_APP_LIFESPAN_FAILED: {
    summary: "An ASGI app's lifespan startup failed (it sent `lifespan.startup.failed`, or raised after taking the lifespan scope); the version is refused, as for an import error.",
    message: (d) => `app: ${str(d.app)} failed its lifespan startup: ${str(d.reason)}`,
    hint: (d) => `fix what the app's startup handler needs (the traceback is in ${d.log ? str(d.log) : 'the app log'}), then try again; \`apppkg-gateway serve DIR\` shows it in the terminal`,
    exitStatus: 1,
    example: { app: 'chat.main:app', reason: 'RuntimeError: cannot reach the database' },
  },
  APPPKG_APP_RUNNING: {
    summary: 'A command that removes or replaces an app\'s state was asked for an app that is running (served by a gateway, or under `serve`).',
    message: (d) => `${str(d.app)} is running (pids ${str(d.pids)}): ${str(d.action)} would remove its state underneath it`,
    hint: (d) => `stop it first: take its directory out of --apps (the gateway stops it), or stop \`serve\`; then run ${str(d.action)} again`,
    exitStatus: 1,
    example: { app: 'blog', pids: '4242, 4243', action: 'uninstall' },
  },
  APPPKG_WORKER_START_FAILED: {
    summary: 'A worker exited, or did not report ready in time, for a reason other than an import error; the app\'s log (`APPPKG_LOG_DIR/app.log`) says why.',
    message: (d) => `worker of ${str(d.app)} exited before it was ready (${str(d.reason)})`,
    hint: (d) => `read ${d.log ? str(d.log) : 'the app log above'}; \`apppkg-gateway check DIR\` runs the same import in the foreground`,
    exitStatus: 1,
    example: { app: 'blog', reason: 'not ready within 30000 ms' },
  },
  APPPKG_PROCESS_START_FAILED: {
    summary: 'A `processes` entry (or `processes.web` of a `platform: python, command` app) exited, or did not accept connections on its `$PORT` within the start deadline.',
    message: (d) => `processes.${str(d.process)} of ${str(d.app)} did not start (${str(d.reason)})`,
    hint: (d) =>
      `read ${d.log ? str(d.log) : 'the app log'} (its lines begin with [${str(d.process)}]); a process with a route (or processes.web) must listen on 127.0.0.1:$PORT — try it with \`apppkg-gateway run DIR -- sh -c 'PORT=8080 ...'\``,
    exitStatus: 1,
    example: { process: 'web', app: 'chat', reason: 'exited with status 1' },
  },
  APPPKG_APP_PROBE_FAILED: {
    summary: 'A worker imported the app, but `GET <health>` (the `health:` path of `app.yaml`) answered something other than 2xx/3xx, or nothing in time; the version never takes traffic. The message has the status and the path.',
    message: (d) => `health probe of ${str(d.app)}: GET ${str(d.path)} ${d.status ? `answered ${str(d.status)}` : `failed (${str(d.reason)})`}, expected 2xx or 3xx`,
    hint: (d) => `make the \`health:\` path of app.yaml answer 200 once the app can serve (read ${d.log ? str(d.log) : 'the app log'} for why it did not), or remove \`health:\``,
    exitStatus: 1,
    example: { app: 'blog', path: '/healthz', status: 500 },
  },
  APPPKG_COMMAND_FAILED: {
    summary: 'A lifecycle hook or command exited non-zero.',
    message: (d) => `${str(d.command)} exited with status ${str(d.status)}`,
    hint: (d) => (d.log ? `read its output in ${str(d.log)}` : 'read its output above'),
    exitStatus: 1,
    example: { command: 'commands.migrate (python manage.py migrate)', status: 1 },
  },
  APPPKG_COMMAND_MISSING: {
    summary: 'A command was asked for (`apppkg-gateway test`, `AppPackage.runCommand(name)`) that app.yaml does not define under `commands:`.',
    message: (d) => `${str(d.app)} has no commands.${str(d.command)}`,
    hint: (d) => str(d.fix) || `add e.g. \`commands: {${str(d.command)}: ...}\` to app.yaml`,
    exitStatus: 1,
    example: { app: 'blog', command: 'test', fix: 'add e.g. `commands: {test: python -m unittest discover -s tests}` to app.yaml' },
  },
  APPPKG_INSTALL_NEEDS_ROOT: {
    summary: '`install --system` was run by a user other than root; only root may run `apt-get install`.',
    message: (d) => `install --system: installing deb packages needs root, this is uid ${str(d.uid)}`,
    hint: (d) => `run \`sudo apppkg-gateway install --system ${str(d.dir) || 'APP_DIR'}\`, or install the packages yourself (apt-get install -y ${str(d.packages) || 'PACKAGE...'}) and run install without --system`,
    exitStatus: 1,
    example: { uid: 1000, dir: '/srv/apps/blog', packages: 'python3-flask' },
  },
  APPPKG_APT_FAILED: {
    summary: '`install --system` ran `apt-get install -y` for the missing `deb` packages and it failed (no such package, stale package lists, no network).',
    message: (d) => `deb: \`apt-get install -y ${str(d.packages)}\` exited with status ${str(d.status)}`,
    hint: () => 'read apt\'s output above; when it cannot find a package, run `apt-get update` first and check the name with `apt-cache policy NAME`',
    exitStatus: 1,
    example: { packages: 'python3-flask', status: 100 },
  },
  APPPKG_VENV_FAILED: {
    summary: '`install` (or `--apps`, deploying an app with `pip:`) could not create the app\'s virtualenv with `python -m venv` (on Debian, `python3-venv` missing; a full disk).',
    message: (d) => `pip: cannot create the virtualenv ${str(d.path)} with ${str(d.python)}: ${str(d.reason)}`,
    hint: (d) =>
      `read ${d.log ? `the output in ${str(d.log)}` : 'the output above'}; on Debian the system python3 needs \`apt-get install -y python3-venv\`; or name another interpreter with \`python:\` in the environment file${d.underApps ? `; \`apppkg-gateway install ${str(d.dir) || 'DIR'}\` builds the virtualenv in the terminal` : ''}`,
    exitStatus: 1,
    example: { path: '/var/lib/apppkg-gateway/blog/venv', python: '/usr/bin/python3', reason: '`-m venv` exited with status 1' },
  },
  APPPKG_PIP_INSTALL_FAILED: {
    summary: '`pip install -r` into the new virtualenv failed (run by `install`, or by `--apps` deploying an app with `pip:`, which then refuses the version): usually a requirement with no local file, since pip runs offline (`--no-index`). The previous virtualenv stays in use.',
    message: (d) => `pip: \`pip install -r ${str(d.requirements)}\` exited with status ${str(d.status)}; the previous virtualenv (if any) is kept`,
    hint: (d) =>
      `read pip's output ${d.log ? `in ${str(d.log)}` : 'above'}; pip runs offline (--no-index): put each wheel or sdist in the app directory or beside the requirements file, and name it there (NAME==VERSION or the file name)${d.underApps ? `; then deploy again, or run \`apppkg-gateway install ${str(d.dir) || 'DIR'}\` to build the virtualenv in the terminal` : ''}`,
    exitStatus: 1,
    example: { requirements: 'requirements.txt', status: 1 },
  },
  APPPKG_BACKUP_FAILED: {
    summary: '`backup` or `restore` could not create, copy or swap a directory (permissions, no room, the backup directory inside the data directory).',
    message: (d) => `cannot ${str(d.action)}: ${str(d.reason)}`,
    hint: () => 'check that the backup directory is writable, has room, and lies outside the app\'s data directory',
    exitStatus: 1,
    example: { action: 'copy /var/lib/apppkg-gateway/blog/data', reason: 'ENOSPC: no space left on device' },
  },
  APPPKG_BACKUP_NOT_EMPTY: {
    summary: '`backup --to DIR` found DIR holding something other than an earlier backup of the same app (which would be replaced).',
    message: (d) => `backup --to ${str(d.path)}: expected a new or empty directory (or an earlier backup of ${str(d.app)}), found ${str(d.found)}`,
    hint: () => 'choose a new directory, e.g. --to /var/backups/NAME-$(date +%F)',
    exitStatus: 1,
    example: { path: '/var/backups/blog', app: 'blog', found: '3 other entries' },
  },
  APPPKG_BACKUP_EMPTY: {
    summary: '`restore --from DIR` found DIR missing or empty; nothing was changed.',
    message: (d) => `restore --from ${str(d.path)}: expected a backup, found ${str(d.found) || 'an empty directory'}`,
    hint: () => 'name the directory that `apppkg-gateway backup APP_DIR --to DIR` wrote; nothing was changed',
    exitStatus: 1,
    example: { path: '/var/backups/blog' },
  },
  APPPKG_BACKUP_FOREIGN: {
    summary: '`restore --from DIR` found no `apppkg-backup.json` there, or a backup of another app; nothing was changed.',
    message: (d) => `restore --from ${str(d.path)}: expected a backup of ${str(d.app)}, found ${str(d.found)}`,
    hint: () => 'name a directory written by `apppkg-gateway backup` for this app (it holds apppkg-backup.json); nothing was changed',
    exitStatus: 1,
    example: { path: '/var/backups/shop', app: 'blog', found: 'a backup of shop' },
  },
  APPPKG_NOT_CONFIRMED: {
    summary: '`uninstall` was not confirmed: the answer was not `y`, or stdin is not a terminal and `--yes` was not given. Nothing was removed.',
    message: (d) => `${str(d.action)} not confirmed: ${str(d.reason)}; nothing was removed`,
    hint: () => 'answer y at the prompt, or pass --yes (needed when stdin is not a terminal, as in scripts)',
    exitStatus: 1,
    example: { action: 'uninstall of blog', reason: 'the answer was not "y"' },
  },
  APPPKG_REMOVE_FAILED: {
    summary: '`uninstall` could not remove the app\'s state directory, or refused to because the app directory lies inside it (keep app directories outside the state root).',
    message: (d) => `cannot remove ${str(d.path)}: ${str(d.reason)}`,
    hint: (d) => str(d.fix) || 'run uninstall as the user that owns the state directory (or root), then run it again',
    exitStatus: 1,
    example: { path: '/var/lib/apppkg-gateway/blog', reason: 'EACCES: permission denied' },
  },
  APPPKG_INIT_EXISTS: {
    summary: '`init` found an `app.yaml` already there, and left it as it was; `--force` replaces it.',
    // The file is the location format() puts before the message: "/srv/apps/blog/app.yaml: already exists; ...".
    message: () => 'already exists; init did not overwrite it',
    hint: (d) => `edit it, or run \`apppkg-gateway init ${str(d.dir) || 'DIR'} --force\` to replace it with a new one`,
    exitStatus: 1,
    example: { file: '/srv/apps/blog/app.yaml', dir: '/srv/apps/blog' },
  },
  APPPKG_INIT_NO_APP: {
    summary: '`init` found no WSGI or ASGI application object in the project, and wrote nothing.',
    message: (d) => `found no WSGI or ASGI application object in ${str(d.dir)}; no app.yaml was written`,
    hint: () =>
      'write app.yaml by hand, two lines: `platform: python, wsgi` (or `asgi`) and `app: module:object`, ' +
      'e.g. `app: myapp.wsgi:application` for an `application` in myapp/wsgi.py (README "The description")',
    exitStatus: 1,
    example: { dir: '/srv/apps/blog' },
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
