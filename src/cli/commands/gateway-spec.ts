// The options of `apppkg-gateway --apps DIR`, apart from the command that runs them (gateway.ts):
// `--help`, `help` and a bare `apppkg-gateway` print them, and loading the gateway with its
// supervisor, proxy and admin server only to print its options was ~200 ms of CPU each time.
import { APP_OPTIONS, APP_OPTION_HELP, type CommandSpec } from '../args.js';
import { GatewayError } from '../../errors.js';
import { DEFAULT_ADMIN } from '../../admin/default-admin.js';
import type { OptionNames } from '../../gateway-options.js';
import { CLI_COMMAND_WORDS } from '../../command-words.js';

/** The flags that give Gateway.start's options whose values it may refuse: what its messages name here. */
export const GATEWAY_FLAGS: OptionNames = { apps: '--apps', environment: '--environment', listen: '--listen', admin: '--admin', adminTokenFile: '--admin-token', trustProxy: '--trust-proxy', accessLog: '--access-log', stateDir: '--state-dir', socketOwner: '--socket-owner', hookTimeout: '--hook-timeout', maxWorkers: '--max-workers', grace: '--grace', watchInterval: '--watch-interval', commands: CLI_COMMAND_WORDS };

export const spec: CommandSpec = {
  name: '',
  summary: 'Serve every app package under DIR behind one listener (APPPKG_ENV=production).',
  usage: 'apppkg-gateway --apps DIR [--listen ADDR]... [--admin ADDR] [--admin-token FILE] [--environment FILE] [--trust-proxy[=ADDR,...]]',
  // `--trust-proxy` alone trusts every peer; `--trust-proxy=ADDR,...` only those.
  normalizeArgv: (argv) =>
    argv.map((a, i) => {
      if (a !== '--trust-proxy') return a;
      // The peers written after a space (as --listen takes its value) were an "unexpected argument".
      const next = argv[i + 1];
      if (next !== undefined && !next.startsWith('-')) {
        throw new GatewayError('APPPKG_USAGE', { reason: `--trust-proxy: its peers follow "=", found ${JSON.stringify(next)} after a space`, command: '', fix: `write --trust-proxy=${next}: its peers follow "=" (--trust-proxy alone trusts any peer)` });
      }
      return '--trust-proxy=*';
    }),
  optionHelp: [
    ['--apps DIR', 'the directory holding the app packages (each a directory with app.yaml)'],
    ['-l, --listen ADDR', 'PORT, HOST:PORT, its http://HOST:PORT/ URL or unix:/path; repeatable (default 127.0.0.1:8000)'],
    ['--trust-proxy[=ADDR,...]', 'believe X-Forwarded-For/-Proto/-Host/-Port from these peers (IPs, CIDRs, loopback; alone: any peer), as behind nginx'],
    ['--socket-mode MODE', 'file mode of unix: listeners, octal (default 0660)'],
    ['--socket-owner USER[:GROUP]', 'owner of unix: listeners, e.g. root:www-data so that nginx can connect'],
    ['--admin ADDR', `admin listener (an ADDR as --listen's): the status page, /status, /metrics, logs, restart; never public (default ${DEFAULT_ADMIN})`],
    ['--admin-token FILE', 'every admin route then needs the token in FILE (Bearer, or a browser\'s password); needed on an address other than loopback; SIGHUP reads it again, and a new token ends the streams the old one opened'],
    ['--access-log FILE', 'where the access log goes: a file (SIGUSR1 opens it again, after logrotate moved it, and the apps\' logs too), - for stdout (default), off'],
    ['--watch-interval SECONDS', 'how often --apps is rescanned for changes (default 2; 0 = only on SIGHUP)'],
    ['--settle SECONDS', 'how long a version\'s directory must not change before it is started or refused (default 1)'],
    ['--hook-timeout SECONDS', 'how long commands.install (first start) or commands.update (new version) may run before it is stopped and its version refused (default 600)'],
    ['--max-workers N', 'Python workers of all apps together; past it the least recently used quiet app sleeps until its next request'],
    ['--grace SECONDS', 'how long requests in flight, then the workers\' own shutdown, may take on SIGTERM (default 30)'],
    ['--header-timeout SECONDS', 'how long a client may take to send a request head, then 408 and closed; also how long an answer ready before its body waits for the body\'s first byte (default 20)'],
    ['-e, --environment FILE', 'the host\'s environment file (settings, routes, workers, limits per app); SIGHUP reads it again and restarts only the apps whose settings changed'],
    ...APP_OPTION_HELP.filter(([flag]) => !flag.includes('--environment')),
  ],
  options: {
    apps: { type: 'string' },
    listen: { type: 'string', short: 'l', multiple: true },
    admin: { type: 'string' },
    'admin-token': { type: 'string' },
    'socket-mode': { type: 'string' },
    'trust-proxy': { type: 'string' },
    'socket-owner': { type: 'string' },
    'access-log': { type: 'string' },
    grace: { type: 'string' },
    'header-timeout': { type: 'string' },
    'watch-interval': { type: 'string' },
    settle: { type: 'string' },
    'hook-timeout': { type: 'string' },
    'max-workers': { type: 'string' },
    ...APP_OPTIONS,
  },
  allowPositionals: 0,
  otherSpellings: {
    '--port': "the gateway listens on --listen HOST:PORT (--listen 127.0.0.1:8080; given again for more addresses); --host and --port are serve's",
    '-p': "the gateway listens on --listen HOST:PORT (--listen 127.0.0.1:8080); -p is serve's",
    '--host': "the gateway listens on --listen HOST:PORT (--listen 0.0.0.0:8080); --host and --port are serve's",
    '--bind': "gunicorn's --bind HOST:PORT is --listen HOST:PORT here",
    '-b': "gunicorn's -b HOST:PORT is --listen HOST:PORT here",
    '--reload': "--reload is serve's, for one app in development; under --apps a new version directory or a changed app.yaml is taken up without it (SIGHUP looks at once)",
    '--workers': 'under --apps each app has its own: `workers: N` under apps.NAME, or under defaults: for every app, in the environment file (--environment FILE)',
    '--threads': 'under --apps each app has its own: `threads: N` under apps.NAME, or under defaults: for every app, in the environment file (--environment FILE)',
  },
};
