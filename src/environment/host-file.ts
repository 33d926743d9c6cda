// The host's environment file (SPEC §2, `--environment FILE`): settings injected into apps and
// how each app runs. Validated by the same machinery as app.yaml (schema/environment.schema.json,
// every problem at once, file:line:column on each).

import path from 'node:path';
import { domainToASCII } from 'node:url';
import { GatewayError } from '../errors.js';
import { loadYamlWithSchema } from '../description/load-yaml.js';
import { pathPrefixFix } from '../description/path-prefix-fix.js';
import { settingNameLike, type FixFor, type UnknownKeyFix } from '../description/schema-problems.js';
import { readSchema } from '../description/validators.js';
import { keyLabel, setOwn, toList, type YamlFile, type YamlPath } from '../description/yaml-file.js';
import { parseAddr } from '../net/address.js';
import { parseOwner } from '../net/listen.js';
import { maskUrlPassword, parseServiceUrl, USER_INFO_ENCODING, userInfoDecodes } from '../net/service-url.js';
import { SSL_MODES } from '../services/postgresql-tls.js';
import { SSL_CERT_REQS } from '../services/redis-server.js';

/** Per-app keys that `defaults:` may also set. null = not set: the gateway's own default applies. */
export interface AppOverrides {
  workers: number | null;
  threads: number | null;
  /** A user name or a numeric uid, as text. */
  user: string | null;
  /** 0 = never recycle. */
  maxRequests: number | null;
  /** Bytes. */
  maxMemory: number | null;
  /** An absolute interpreter path, or a command name to look up on PATH. */
  python: string | null;
  /** Seconds. */
  timeout: number | null;
  /** Bytes. */
  maxBody: number | null;
  /** Requests that may wait for a free worker thread before 503; 0 = none wait. */
  queue: number | null;
  /** Seconds a replaced version drains (requests finish, websockets stay); null = --grace. */
  drain: number | null;
  /** Seconds idle before the app's workers stop (SPEC 5.6); null = never. */
  idleTimeout: number | null;
  /** Seconds a worker may take to import the app and pass its probe; null = 60. */
  startTimeout: number | null;
}

export interface HostAppConfig extends AppOverrides {
  settings: Record<string, string>;
  /** Lowercase, without a trailing dot. */
  hosts: string[];
  /** Starts with "/", no trailing "/" (except "/" itself); null = the default /NAME. */
  mount: string | null;
  /** Lowercase mail domains routed to it (SPEC 5.3); empty = the default NAME.localhost. */
  mailDomains: string[];
  /** Kubernetes replicas (SPEC 5.5); null = `defaults.replicas`, else 1. */
  replicas: number | null;
}

/**
 * `defaults:`: the per-app keys, and `replicas`, which only `export kubernetes` reads. Kept out
 * of AppOverrides so that an edit to it is no change for the running gateway (appChanges).
 */
export interface HostDefaults extends AppOverrides {
  /** Kubernetes replicas of every app without its own (SPEC 5.5); null = 1. */
  replicas: number | null;
}

/** The servers the host offers apps (SPEC 5.2), as URLs; null = none of that kind. */
export interface HostServices {
  postgresql: string | null;
  redis: string | null;
}

/** The mail listener (SPEC 5.3), defaults applied. */
export interface MailListenerConfig {
  /** As written: PORT, HOST:PORT or unix:/path. */
  listen: string;
  lmtp: boolean;
  /** Bytes. */
  maxSize: number;
  maxRecipients: number;
  /** Seconds between delivery attempts; the last repeats. */
  retry: number[];
  /** Seconds after which an undelivered message is a dead letter. */
  giveUp: number;
  /** Seconds a client may stay silent (421 past it). */
  timeout: number;
  /** The app that takes mail for the domainless `postmaster` (RFC 5321 4.5.1); null: kept as a dead letter. */
  postmaster: string | null;
  /**
   * `USER`, `USER:GROUP` or `:GROUP` a `unix:` listener's socket is given to, as written; null:
   * the gateway's own. Postfix's lmtp client connects as `postfix`, not as the gateway's user.
   */
  socketOwner: string | null;
}

