// A real Postfix in front of the gateway's mail listener (SPEC 5.3: `lmtp: true` "for LMTP
// behind Postfix"), private to one test file, as servers.ts runs PostgreSQL and Redis: its own
// configuration, queue and data directories in a temp dir (`postfix -c DIR`, never /etc/postfix
// nor the system's queue), smtpd on a free loopback port, its log in a file there. The master
// runs as root and its daemons as `postfix` (mail_owner), as on any host. Stopped with
// `postfix -c DIR stop`, then checked by pid: every process of this instance (its environment's
// MAIL_CONFIG names our directory, which nothing else's does) gone, or killed and the stop failed.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import getPort from 'get-port';
import * as assert from 'uvu/assert';
import { isAlive, waitFor } from './process.js';
import { canConnect } from './servers.js';
import { isRoot } from './skip.js';
import { SmtpTalk } from './smtp.js';

const POSTFIX = ['/usr/sbin/postfix', '/sbin/postfix'].find((path) => existsSync(path)) ?? 'postfix';

/** Why no private Postfix can run here, or null. */
export function postfixMissing(): string | null {
  if (!isRoot) return "Postfix's master runs as root (its daemons as postfix): run these tests as root";
  if (!existsSync(POSTFIX)) return 'Postfix is not installed (apt-get install postfix, with debconf postfix/main_mailer_type "No configuration")';
  if (spawnSync('id', ['-u', 'postfix'], { stdio: 'ignore' }).status !== 0) return 'the postfix account is missing (the postfix package makes it)';
  return null;
}

/** How long a test waits for Postfix to try a deferred message again: its backoff, or the 60 s of a message it skipped. */
export const POSTFIX_RETRY_MS = 75_000;

export interface RunningPostfix {
  /** smtpd's loopback port, where a test submits mail. */
  port: number;
  dir: string;
  /** The master's pid (queue/pid/master.pid). */
  pid: number;
  /** Its log (maillog_file) so far. */
  log(): string;
  /** Waits (bounded) for a log line that `match`es; returns it. */
  waitForLog(match: RegExp, ms: number, what: string): Promise<string>;
  /** The queue ids Postfix holds now (incoming, active, deferred, hold). */
  queued(): string[];
  /** `postfix stop`; throws, after killing them by pid, if any of its processes outlive it. */
  stop(): Promise<void>;
}

export interface PostfixOptions {
  /** Domain → Postfix transport (`lmtp:inet:127.0.0.1:PORT`, `smtp:[127.0.0.1]:PORT`); each is a relay domain. */
  transports?: Record<string, string>;
  /** main.cf lines put after the instance's own, which they may override (later wins in main.cf). */
  mainCf?: string[];
}

/**
 * The private instance's main.cf: its directories, loopback only, no local delivery
 * (`mydestination =` empty), no DNS (every next hop is an address), retries within seconds.
 */
function mainCf(dir: string, opts: PostfixOptions): string {
  const transports = Object.entries(opts.transports ?? {});
  const lines = [
    'compatibility_level = 3.6',
    `queue_directory = ${join(dir, 'queue')}`,
    `data_directory = ${join(dir, 'data')}`,
    // postfix-files and the scripts stay the installed ones: read, never written.
    'meta_directory = /etc/postfix',
    'mail_owner = postfix',
    'setgid_group = postdrop',
    `maillog_file = ${join(dir, 'postfix.log')}`,
    `maillog_file_prefixes = ${dir}`,
    'myhostname = mx.postfix.test',
    'mydomain = postfix.test',
    'myorigin = $myhostname',
    'inet_interfaces = loopback-only',
    'inet_protocols = ipv4',
    'mydestination =',
    'mynetworks = 127.0.0.0/8',
    'alias_maps =',
    'alias_database =',
    'local_recipient_maps =',
    'biff = no',
    'smtp_dns_support_level = disabled',
    'smtpd_peername_lookup = no',
    // Retries within seconds, not Postfix's 5 min to 66 min. A deferred message whose file the
    // delivery agent still has locked when qmgr scans for it is put aside for 60 s ("skipped, still
    // being delivered"): a backoff past the scan's period makes that rarer, and waits for a retry
    // allow for it.
    'queue_run_delay = 1s',
    'minimal_backoff_time = 2s',
    'maximal_backoff_time = 4s',
    ...(transports.length > 0 ? [
      `relay_domains = ${transports.map(([domain]) => domain).join(', ')}`,
      `transport_maps = inline:{ ${transports.map(([domain, via]) => `${domain}=${via}`).join(', ')} }`,
    ] : []),
    ...(opts.mainCf ?? []),
  ];
  // One line a parameter, the caller's last: Postfix warns at every daemon's start of each it overrides.
  const settings = new Map(lines.map((line) => [line.split('=')[0].trim(), line] as const));
  return `${[...settings.values()].join('\n')}\n`;
}

