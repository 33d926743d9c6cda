// Issue 15, Bounds: how long provisioning an app's PostgreSQL database takes (its role, its
// database, REVOKE CONNECT, the password kept), and that a gateway starting 50 apps at once
// opens one admin connection to the server, only while it provisions. Runs against a private
// cluster (test/helpers/servers.ts: initdb in a temp dir, stopped by pid), as root:
//
//   node --import ./scripts/ts-register.mjs bench/services-provision.ts [APPS]
//
// Prints the figures; asserts nothing (timings never go in tests).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Description } from '../src/description/types.js';
import { emptyHostEnvironment } from '../src/environment/host-file.js';
import { openAdminSessions } from '../src/services/admin-session.js';
import { serviceEnvironment } from '../src/services/app-services.js';
import { serversMissing, startPostgres } from '../test/helpers/servers.js';

const APPS = Number(process.argv[2] ?? 50);

function appAsking(name: string): Description {
  // Only what serviceEnvironment reads of a description.
  return { name, file: `/bench/${name}/app.yaml`, services: { database: 'postgresql', redis: null }, positions: {} } as unknown as Description;
}

const missing = serversMissing();
if (missing) {
  console.log(`services-provision: not run: ${missing}`);
  process.exit(0);
}

const pg = await startPostgres();
const stateRoot = mkdtempSync(join(tmpdir(), 'apppkg-bench-services-'));
try {
  const hostEnv = { ...emptyHostEnvironment(), services: { postgresql: pg.url, redis: null } };
  const provision = (name: string) => serviceEnvironment({ desc: appAsking(name), hostEnv, stateRoot, provision: true });

  // One app alone: what `install` or a first start waits for.
  const single: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t = performance.now();
    await provision(`solo${i}`);
    single.push(performance.now() - t);
  }
  const t = performance.now();
  await provision('solo0');
  const again = performance.now() - t;

  // APPS at once, as a gateway starting with that many apps does: the most admin sessions
  // open at any moment, sampled while they run.
  let most = 0;
  const sampler = setInterval(() => (most = Math.max(most, openAdminSessions())), 1);
  const t0 = performance.now();
  await Promise.all(Array.from({ length: APPS }, (_, i) => provision(`app${i}`)));
  const all = performance.now() - t0;
  clearInterval(sampler);
  const adminBackends = pg.psql("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()");

  const sorted = [...single].sort((a, b) => a - b);
  console.log(`services-provision (PostgreSQL ${pg.psql('SHOW server_version').split(' ')[0]}, private cluster)`);
  console.log(`  one app, first provisioning (role + database): median ${sorted[2].toFixed(0)} ms, max ${sorted[4].toFixed(0)} ms`);
  console.log(`  one app, again (exists: password set, REVOKE): ${again.toFixed(0)} ms`);
  console.log(`  ${APPS} apps at once: ${all.toFixed(0)} ms (${(all / APPS).toFixed(0)} ms per app), at most ${most} admin connection open`);
  console.log(`  admin connections left open afterwards: ${openAdminSessions()} (server-side client backends besides this query: ${adminBackends})`);
} finally {
  await pg.stop();
  rmSync(stateRoot, { recursive: true, force: true });
}