/** Each `mail:` key's name in the file. */
export const MAIL_KEYS = {
  listen: 'listen', lmtp: 'lmtp', maxSize: 'max_size', maxRecipients: 'max_recipients', retry: 'retry', giveUp: 'give_up', timeout: 'timeout', postmaster: 'postmaster', socketOwner: 'socket_owner',
} as const satisfies Record<keyof MailListenerConfig, string>;

export const MAIL_DEFAULTS = { maxSize: 25 * 1024 * 1024, maxRecipients: 100, retry: [60, 300, 900, 3600, 14400], giveUp: 2 * 24 * 3600, timeout: 300 } as const;

/** Where a value was written in the environment file: an error about it points there (SPEC §1.1). */
export interface FilePlace {
  file: string;
  line: number;
  column: number;
  /** The key as messages name it: `defaults.python`, `apps.blog.python`. */
  key: string;
}

export interface HostEnvironment {
  /** Absolute path of the file; null when the host gave none. */
  file: string | null;
  /** Injected into every app. */
  settings: Record<string, string>;
  /** The default interpreter (`python:` at the top level). */
  python: string | null;
  /**
   * `drain:` at the top level, every app's unless `defaults:` or its entry names one: SPEC 5.1
   * names `drain` as a key of "the environment file" without a section, so it is written there.
   */
  drain: number | null;
  /**
   * Where each interpreter and user the file names was written, by its key (`python`,
   * `defaults.python`, `apps.blog.user`), and each entry of `apps:` (`apps.blog`): what only a
   * start can find wrong with them (an interpreter that does not run, a user the host lacks, an
   * app that is not there) is reported there.
   */
  places: Record<string, FilePlace>;
  defaults: HostDefaults;
  apps: Record<string, HostAppConfig>;
  services: HostServices;
  mail: MailListenerConfig | null;
}

/** Each per-app key's name in the file. */
export const OVERRIDE_KEYS = {
  workers: 'workers', threads: 'threads', user: 'user', maxRequests: 'max_requests',
  maxMemory: 'max_memory', python: 'python', timeout: 'timeout', maxBody: 'max_body', queue: 'queue', drain: 'drain', idleTimeout: 'idle_timeout',
  startTimeout: 'start_timeout',
} as const satisfies Record<keyof AppOverrides, string>;

function noOverrides(): AppOverrides {
  return { workers: null, threads: null, user: null, maxRequests: null, maxMemory: null, python: null, timeout: null, maxBody: null, queue: null, drain: null, idleTimeout: null, startTimeout: null };
}

/** What the gateway uses when the host gave no environment file. */
export function emptyHostEnvironment(): HostEnvironment {
  return { file: null, settings: {}, python: null, drain: null, places: {}, defaults: { ...noOverrides(), replicas: null }, apps: {}, services: { postgresql: null, redis: null }, mail: null };
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** The least max_memory written without a unit: below it the number was meant in megabytes. */
const MIN_BARE_MAX_MEMORY = 1024 ** 2;

/**
 * The least max_memory at all. Measured: the shim's worker, once it has imported a stdlib hello
 * app and served it, is 13 MiB resident on CPython 3.9, 17 MiB on 3.11 and 3.13 (an ASGI one 19
 * to 26 MiB). Under 16 MiB no worker of a real app fits: each would be over it from its start.
 */
export const MIN_MAX_MEMORY = 16 * 1024 ** 2;

/** `512`, or `"512"`: a size without its unit. */
function isBareNumber(value: string | number): boolean {
  return typeof value === 'number' || /^\s*\d+(?:\.\d+)?\s*$/.test(value);
}

/**
 * `512MB`, `1.5G`, `10 MiB`, `512Mi`, `4096` -> bytes. Units are binary whatever their spelling
 * (1MB = 1024*1024), as nginx's client_max_body_size and uWSGI's limits read them.
 * Returns null for text that is not a size. It reads every spelling the schema's pattern lets
 * through (Kubernetes' `Mi` included): one it let through and this did not read was no limit.
 */
export function parseSize(value: string | number): number | null {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : null;
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])i?b?|b)?\s*$/i.exec(value);
  if (!match) return null;
  return Math.round(Number(match[1]) * UNITS[(match[2] ?? '').toLowerCase()]);
}

