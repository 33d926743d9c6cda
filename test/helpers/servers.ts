// Real PostgreSQL and Redis servers for the services tests (issue 15), each private to one test
// file: a cluster copied from the run's initdb template (postgresTemplate) into a temp dir and
// run as the `postgres` user on a socket in that dir (no TCP), and a redis-server on a free
// loopback port with its own ACL file (the default user off). Stopped by their own pid, never
// the system's services.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import net from 'node:net';
import getPort from 'get-port';
import { atSignal } from './on-signal.js';
import { isAlive, waitFor } from './process.js';
import { sharedCacheDir } from './shared-cache.js';
import { hasProgram } from './skip.js';

export interface RunningServer {
  /** The URL for the environment file's `services:` (admin credentials in it). */
  url: string;
  pid: number;
  /** Stops the server by its pid (TERM, then KILL past the deadline) and removes its directory. */
  stop(): Promise<void>;
}

export interface RunningPostgres extends RunningServer {
  /** Stops the server by its pid (a fast shutdown, SIGINT), keeping its directory for `start`. */
  halt(): Promise<void>;
  /** Starts it again on the same socket with the same cluster (after `halt`). */
  start(): Promise<void>;
  socketDir: string;
  port: number;
  adminPassword: string;
  /** Runs psql as the admin (or as `user` with `password`); returns stdout, throws on failure. */
  psql(sql: string, opts?: { database?: string; user?: string; password?: string }): string;
}

/** An environment file `dir/NAME.yaml` whose `services:` names these servers; returns its path. */
export function servicesEnvironment(dir: string, name: string, services: { postgresql?: string; redis?: string }): string {
  const file = join(dir, `${name}.yaml`);
  // JSON strings are YAML double-quoted strings: a URL's ?, & and % need no thought.
  const lines = Object.entries(services).map(([kind, url]) => `  ${kind}: ${JSON.stringify(url)}\n`);
  writeFileSync(file, `services:\n${lines.join('')}`);
  return file;
}

/** Why these tests cannot run here (no server binaries, not root), or null. */
export function serversMissing(): string | null {
  if (process.getuid?.() !== 0) return 'the services tests start postgres as the postgres user: run them as root';
  if (!existsSync(postgresBin('initdb'))) return 'PostgreSQL is not installed (apt-get install postgresql)';
  return redisMissing();
}

/** Why no redis-server can be started here, or null. */
export function redisMissing(): string | null {
  return spawnSync('redis-server', ['--version']).status !== 0 ? 'redis-server is not installed (apt-get install redis-server)' : null;
}

/** serversMissing, or else what a server started with `tls: true` lacks (openssl makes its certificate). */
export function tlsServersMissing(): string | null {
  return serversMissing() ?? (hasProgram('openssl') ? null : "openssl is not installed (apt-get install openssl): it makes the server's certificate");
}

let postgresVersion: string | undefined;
function postgresBin(name: string): string {
  postgresVersion ??= spawnSync('ls', ['/usr/lib/postgresql'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).sort((a, b) => Number(b) - Number(a))[0] ?? '0';
  return join('/usr/lib/postgresql', postgresVersion, 'bin', name);
}

function userIds(name: string): { uid: number; gid: number } {
  const uid = Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout.trim());
  const gid = Number(spawnSync('id', ['-g', name], { encoding: 'utf8' }).stdout.trim());
  return { uid, gid };
}

/**
 * A cluster initdb made once for the test run (~1.5 s of CPU, where a copy is a tenth of it), in
 * the run's shared cache directory, with its admin password; every startPostgres runs a copy.
 * Made in a directory of its own and renamed into place whole: test processes of a run that
 * start at once each make one, and the first rename is the one all use.
 */
function postgresTemplate(uid: number, gid: number): { data: string; adminPassword: string } {
  const shared = sharedCacheDir();
  const template = join(shared, 'postgres-template');
  const passwordFile = join(template, 'admin-password');
  if (!existsSync(passwordFile)) {
    // initdb runs as postgres, who must get through to its directory.
    chmodSync(shared, 0o755);
    const making = mkdtempSync(join(shared, '.making-postgres-template-'));
    try {
      chownSync(making, uid, gid);
      chmodSync(making, 0o755);
      const adminPassword = randomBytes(12).toString('hex');
      const pwfile = join(making, 'pw');
      writeFileSync(pwfile, `${adminPassword}\n`, { mode: 0o600 });
      chownSync(pwfile, uid, gid);
      // Passwords everywhere (scram), as a real host has: trust would let any app in as anyone.
      // 1 MB WAL segments: the cluster starts with one, zero-filled, and each server's copy was
      // 39 MB of which 16 MB that segment (`cp`, ~18 s of CPU a run for ~55 servers).
      const init = spawnSync(postgresBin('initdb'), ['-D', join(making, 'data'), '-U', 'postgres', '--auth=scram-sha-256', `--pwfile=${pwfile}`, '-E', 'UTF8', '--no-sync', '--wal-segsize=1'], {
        uid, gid, cwd: making, encoding: 'utf8', timeout: 120_000, env: { PATH: process.env.PATH, LANG: 'C.UTF-8' },
      });
      if (init.status !== 0) throw new Error(`initdb failed: ${init.stderr || init.error}`);
      writeFileSync(join(making, 'admin-password'), adminPassword, { mode: 0o600 });
      try {
        renameSync(making, template);
      } catch (err) {
        // Another test process renamed its template first: that one is whole, and used.
        if (!existsSync(passwordFile)) throw err;
      }
    } finally {
      rmSync(making, { recursive: true, force: true });
    }
  }
  return { data: join(template, 'data'), adminPassword: readFileSync(passwordFile, 'utf8') };
}

