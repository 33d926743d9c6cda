// Listening on a ListenAddress, TCP or unix socket, with the one error code every listener
// reports. A unix socket file left behind by a killed gateway is removed; one that a live
// server still answers on is not (that would steal its address).
import { chmodSync, chownSync, lstatSync, readFileSync, rmSync, statSync } from 'node:fs';
import type { Server } from 'node:net';
import net from 'node:net';
import { dirname } from 'node:path';
import { formatAddr, type ListenAddress } from './address.js';
import { GatewayError } from '../errors.js';

export interface UnixSocketOptions {
  /** File mode of the socket (default 0660: the owner and its group, e.g. nginx's). */
  mode?: number;
  uid?: number;
  gid?: number;
}

function isLiveSocket(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

async function clearStaleSocket(path: string): Promise<void> {
  let stat;
  try {
    stat = lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!stat.isSocket()) return; // not ours to remove (unixPathProblem refused it)
  if (!(await isLiveSocket(path))) rmSync(path, { force: true });
}

/** The room of sockaddr_un's sun_path (108 on Linux) less its terminating NUL. */
const UNIX_PATH_MAX = 107;

/**
 * What is wrong with a unix socket's path before it is bound, as an errno code: libuv binds a
 * path past sun_path cut short (a stray socket at another path, then a chmod failing with
 * ENOENT), and reports a missing directory as EACCES, whose hint would send a root user after
 * permissions. A file there that is no socket is someone's: EADDRINUSE would say a process
 * listens there.
 */
function unixPathProblem(path: string): { reason: string; dir?: string; bytes?: number; notSocket?: 'a directory' | 'a file' } | null {
  const bytes = Buffer.byteLength(path);
  if (bytes > UNIX_PATH_MAX) return { reason: 'ENAMETOOLONG', bytes };
  try {
    const found = lstatSync(path);
    // A directory is said as one: "a file that is no socket" sent its user looking for a file.
    if (!found.isSocket()) return { reason: 'EEXIST', notSocket: found.isDirectory() ? 'a directory' : 'a file' };
  } catch {
    // nothing there yet, the usual case
  }
  const dir = dirname(path);
  try {
    if (!statSync(dir).isDirectory()) return { reason: 'ENOTDIR', dir };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return { reason: code, dir };
  }
  return null;
}

/**
 * The servers this process listens on through listenOn, while they listen. A bind refused
 * because one of them holds the address (a program that starts a second Gateway on the first's
 * port) was said as "another process listens ... `ss -ltnp` names it", which named this one.
 */
const listening = new Set<Server>();

function heldHere(addr: ListenAddress): boolean {
  for (const server of listening) {
    const bound = server.address();
    if (addr.kind === 'unix' ? bound === addr.path : bound !== null && typeof bound === 'object' && bound.port === addr.port) return true;
  }
  return false;
}

/**
 * The failures that are the host's, not the port's: a name that does not resolve (getaddrinfo's
 * ENOTFOUND, or EAI_AGAIN when no DNS server answered) or an address this host does not have.
 */
const HOST_REASONS = new Set(['ENOTFOUND', 'EAI_AGAIN', 'EAI_FAIL', 'EAI_NODATA', 'EADDRNOTAVAIL']);

/**
 * Listens on `addr`. `flag` names the option `addr` came from (`--listen`, `--admin`), `ownerKey`
 * the one `unix`'s owner came from (the CLI's --socket-owner by default), as a failure to listen
 * names them. `hostFlag` is for an address given as two options (serve's --host and --port): a
 * failure of its host names that option, as `serve --host nosuchhost.invalid` said "--port".
 */
export async function listenOn(server: Server, addr: ListenAddress, unix: UnixSocketOptions = {}, flag?: string, ownerKey?: string, hostFlag?: string): Promise<void> {
  if (addr.kind === 'unix') {
    const problem = unixPathProblem(addr.path);
    if (problem) throw new GatewayError('APPPKG_LISTEN_FAILED', { address: formatAddr(addr), flag, ...problem, max: UNIX_PATH_MAX });
    await clearStaleSocket(addr.path);
  }
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException, chown = false) => {
      const reason = err.code ?? err.message;
      const ofHost = addr.kind === 'tcp' && HOST_REASONS.has(reason);
      const named = ofHost && hostFlag !== undefined ? { flag: hostFlag, hostOnly: true } : { flag };
      reject(new GatewayError('APPPKG_LISTEN_FAILED', { address: formatAddr(addr), ...named, host: ofHost ? addr.host : undefined, reason, chown, ownerKey, here: err.code === 'EADDRINUSE' && heldHere(addr), cause: err }));
    };
    server.once('error', onError);
    const done = () => {
      server.off('error', onError);
      listening.add(server);
      server.once('close', () => listening.delete(server));
      resolve();
    };
    if (addr.kind === 'unix') {
      server.listen(addr.path, () => {
        let chowning = false;
        try {
          chmodSync(addr.path, unix.mode ?? 0o660);
          chowning = true;
          if (unix.uid !== undefined || unix.gid !== undefined) chownSync(addr.path, unix.uid ?? -1, unix.gid ?? -1);
        } catch (err) {
          server.close();
          onError(err as NodeJS.ErrnoException, chowning);
          return;
        }
        done();
      });
    } else {
      server.listen(addr.port, addr.host, done);
    }
  });
}

/** `USER`, `USER:GROUP` or `:GROUP` (names or numbers) -> uid/gid, from /etc/passwd and /etc/group. */
export function parseOwner(text: string): { uid?: number; gid?: number } {
  const [user, group] = text.split(':');
  const lookup = (file: string, name: string, what: string): number => {
    if (/^\d+$/.test(name)) return Number(name);
    const line = readFileSync(file, 'utf8').split('\n').find((l) => l.split(':')[0] === name);
    if (!line) throw new GatewayError('APPPKG_USAGE', { reason: `--socket-owner: expected an existing ${what}, found ${JSON.stringify(name)}`, command: '' });
    return Number(line.split(':')[2]);
  };
  return {
    uid: user ? lookup('/etc/passwd', user, 'user') : undefined,
    gid: group ? lookup('/etc/group', group, 'group') : undefined,
  };
}