/** A setting's value as the app will see it: numbers and booleans as written in the file. */
function settingText(yaml: YamlFile, at: YamlPath, value: unknown): string {
  return typeof value === 'string' ? value : yaml.sourceText(at) ?? String(value);
}

function readSettings(yaml: YamlFile, at: YamlPath): Record<string, string> {
  const settings: Record<string, string> = {};
  const raw = yaml.raw(at);
  if (raw === null || typeof raw !== 'object' || yaml.failedAtOrAbove(at)) return settings;
  for (const name of Object.keys(raw)) {
    const value = yaml.valid([...at, name]);
    if (value !== undefined) setOwn(settings, name, settingText(yaml, [...at, name], value));
  }
  return settings;
}

function readOverrides(yaml: YamlFile, at: YamlPath, file: string): AppOverrides {
  const overrides = noOverrides();
  const value = (key: keyof AppOverrides): unknown => yaml.valid([...at, OVERRIDE_KEYS[key]]);
  const num = (key: keyof AppOverrides): number | null => {
    const v = value(key);
    return typeof v === 'number' ? v : null;
  };
  overrides.workers = num('workers');
  overrides.threads = num('threads');
  overrides.maxRequests = num('maxRequests');
  overrides.timeout = num('timeout');
  overrides.queue = num('queue');
  overrides.drain = num('drain');
  overrides.idleTimeout = num('idleTimeout');
  overrides.startTimeout = num('startTimeout');
  const user = value('user');
  overrides.user = typeof user === 'string' || typeof user === 'number' ? String(user) : null;
  overrides.python = interpreterPath(value('python'), file);
  for (const key of ['maxMemory', 'maxBody'] as const) {
    const v = value(key);
    if (typeof v !== 'string' && typeof v !== 'number') continue;
    const bytes = parseSize(v);
    if (key === 'maxMemory' && bytes === 0) {
      const where = [...at, OVERRIDE_KEYS[key]];
      yaml.report('APPPKG_DESC_BAD_VALUE', where, {
        expected: 'a size greater than 0, like "512MB"',
        found: yaml.found(where),
        fix: 'leave max_memory out to never recycle a worker for its memory',
      });
    } else if (key === 'maxMemory' && bytes !== null && bytes < MIN_BARE_MAX_MEMORY && isBareNumber(v)) {
      // A bare number is bytes, as documented; `max_memory: 512` meant megabytes, and no Python
      // process fits in 512 bytes: every worker was recycled at its first request, all at once.
      const where = [...at, OVERRIDE_KEYS[key]];
      yaml.report('APPPKG_DESC_BAD_VALUE', where, {
        expected: 'a size with its unit, like "512MB" (a number alone is bytes, and under 1MB no Python process fits)',
        found: yaml.found(where),
        fix: `write the unit: max_memory: ${String(v).trim()}MB (or ${String(v).trim()}M, ${String(v).trim()}Mi: units are binary), or a number of bytes of at least ${MIN_MAX_MEMORY}`,
      });
    } else if (key === 'maxMemory' && bytes !== null && bytes < MIN_MAX_MEMORY) {
      // `512k` is no typo for megabytes the check above could guess, but no Python worker fits
      // in it either: every worker would be recycled at its first request, or at every one.
      const where = [...at, OVERRIDE_KEYS[key]];
      yaml.report('APPPKG_DESC_BAD_VALUE', where, {
        expected: 'a size of at least 16MB (16 MiB; a Python worker takes 13 to 18 MiB once it has imported a hello app, an ASGI one up to 26 MiB)',
        found: yaml.found(where),
        fix: "write the size the app's workers take after their import plus what they grow by (status shows each worker's RSS), e.g. max_memory: 512MB, or leave max_memory out to never recycle a worker for its memory",
      });
    }
    overrides[key] = bytes;
  }
  return overrides;
}