/** master.cf: smtpd on `port`, and the daemons a relay needs, none chrooted (its queue is no /var/spool/postfix). */
function masterCf(port: number): string {
  const services = [
    `127.0.0.1:${port} inet n - n - - smtpd`,
    'pickup unix n - n 60 1 pickup',
    'cleanup unix n - n - 0 cleanup',
    'qmgr unix n - n 300 1 qmgr',
    'rewrite unix - - n - - trivial-rewrite',
    'bounce unix - - n - 0 bounce',
    'defer unix - - n - 0 bounce',
    'trace unix - - n - 0 bounce',
    'verify unix - - n - 1 verify',
    'flush unix n - n 1000? 0 flush',
    'proxymap unix - - n - - proxymap',
    'showq unix n - n - - showq',
    'smtp unix - - n - - smtp',
    'relay unix - - n - - smtp',
    'error unix - - n - - error',
    'retry unix - - n - - error',
    'discard unix - - n - - discard',
    'lmtp unix - - n - - lmtp',
    'anvil unix - - n - 1 anvil',
    'scache unix - - n - 1 scache',
    'postlog unix-dgram n - n - 1 postlogd',
  ];
  return `${services.join('\n')}\n`;
}

/** The pids of this instance's processes: Postfix gives each one MAIL_CONFIG, the `-c` directory. */
function instancePids(configDir: string): number[] {
  const mark = `MAIL_CONFIG=${configDir}\0`;
  return readdirSync('/proc').filter((entry) => /^\d+$/.test(entry)).map(Number).filter((pid) => {
    try {
      return `\0${readFileSync(`/proc/${pid}/environ`, 'latin1')}`.includes(`\0${mark}`) && isAlive(pid);
    } catch {
      return false;
    }
  });
}

