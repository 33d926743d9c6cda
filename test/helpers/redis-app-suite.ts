// The set-up of a services suite that asks what one app's Redis user may do (redis-acl,
// redis-databases): a redis-server of the suite's own, an environment file naming it, the
// redis-clients fixture as the app alpha, a state root; the server stopped and all removed after.
import { execFileSync, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Test } from 'uvu';
import { addPackage } from './apps-dir.js';
import { tempDir } from './process.js';
import { redisMissing, servicesEnvironment, startRedis, type RunningRedis } from './servers.js';
import { runIf } from './skip.js';

export interface RedisAppSuite {
  /** The suite's tests, skipped with the reason where the server or python3-redis is missing. */
  withRedis: ReturnType<typeof runIf>;
  work: { path: string; remove(): void };
  /** The state root, and the environment that names it to the CLI. */
  state: string;
  env: { APPPKG_STATE_DIR: string };
  /** The environment file whose services.redis is the server's URL (as `url` gives it). */
  envFile: string;
  /** The app's directory. */
  alpha: string;
  /** The server, from the suite's before hook on. */
  readonly redis: RunningRedis;
  /** redis-cli as the server's admin: its output, trimmed; throws on failure. */
  admin(...args: string[]): string;
}

/**
 * Hooks TEST's before and after. `tempPrefix` names the suite's temp directory; `missing`, what
 * else the suite needs (checked after redis-server itself, before python3-redis); `url`, the
 * environment file's URL from the server's (database 0).
 */
export function redisAppSuite(test: Test, opts: { tempPrefix: string; missing?: () => string | null; url?: (url: string) => string }): RedisAppSuite {
  const why = redisMissing()
    ?? opts.missing?.()
    ?? (spawnSync('/usr/bin/python3', ['-c', 'import redis'], { stdio: 'ignore' }).status !== 0 ? 'Debian\'s python3-redis is not installed' : null);
  const work = tempDir(opts.tempPrefix);
  const state = join(work.path, 'state');
  let redis: RunningRedis | undefined;
  const fixture: RedisAppSuite = {
    withRedis: runIf(test, why === null, why ?? ''),
    work,
    state,
    env: { APPPKG_STATE_DIR: state },
    envFile: join(work.path, 'environment.yaml'),
    alpha: join(work.path, 'alpha'),
    get redis() {
      if (redis === undefined) throw new Error('no redis-server: it starts in the suite\'s before hook');
      return redis;
    },
    admin: (...args) =>
      execFileSync('redis-cli', ['-p', String(fixture.redis.port), '--user', 'admin', '--pass', fixture.redis.adminPassword, '--no-auth-warning', ...args], { encoding: 'utf8', timeout: 10_000 }).trim(),
  };
  test.before(async () => {
    if (why) return;
    redis = await startRedis();
    servicesEnvironment(work.path, 'environment', { redis: opts.url ? opts.url(redis.url) : redis.url });
    addPackage(work.path, 'redis-clients', 'alpha');
  });
  test.after(async () => {
    await redis?.stop();
    work.remove();
  });
  return fixture;
}