/** Fix hints that depend on the value found. */
const environmentFixFor: FixFor = (key, value) => {
  if (/(^|\.)settings$/.test(key) && typeof value === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(value)) {
    // A well-formed name refused: one the gateway sets (the schema's `not`); its x-fix says so.
    return undefined;
  }
  if (/(^|\.)settings$/.test(key) && typeof value === 'string' && !/[,\s]/.test(value)) {
    return `name it with letters, digits and "_" only, e.g. ${settingNameLike(value)}`;
  }
  if (/\.mount$/.test(key) && typeof value === 'string') return pathPrefixFix('mount', value);
  // A host written as a URL or with its port (nginx's server_name has neither): the name alone
  // routes every port, since the Host is compared without it.
  if (/\.(hosts|mail_domains)(\[\d+\])?$/.test(key) && typeof value === 'string') {
    if (value.includes('*') && !(key.includes('.hosts') && /^\*\.[^*]+$/.test(value.trim()))) return wildcardFix(key.includes('.hosts'), value.trim());
    const bare = /^(?:[a-z][a-z0-9+.-]*:\/\/)?([^/:\s]+)(?::\d*)?(?:\/.*)?$/i.exec(value.trim())?.[1];
    if (bare !== undefined && bare !== value) {
      return key.includes('.hosts')
        ? `write the host name alone, ${bare}: no scheme, port or path (a request is routed by its Host whatever port it names)`
        : `write the domain alone, ${bare}: no scheme, port or path`;
    }
    // An internationalised name reaches the gateway in its ASCII form (IDNA: browsers send
    // `Host: xn--bcher-kva.example` for bücher.example, nginx's server_name takes that form too).
    const wild = value.trim().startsWith('*.') ? '*.' : '';
    const named = domainToASCII(value.trim().slice(wild.length));
    const ascii = /[^\x00-\x7f]/.test(value) && named !== '' ? `${wild}${named}` : '';
    if (ascii !== '') {
      return key.includes('.hosts') ? `write it in its ASCII form, ${ascii}: clients send an internationalised host name so (IDNA)` : `write it in its ASCII form (IDNA), ${ascii}`;
    }
  }
  return undefined;
};

/**
 * Only nginx's leading form of a wildcard is routed (`*.example.com`); its trailing one
 * (`www.example.*`) and regular expressions are not, and a mail domain is named one by one.
 */
function wildcardFix(isHost: boolean, value: string): string {
  if (!isHost) return 'name each mail domain in full (a wildcard is taken for hosts: only)';
  if (value === '*' || value === '*.') return 'leave hosts: out and mount the app at / (mount: /): it then answers every Host that no app names';
  const domain = value.replace(/^[*.]+/, '').replace(/[*.]+$/, '');
  return domain === '' || domain.includes('*')
    ? "write a wildcard as '*.' and a domain, e.g. *.example.com: it takes every name under that domain that no app names itself"
    : `write it as *.${domain}: it takes every name under ${domain} that no app names itself (list ${domain} too for the domain itself)`;
}