function postfixCommand(configDir: string, args: string[]): { ok: boolean; output: string } {
  const r = spawnSync(POSTFIX, ['-c', configDir, ...args], { encoding: 'utf8', timeout: 60_000, env: { PATH: `/usr/sbin:/usr/bin:/sbin:/bin`, LANG: 'C.UTF-8' } });
  return { ok: r.status === 0, output: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/** A private Postfix, started and taking mail on its smtpd port; `stop()` it in the file's `after`. */
export async function startPostfix(opts: PostfixOptions = {}): Promise<RunningPostfix> {
  const dir = mkdtempSync(join(tmpdir(), 'apppkg-postfix-'));
  // The daemons run as postfix: they must get through to the queue and data directories.
  chmodSync(dir, 0o755);
  const etc = join(dir, 'etc');
  for (const sub of ['etc', 'queue', 'data']) mkdirSync(join(dir, sub));
  const postfixIds = { uid: Number(spawnSync('id', ['-u', 'postfix'], { encoding: 'utf8' }).stdout), gid: Number(spawnSync('id', ['-g', 'postfix'], { encoding: 'utf8' }).stdout) };
  chownSync(join(dir, 'data'), postfixIds.uid, postfixIds.gid);
  const port = await getPort({ host: '127.0.0.1' });
  writeFileSync(join(etc, 'main.cf'), mainCf(dir, opts));
  writeFileSync(join(etc, 'master.cf'), masterCf(port));
  const logFile = join(dir, 'postfix.log');
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  let pid = 0;
  const stop = async () => {
    const before = instancePids(etc);
    const stopped = before.length > 0 ? postfixCommand(etc, ['stop']) : { ok: true, output: '' };
    let left: number[] = [];
    try {
      // The master by its pid file's pid as well: its environment is the one place that names it otherwise.
      const survivors = () => [...new Set([...(pid > 0 && isAlive(pid) ? [pid] : []), ...instancePids(etc)])];
      await waitFor(() => (left = survivors()).length === 0, 15_000, 'the Postfix master and its daemons to exit');
    } catch {
      for (const p of left) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // gone meanwhile
        }
      }
    }
    const text = log();
    rmSync(dir, { recursive: true, force: true });
    if (left.length > 0) throw new Error(`Postfix ${etc}: processes ${left.join(', ')} outlived \`postfix stop\` (killed)\n${stopped.output}\n${text}`);
    if (!stopped.ok) throw new Error(`postfix -c ${etc} stop failed: ${stopped.output}\n${text}`);
  };
  const started = postfixCommand(etc, ['start']);
  try {
    if (!started.ok) throw new Error(`postfix -c ${etc} start failed: ${started.output}`);
    pid = Number(readFileSync(join(dir, 'queue', 'pid', 'master.pid'), 'utf8').trim());
    await waitFor(() => canConnect(port), 15_000, `Postfix's smtpd on 127.0.0.1:${port}`);
  } catch (err) {
    const text = log();
    await stop().catch(() => {});
    throw new Error(`${(err as Error).message}\n${text}`);
  }
  return {
    port,
    dir,
    pid,
    log,
    async waitForLog(match, ms, what) {
      return waitFor(() => log().split('\n').find((line) => match.test(line)), ms, () => `${what} in Postfix's log:\n${log()}`, 100);
    },
    queued() {
      return ['incoming', 'active', 'deferred', 'hold'].flatMap((sub) => {
        const walk = (path: string): string[] => readdirSync(path, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(path, e.name)) : [e.name]));
        const path = join(dir, 'queue', sub);
        return existsSync(path) ? walk(path) : [];
      });
    },
    stop,
  };
}

/**
 * Submits `wire` (DATA's bytes, dots stuffed, `CRLF.CRLF` at its end) to Postfix's smtpd as a
 * client on the internet would, from `from` to each of `to` (`mailParameters` on MAIL FROM):
 * every reply must be 250. Returns
 * Postfix's queue id (`250 2.0.0 Ok: queued as QID`).
 */
export async function submitToPostfix(postfix: RunningPostfix, from: string, to: string[], wire: Buffer, mailParameters = 'BODY=8BITMIME'): Promise<string> {
  const talk = await SmtpTalk.connect(postfix.port, '127.0.0.1', 10_000);
  try {
    assert.is((await talk.reply(10_000)).code, 220);
    assert.is((await talk.command('EHLO client.test', 10_000)).code, 250);
    const mail = await talk.command(`MAIL FROM:<${from}> ${mailParameters}`, 10_000);
    assert.is(mail.code, 250, mail.text);
    for (const rcpt of to) {
      const reply = await talk.command(`RCPT TO:<${rcpt}>`, 10_000);
      assert.is(reply.code, 250, `${rcpt}: ${reply.text}`);
    }
    const done = await talk.dataBytes(wire, 30_000);
    const queued = /queued as (\w+)/.exec(done.text);
    assert.ok(done.code === 250 && queued, `Postfix took the message: ${done.text}`);
    await talk.command('QUIT', 10_000).catch(() => undefined);
    return queued![1];
  } finally {
    talk.close();
  }
}

/** DATA's bytes for `lines` (joined with CRLF): each line's leading dot doubled, the end added. */
export function dataWire(lines: Buffer[]): Buffer {
  const crlf = Buffer.from('\r\n');
  const stuffed = lines.map((line) => (line[0] === 0x2e ? Buffer.concat([Buffer.from('.'), line]) : line));
  return Buffer.concat([...stuffed.flatMap((line) => [line, crlf]), Buffer.from('.\r\n')]);
}