/** What the postmaster logs once it takes connections (the cluster's messages are in English: LANG=C.UTF-8 at initdb). */
const READY = /database system is ready to accept connections/;

/**
 * `tls`: the server also listens on a loopback port, where its pg_hba.conf lets in only TLS
 * connections (`hostssl`), with a self-signed certificate made here; `url` is then that port's,
 * with `?sslmode=require`, and `certificate` the certificate (a CA for sslmode=verify-ca).
 */
export async function startPostgres(opts: { tls?: boolean } = {}): Promise<RunningPostgres & { certificate?: string }> {
  const { uid, gid } = userIds('postgres');
  const template = postgresTemplate(uid, gid);
  const dir = mkdtempSync(join(tmpdir(), 'apppkg-pg-'));
  atSignal(() => rmSync(dir, { recursive: true, force: true }));
  chownSync(dir, uid, gid);
  chmodSync(dir, 0o755);
  const { adminPassword } = template;
  // -a: the cluster stays the postgres user's, mode 0700, as the server insists.
  const copy = spawnSync('cp', ['-a', '--', template.data, join(dir, 'data')], { encoding: 'utf8', timeout: 120_000 });
  if (copy.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cp -a of the initdb template ${template.data} failed: ${copy.stderr || copy.error}`);
  }
  const port = opts.tls ? await getPort({ host: '127.0.0.1' }) : 5432;
  const tlsArgs: string[] = [];
  let certificate: string | undefined;
  if (opts.tls) {
    certificate = join(dir, 'server.crt');
    const key = join(dir, 'server.key');
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', certificate, '-days', '1', '-subj', '/CN=127.0.0.1'], { encoding: 'utf8', timeout: 60_000 });
    if (made.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`openssl req failed: ${made.stderr || made.error}`);
    }
    for (const file of [certificate, key]) chownSync(file, uid, gid);
    chmodSync(key, 0o600);
    writeFileSync(join(dir, 'data', 'pg_hba.conf'), 'local all all scram-sha-256\nhostssl all all 127.0.0.1/32 scram-sha-256\n');
    tlsArgs.push('-c', 'listen_addresses=127.0.0.1', '-c', 'ssl=on', '-c', `ssl_cert_file=${certificate}`, '-c', `ssl_key_file=${key}`);
  } else {
    tlsArgs.push('-c', 'listen_addresses=');
  }
  let server: ReturnType<typeof running>;
  let child: ChildProcess;
  const start = async () => {
    child = spawn(postgresBin('postgres'), ['-D', join(dir, 'data'), '-k', dir, '-p', String(port), ...tlsArgs, '-c', 'fsync=off', '-c', 'max_connections=100'], {
      uid, gid, cwd: dir, stdio: ['ignore', 'ignore', 'pipe'], env: { PATH: process.env.PATH, LANG: 'C.UTF-8' },
    });
    let log = '';
    child.stderr!.on('data', (c) => (log += c));
    server = running(child, dir, 'SIGINT');
    try {
      // pg_isready only once the server says it is ready: asked every 50 ms through its start-up
      // (seconds on a loaded machine), it and the `ls` of postgresBin were dozens of spawns, a
      // tenth of a second of CPU per start.
      await waitFor(() => READY.test(log) && spawnSync(postgresBin('pg_isready'), ['-h', dir, '-p', String(port)]).status === 0, 30_000, `postgres in ${dir} to accept connections`);
    } catch (err) {
      await server.stop();
      throw new Error(`${(err as Error).message}\n${log}`);
    }
  };
  await start();
  return {
    get pid() {
      return server.pid;
    },
    stop: () => server.stop(),
    async halt() {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      if (child.exitCode !== null || child.signalCode !== null || !child.kill('SIGINT')) return;
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
    start,
    url: opts.tls ? `postgresql://postgres:${adminPassword}@127.0.0.1:${port}/postgres?sslmode=require` : `postgresql://postgres:${adminPassword}@${encodeURIComponent(dir)}:${port}/postgres`,
    certificate,
    socketDir: dir,
    port,
    adminPassword,
    psql(sql, opts = {}) {
      const r = spawnSync('psql', ['-X', '-q', '-t', '-A', '-v', 'ON_ERROR_STOP=1', '-h', dir, '-p', String(port), '-U', opts.user ?? 'postgres', '-d', opts.database ?? 'postgres', '-c', sql], {
        encoding: 'utf8', timeout: 30_000, env: { ...process.env, PGPASSWORD: opts.password ?? adminPassword },
      });
      if (r.status !== 0) throw new Error(`psql: ${r.stderr.trim()}`);
      return r.stdout.trim();
    },
  };
}