/** An interpreter named in the file: absolute, a bare command for PATH, or relative to the file. */
function interpreterPath(value: unknown, file: string): string | null {
  if (typeof value !== 'string') return null;
  if (path.isAbsolute(value) || !value.includes('/')) return value;
  return path.resolve(path.dirname(file), value);
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' ? v : null);

/**
 * services.`kind`: a URL of one of `protocols`, or a problem at its place (its password hidden):
 * a typo is the host's to correct, not a server to wait for.
 */
function serviceUrl(yaml: YamlFile, kind: string, protocols: string[], expected: string, otherProblem?: (url: URL) => string | null): string | null {
  const value = str(yaml.valid(['services', kind]));
  if (value === null) return null;
  const parsed = parseServiceUrl(value);
  // A password written as it is, not percent-encoded, is the usual cause of a URL that does not
  // parse or does not decode; its text is masked in the message, so the fix has to say it.
  const encoded = `${expected}, ${USER_INFO_ENCODING}`;
  const problem =
    parsed === null ? (value.includes('@') ? encoded : expected)
    : !protocols.includes(parsed.url.protocol) ? (kind === 'redis' && /^(redis\+)?unix:$/.test(parsed.url.protocol) ? REDIS_UNIX_SOCKET : expected)
    : !userInfoDecodes(parsed.url) ? encoded
    : (otherProblem?.(parsed.url) ?? null);
  if (problem === null) return value;
  yaml.report('APPPKG_DESC_BAD_VALUE', ['services', kind], { expected: problem, found: JSON.stringify(maskUrlPassword(value)), fix: `correct services.${kind}: ${problem}` });
  return null;
}

/**
 * The gateway makes each app's Redis user over TCP (ioredis), and an app's REDIS_URL names the
 * same server: a unix socket would need both, and the apps' clients, to take its path.
 */
const REDIS_UNIX_SOCKET = 'a redis:// or rediss:// URL over TCP, as in redis://127.0.0.1:6379: a Redis on a unix socket alone is not supported; give it a loopback port too (port 6379 and bind 127.0.0.1 in redis.conf)';

/** An sslmode libpq does not know was taken for none: the gateway connected without TLS. */
function postgresTlsProblem(url: URL): string | null {
  const mode = url.searchParams.get('sslmode');
  if (mode === null || (SSL_MODES as readonly string[]).includes(mode)) return null;
  return `an sslmode that libpq knows: ${SSL_MODES.join(', ')}`;
}

/**
 * A Redis URL's database is a number, after the port or as `?db=` (redis-py reads both): any
 * other was taken for database 0, and every app's keys went there instead of where the host meant.
 */
function redisDatabaseProblem(url: URL): string | null {
  const path = url.pathname.replace(/^\//, '');
  const query = url.searchParams.get('db');
  if (/^\d*$/.test(path) && (query === null || /^\d+$/.test(query))) return null;
  return 'a database number after the port, as in redis://127.0.0.1:6379/0';
}

/**
 * rediss:'s `ssl_cert_reqs` (8609bdd) as redis-py takes it: any other value was taken for
 * `required` by the gateway, and made every app's redis-py refuse its REDIS_URL at connect.
 */
function redisTlsProblem(url: URL): string | null {
  const reqs = url.searchParams.get('ssl_cert_reqs');
  if (url.protocol !== 'rediss:' || reqs === null || (SSL_CERT_REQS as readonly string[]).includes(reqs)) return null;
  return `an ssl_cert_reqs that redis-py knows: ${SSL_CERT_REQS.join(', ')}`;
}

/** `mail:` with its defaults, or null when the host runs no mail listener. */
function readMail(yaml: YamlFile): MailListenerConfig | null {
  const listen = yaml.valid(['mail', 'listen']);
  if (typeof listen !== 'string' && typeof listen !== 'number') return null;
  // Checked here, at its line, with the file's other mistakes: found only when the listener
  // binds, after every app has started, it stopped them all again with no place in the file,
  // and `check` said the app receives mail on an address nothing can listen on.
  try {
    parseAddr(String(listen), 'mail.listen');
  } catch (err) {
    const details = (err as GatewayError).details ?? {};
    yaml.report('APPPKG_DESC_BAD_VALUE', ['mail', 'listen'], {
      expected: typeof details.expected === 'string' ? details.expected : 'PORT, HOST:PORT or unix:/path, e.g. 127.0.0.1:2525',
      found: yaml.found(['mail', 'listen']),
      fix: typeof details.fix === 'string' ? details.fix : 'write mail.listen: 127.0.0.1:2525 (a port up to 65535), or unix:/run/apppkg/mail.sock',
    });
    return null;
  }
  const num = (key: string): number | null => {
    const v = yaml.valid(['mail', key]);
    return typeof v === 'number' ? v : null;
  };
  const size = yaml.valid(['mail', 'max_size']);
  const retry = yaml.valid(['mail', 'retry']);
  return {
    listen: String(listen),
    lmtp: yaml.valid(['mail', 'lmtp']) === true,
    maxSize: (typeof size === 'string' || typeof size === 'number' ? parseSize(size) : null) ?? MAIL_DEFAULTS.maxSize,
    maxRecipients: num('max_recipients') ?? MAIL_DEFAULTS.maxRecipients,
    retry: Array.isArray(retry) && retry.every((r) => typeof r === 'number') ? (retry as number[]) : [...MAIL_DEFAULTS.retry],
    giveUp: num('give_up') ?? MAIL_DEFAULTS.giveUp,
    timeout: num('timeout') ?? MAIL_DEFAULTS.timeout,
    postmaster: str(yaml.valid(['mail', 'postmaster'])),
    socketOwner: readSocketOwner(yaml, String(listen)),
  };
}

/**
 * `mail.socket_owner`, whose user and group must exist now (the socket is given to them once the
 * listener binds, after every app has started), and only for a `unix:` listen; else reported at its line.
 */
function readSocketOwner(yaml: YamlFile, listen: string): string | null {
  const owner = str(yaml.valid(['mail', 'socket_owner']));
  if (owner === null) return null;
  let problem: string | null = null;
  if (!listen.startsWith('unix:')) problem = 'socket_owner only beside listen: unix:/path (a TCP port has no owner)';
  else {
    try {
      parseOwner(owner);
    } catch {
      problem = 'a user (and group) of this host';
    }
  }
  if (problem === null) return owner;
  yaml.report('APPPKG_DESC_BAD_VALUE', ['mail', 'socket_owner'], {
    expected: problem,
    found: yaml.found(['mail', 'socket_owner']),
    fix: 'write socket_owner: postfix (USER, USER:GROUP or :GROUP) for Postfix\'s lmtp:unix: transport, with listen: unix:/run/apppkg-gateway/lmtp.sock, or leave socket_owner out',
  });
  return null;
}

/**
 * The names under apps.NAME.`key` (hosts, mail_domains), lower-case and without a final dot,
 * each claimed for the app in `owners`; one another app has claimed is reported at its place.
 */
function claimNames(yaml: YamlFile, at: YamlPath, key: string, owners: Map<string, string>, what: string, fix: string): string[] {
  const name = String(at[at.length - 1]);
  const claimed: string[] = [];
  const value = yaml.valid([...at, key]);
  toList(value).forEach((entry, i) => {
    const normal = entry.toLowerCase().replace(/\.$/, '');
    const owner = owners.get(normal);
    if (owner !== undefined && owner !== name) {
      const where = Array.isArray(value) ? [...at, key, i] : [...at, key];
      yaml.report('APPPKG_DESC_BAD_VALUE', where, { expected: `${what} no other app has (apps.${owner} has ${normal})`, found: yaml.found(where), fix });
    } else if (!claimed.includes(normal)) {
      owners.set(normal, name);
      claimed.push(normal);
    }
  });
  return claimed;
}

function normaliseEnvironment(yaml: YamlFile, file: string): HostEnvironment {
  const env: HostEnvironment = {
    file,
    settings: readSettings(yaml, ['settings']),
    python: interpreterPath(yaml.valid(['python']), file),
    drain: num(yaml.valid(['drain'])),
    places: {},
    defaults: { ...readOverrides(yaml, ['defaults'], file), replicas: num(yaml.valid(['defaults', 'replicas'])) },
    apps: {},
    services: {
      postgresql: serviceUrl(yaml, 'postgresql', ['postgresql:', 'postgres:'], 'a postgresql:// URL as libpq takes it (postgresql:///postgres?host=/var/run/postgresql)', postgresTlsProblem),
      redis: serviceUrl(yaml, 'redis', ['redis:', 'rediss:'], 'a redis:// or rediss:// URL (redis://127.0.0.1:6379)', (url) => redisDatabaseProblem(url) ?? redisTlsProblem(url)),
    },
    mail: readMail(yaml),
  };
  const apps = yaml.raw(['apps']);
  const appNames = apps === null || typeof apps !== 'object' || yaml.failedAtOrAbove(['apps']) ? [] : Object.keys(apps);
  const placed = [['python'], ['defaults', 'python'], ['defaults', 'user'], ...appNames.flatMap((name) => [['apps', name, 'python'], ['apps', name, 'user']])];
  for (const at of placed) {
    if (typeof yaml.valid(at) === 'string') setOwn(env.places, keyLabel(at), { file, ...yaml.position(at), key: keyLabel(at) });
  }
  // An entry naming no app under --apps is said at its own line (unknown-apps.ts).
  for (const name of appNames) setOwn(env.places, keyLabel(['apps', name]), { file, ...yaml.position(['apps', name], 'key'), key: keyLabel(['apps', name]) });
  if (appNames.length === 0) return env;
  // Two apps answering one Host or one mount would make routing depend on order: refuse.
  const hostOwners = new Map<string, string>();
  const mountOwners = new Map<string, string>();
  // Likewise a mail domain: two apps claiming one would have its mail go to whichever came first.
  const mailOwners = new Map<string, string>();
  for (const name of appNames) {
    const at = ['apps', name];
    if (yaml.failedAtOrAbove(at)) continue;
    const hosts = claimNames(yaml, at, 'hosts', hostOwners, 'a host', 'route each host name to one app');
    const mountValue = yaml.valid([...at, 'mount']);
    let mount: string | null = null;
    if (typeof mountValue === 'string') {
      mount = mountValue.replace(/\/+$/, '') || '/';
      const owner = mountOwners.get(mount);
      if (owner !== undefined) {
        yaml.report('APPPKG_DESC_BAD_VALUE', [...at, 'mount'], {
          expected: `a mount no other app has (${keyLabel(['apps', owner, 'mount'])} is ${mount})`,
          found: yaml.found([...at, 'mount']),
          fix: 'mount each app at its own path, or tell them apart by hosts',
        });
      }
      mountOwners.set(mount, name);
    }
    const mailDomains = claimNames(yaml, at, 'mail_domains', mailOwners, 'a mail domain', 'give each mail domain to one app');
    setOwn(env.apps, name, {
      settings: readSettings(yaml, [...at, 'settings']), hosts, mount, mailDomains, replicas: num(yaml.valid([...at, 'replicas'])), ...readOverrides(yaml, at, file),
    });
  }
  return env;
}

/**
 * Loads and checks an environment file. Throws APPPKG_ENVFILE_NOT_FOUND, APPPKG_FILE_UNREADABLE,
 * or APPPKG_ENVFILE_INVALID carrying every problem (each an APPPKG_DESC_* with its position).
 * An empty file is a valid one. `key` is the option that named the file, as the caller wrote it
 * (the CLI's `--environment`, the default; the library's `environment`): a missing file is its fix.
 */
export async function loadEnvironmentFile(file: string, key = '--environment'): Promise<HostEnvironment> {
  const absolute = path.resolve(file);
  return loadYamlWithSchema(absolute, readSchema('environment'), {
    // A directory (`-e /etc/apppkg-gateway`) is there: "no such file" sent the user looking for it.
    notFound: (code) => new GatewayError('APPPKG_ENVFILE_NOT_FOUND', { file: absolute, key, directory: code === 'EISDIR' }),
    invalidCode: 'APPPKG_ENVFILE_INVALID',
    fixFor: environmentFixFor,
    unknownKeyFix: misplacedKeyFix,
    normalise: (yaml) => normaliseEnvironment(yaml, absolute),
  });
}

/** A key written as an environment variable's name is (upper case), which no key of the file is. */
const SETTING_LIKE = /^[A-Z][A-Z0-9_]*$/;

/**
 * SPEC names `lmtp: true` and the services' URLs as keys of "the environment file" without their
 * section, so they get written at its top level (or `mail_domains` under `mail:`); "remove it"
 * would tell such a user to drop what they need. Says which section holds the key. (`drain`, named
 * so too, is taken at the top level: every app's drain.)
 */
const misplacedKeyFix: UnknownKeyFix = (at, key, value) => {
  const schema = readSchema('environment');
  const keysOf = (node: unknown): Set<string> => new Set(Object.keys(((node as { properties?: object } | undefined)?.properties) ?? {}));
  const shown = typeof value === 'string' && value !== '' && !value.includes('\n') ? value.trim() : '...';
  const top = at.length === 0;
  const appEntry = at.length === 2 && at[0] === 'apps';
  // A setting written as a key of its own (`SMTP_HOST: localhost` at the top, `DATABASE_URL:`
  // in an app's entry), or the shared settings put under defaults:: "remove it" would drop
  // what the app needs.
  if (SETTING_LIKE.test(key) && (top || appEntry || (at.length === 1 && at[0] === 'defaults'))) {
    return {
      elsewhere: `a setting (an environment variable for the app${appEntry ? '' : 's'}), which goes under settings:`,
      fix: appEntry
        ? `write it under the app's settings: apps: {${String(at[1])}: {settings: {${key}: ${shown}}}}`
        : `write it under settings: for every app (settings: {${key}: ${shown}}), or for one app under its name: apps: {NAME: {settings: {${key}: ${shown}}}}`,
    };
  }
  if (key === 'settings' && at.length === 1 && at[0] === 'defaults') {
    return {
      elsewhere: "a key of the file's top level, not of defaults:",
      fix: "move it to the top level: the file's own settings: is given to every app (an app's entry under apps: adds to it or overrides it)",
    };
  }
  if ((top || at[0] === 'mail' || at[0] === 'services') && keysOf((schema.definitions as Record<string, unknown>).app).has(key)) {
    const inDefaults = keysOf((schema.properties as Record<string, unknown>).defaults).has(key);
    return {
      elsewhere: `a key of each app's entry${inDefaults ? ' (or of defaults:)' : ''}, not of ${top ? "the file's top level" : `${String(at[0])}:`}`,
      fix: `write it under ${inDefaults ? `defaults: for every app (defaults: {${key}: ${shown}}), or ` : ''}the app's name: apps: {NAME: {${key}: ${shown}}}`,
    };
  }
  for (const section of ['mail', 'services'] as const) {
    if ((top || (at.length === 2 && at[0] === 'apps')) && keysOf((schema.properties as Record<string, unknown>)[section]).has(key)) {
      return {
        elsewhere: `a key of ${section}:, not of ${top ? "the file's top level" : "an app's entry"}`,
        fix: `write it under ${section}: (${section}: {${key}: ${shown}})${section === 'mail' ? ', the one mail listener of the gateway' : ', the servers every app is given from'}`,
      };
    }
  }
  return undefined;
};

/** One app's configuration with `defaults:` and the shared values applied. */
export interface MergedAppConfig extends HostAppConfig {
  /** Where the file names the interpreter `python` is (null: none named, or no file). */
  pythonAt: FilePlace | null;
  /** Where it names `user` (null: none named). */
  userAt: FilePlace | null;
}

/**
 * One per-app key of `appName` (its entry under apps: over `defaults:`), without the whole of
 * overridesFor: the registry asks for it for every app at every publish.
 */
export function overrideOf<K extends keyof AppOverrides>(env: HostEnvironment, appName: string, key: K): AppOverrides[K] {
  const app = Object.hasOwn(env.apps, appName) ? env.apps[appName] : undefined;
  const own = app?.[key] ?? env.defaults[key];
  return key === 'drain' ? ((own ?? env.drain) as AppOverrides[K]) : own;
}

/**
 * How the host runs the app `appName`: its entry under apps: over `defaults:`, the interpreter
 * and the drain falling back to the top-level `python:` and `drain:`, and its settings over the
 * shared ones.
 */
export function overridesFor(env: HostEnvironment, appName: string): MergedAppConfig {
  const app = Object.hasOwn(env.apps, appName) ? env.apps[appName] : undefined;
  const merged: MergedAppConfig = {
    ...noOverrides(), settings: {}, hosts: app?.hosts ?? [], mount: app?.mount ?? null, mailDomains: app?.mailDomains ?? [], replicas: app?.replicas ?? env.defaults.replicas, pythonAt: null, userAt: null,
  };
  for (const key of Object.keys(OVERRIDE_KEYS) as (keyof AppOverrides)[]) {
    (merged as unknown as Record<string, unknown>)[key] = app?.[key] ?? env.defaults[key];
  }
  merged.python = app?.python ?? env.defaults.python ?? env.python;
  merged.drain = app?.drain ?? env.defaults.drain ?? env.drain;
  const from = app?.python != null ? ['apps', appName, 'python'] : env.defaults.python !== null ? ['defaults', 'python'] : env.python !== null ? ['python'] : null;
  merged.pythonAt = from === null ? null : (env.places[keyLabel(from)] ?? null);
  const userFrom = app?.user != null ? ['apps', appName, 'user'] : env.defaults.user !== null ? ['defaults', 'user'] : null;
  merged.userAt = userFrom === null ? null : (env.places[keyLabel(userFrom)] ?? null);
  for (const [name, value] of [...Object.entries(env.settings), ...Object.entries(app?.settings ?? {})]) {
    setOwn(merged.settings, name, value);
  }
  return merged;
}
