// The gateways of a test file about idle apps (test/gateway/idle-*.test.ts): each test opens
// gateways on packages it names and an environment file, looks at their apps, and each is
// stopped as the test ends, its pids checked for orphans. Left to the end of the file, the
// gateways of the tests before kept their workers, idle checks and heartbeats going through
// every test after.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { addPackage, writePackage } from './apps-dir.js';
import { ASK_GATEWAY_EVERY_MS, assertNoOrphans, isAlive, startCliIn, tempDir, waitFor, type RunningGateway } from './process.js';
import { gatewayStatus, statusPids } from './status.js';
import { warmStateDir } from './warm-state.js';

export type TempDir = ReturnType<typeof tempDir>;

export interface IdleEnv {
  dir: TempDir;
  apps: string;
  gw: RunningGateway;
  /** Every pid the test saw in the gateway's status: none may outlive it. */
  pids: Set<number>;
}

export interface IdleGateways {
  /** The gateways of the test running, stopped by stopAll. */
  opened: IdleEnv[];
  /** The directories of the test running, removed by stopAll. */
  made: TempDir[];
  /**
   * A state root that starts with the interpreter probes of an earlier test's: no test here is
   * about a first start's probing (a fresh root probes every python on PATH again).
   */
  stateRoot(): string;
  /** A gateway on `packages` (fixture, name) and what `write` adds beside them, with `environment` as its environment file. */
  open(packages: Array<[string, string]>, environment: string, extra?: string[], write?: (apps: string, dir: string) => void): Promise<IdleEnv>;
  /** The app `name` in the gateway's status; its pids noted. */
  app(env: IdleEnv, name: string): Promise<any>;
  get(env: IdleEnv, path: string): Promise<{ status: number; headers: Record<string, unknown>; body: string }>;
  /** Stops each gateway even when stopping one before it failed (an orphan left, a stop past its deadline), removes the directories, then throws the first error. */
  stopAll(): Promise<void>;
}

export function idleGateways(prefix: string): IdleGateways {
  const opened: IdleEnv[] = [];
  const made: TempDir[] = [];
  const stateRoot = (): string => {
    const state = warmStateDir(`${prefix}state-`);
    made.push(state);
    return state.path;
  };
  return {
    opened,
    made,
    stateRoot,
    async open(packages, environment, extra = [], write) {
      const dir = tempDir(prefix);
      made.push(dir);
      const apps = join(dir.path, 'apps');
      mkdirSync(apps, { recursive: true });
      for (const [source, target] of packages) addPackage(apps, source, target);
      write?.(apps, dir.path);
      const envFile = join(dir.path, 'environment.yaml');
      writeFileSync(envFile, environment);
      const gw = await startCliIn(dir, ['--apps', apps, '--listen', '127.0.0.1:0', '--admin', '127.0.0.1:0', '--state-dir', stateRoot(), '--environment', envFile, '--access-log', 'off', '--settle', '0', ...extra]);
      const env = { dir, apps, gw, pids: new Set<number>() };
      opened.push(env);
      return env;
    },
    async app(env, name) {
      const status = await gatewayStatus(env.gw);
      for (const pid of statusPids(status)) env.pids.add(pid);
      return status.apps.find((a: any) => a.name === name);
    },
    async get(env, path) {
      const res = await request(`${env.gw.url}${path}`, { headersTimeout: 60_000 });
      return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
    },
    async stopAll() {
      let first: unknown = null;
      for (const env of opened.splice(0)) {
        try {
          await env.gw.stop();
          await assertNoOrphans([...env.pids]);
        } catch (err) {
          first ??= err;
        }
      }
      for (const dir of made.splice(0)) dir.remove();
      if (first) throw first;
    },
  };
}

/**
 * Writes `slowstop` into `apps`: an ASGI app whose lifespan shutdown takes `seconds` (a pool
 * closed slowly), so that once put to sleep its worker holds its room under --max-workers.
 * `afterHold`: only once it has served a path ending in /hold, and at once before (the sleeps at
 * a gateway's start, for the others' room, then cost nothing).
 */
export function writeSlowstop(apps: string, seconds: number, afterHold = false): void {
  writePackage(apps, 'slowstop', {
    'app.yaml': 'platform: python, asgi\napp: slowstop:app\n',
    'slowstop.py': [
      'import asyncio',
      `held = ${afterHold ? '[]' : '[1]'}  # non-empty: the shutdown is slow`,
      '',
      'async def app(scope, receive, send):',
      '    if scope["type"] == "lifespan":',
      '        while True:',
      '            message = await receive()',
      '            if message["type"] == "lifespan.startup":',
      '                await send({"type": "lifespan.startup.complete"})',
      '            else:',
      '                if held:',
      `                    await asyncio.sleep(${seconds})`,
      '                await send({"type": "lifespan.shutdown.complete"})',
      '                return',
      '    if scope["path"].endswith("/hold"):',
      '        held.append(1)',
      '    await send({"type": "http.response.start", "status": 200, "headers": []})',
      '    await send({"type": "http.response.body", "body": b"ok"})',
      '',
    ].join('\n'),
  });
}

/** Once slowstop has served and gone idle (idle_timeout: 1), its worker still in its lifespan shutdown: that worker's pid. */
export async function slowstopAsleepInShutdown(gateways: IdleGateways, env: IdleEnv): Promise<number> {
  await waitFor(async () => (await gateways.get(env, '/slowstop/')).status === 200, 30_000, 'slowstop to serve', ASK_GATEWAY_EVERY_MS);
  const [stopping] = (await gateways.app(env, 'slowstop')).workers.map((w: any) => w.pid);
  await waitFor(async () => (await gateways.app(env, 'slowstop')).state === 'idle', 20_000, 'slowstop to go idle', ASK_GATEWAY_EVERY_MS);
  if (!isAlive(stopping)) throw new Error(`slowstop's worker ${stopping} is no longer in its lifespan shutdown`);
  return stopping;
}