export interface RunningRedis extends RunningServer {
  port: number;
  adminPassword: string;
  /** Kills the server by its pid (SIGKILL: nothing saved), keeping its directory for `start`. */
  kill(): Promise<void>;
  /** Starts it again, on the same port with the same configuration (after `kill`). */
  start(): Promise<void>;
}

/**
 * `openDefault`: the `default` user on without a password, as a stock redis-server has it;
 * otherwise no anonymous access: every client, the gateway included, logs in as a user of the
 * ACL file. `aclFile: false`: no ACL file, as Debian's redis.conf has none, the admin being the
 * default user with `requirepass` (kept in the configuration, so it outlives a restart while
 * users made by ACL SETUSER do not). `bin`: another redis-server than the one on PATH.
 */
export async function startRedis(opts: { openDefault?: boolean; aclFile?: boolean; bin?: string; tls?: boolean } = {}): Promise<RunningRedis & { certificate?: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'apppkg-redis-'));
  atSignal(() => rmSync(dir, { recursive: true, force: true }));
  // `tls`: TLS only (no plain port), a self-signed certificate made here; `url` is rediss:// and
  // names the certificate as its authority (redis-py's ssl_ca_certs).
  let certificate: string | undefined;
  const tlsArgs: string[] = [];
  if (opts.tls) {
    certificate = join(dir, 'server.crt');
    const key = join(dir, 'server.key');
    const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', certificate, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8', timeout: 60_000 });
    if (made.status !== 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`openssl req failed: ${made.stderr || made.error}`);
    }
    tlsArgs.push('--tls-cert-file', certificate, '--tls-key-file', key, '--tls-ca-cert-file', certificate, '--tls-auth-clients', 'no');
  }
  const adminPassword = randomBytes(12).toString('hex');
  const withAclFile = opts.aclFile !== false;
  const access: string[] = [];
  if (withAclFile) {
    const aclFile = join(dir, 'users.acl');
    // Redis 6.0 has no channel patterns, and refuses the file that names one.
    const channels = opts.bin !== undefined && /v=6\.[01]\./.test(spawnSync(opts.bin, ['--version'], { encoding: 'utf8' }).stdout ?? '') ? '' : ' &*';
    const defaultUser = opts.openDefault ? `user default on nopass ~*${channels} +@all` : 'user default off';
    writeFileSync(aclFile, `${defaultUser}\nuser admin on >${adminPassword} ~*${channels} +@all\n`, { mode: 0o600 });
    access.push('--aclfile', aclFile);
  } else if (!opts.openDefault) {
    access.push('--requirepass', adminPassword);
  }
  const port = await getPort({ host: '127.0.0.1' });
  const args = [...(opts.tls ? ['--port', '0', '--tls-port', String(port), ...tlsArgs] : ['--port', String(port)]), '--bind', '127.0.0.1', ...access, '--dir', dir, '--save', '', '--appendonly', 'no', '--daemonize', 'no'];
  let server: ReturnType<typeof running>;
  const start = async () => {
    const child = spawn(opts.bin ?? 'redis-server', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout!.on('data', (c) => (log += c));
    child.stderr!.on('data', (c) => (log += c));
    server = running(child, dir, 'SIGTERM');
    try {
      await waitFor(() => canConnect(port), 15_000, `redis-server on port ${port}`);
    } catch (err) {
      await server.stop();
      throw new Error(`${(err as Error).message}\n${log}`);
    }
  };
  await start();
  const user = withAclFile ? 'admin' : '';
  const credentials = opts.openDefault && !withAclFile ? '' : `${user}:${adminPassword}@`;
  return {
    url: opts.tls ? `rediss://${credentials}127.0.0.1:${port}/0?ssl_ca_certs=${certificate}` : `redis://${credentials}127.0.0.1:${port}/0`,
    certificate,
    port,
    adminPassword,
    get pid() {
      return server.pid;
    },
    stop: () => server.stop(),
    kill: () => server.kill(),
    start,
  };
}

/** A loopback port nothing listens on (bound, then released): a server that is not there. */
export async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Whether a connection to 127.0.0.1:`port` is accepted (it is closed at once). */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function running(child: ChildProcess, dir: string, signal: NodeJS.Signals): RunningServer & { url: string; kill(): Promise<void> } {
  const pid = child.pid!;
  const exited = new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve();
    child.once('exit', () => resolve());
  });
  // A file run by hand and interrupted: the server must not run on in a directory that goes
  // (its child's own state, not the pid's: a pid may be another process's by then).
  const forget = atSignal(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  return {
    url: '',
    pid,
    async stop() {
      if (isAlive(pid)) {
        child.kill(signal);
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      forget();
      rmSync(dir, { recursive: true, force: true });
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
