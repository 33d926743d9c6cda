// The package as a user installs it (SPEC 5.7): `npm pack`, installed into an empty project,
// imports AppPackage and Gateway (typed), opens an example, starts a gateway over it, serves a
// request, and stops with no process left.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { assertNoOrphans, EXAMPLES, ROOT, tempDir } from '../helpers/process.js';
import { giveSharedCaches } from '../helpers/shared-cache.js';

const test = suite('npm pack');
const work = tempDir('apppkg-pack-');
const project = join(work.path, 'project');

test.after(() => work.remove());

function run(file: string, args: string[], cwd: string, ms: number): { status: number | null; out: string } {
  const r = spawnSync(file, args, { cwd, encoding: 'utf8', timeout: ms, env: { ...process.env, npm_config_fund: 'false', npm_config_audit: 'false' } });
  return { status: r.status, out: `${r.error ? `${String(r.error)}\n` : ''}${r.stdout}\n${r.stderr}` };
}

/**
 * The .map files under `dir` that name a source neither inlined (sourcesContent) nor shipped:
 * tsc's maps point at ../src/*.ts, which the package leaves out, and only weigh the package.
 */
function mapsWithoutSources(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.map'))
    .filter((file) => {
      const map = JSON.parse(readFileSync(join(dir, file), 'utf8')) as { sources: string[]; sourcesContent?: Array<string | null> };
      return map.sources.some((source, i) => typeof map.sourcesContent?.[i] !== 'string' && !existsSync(resolve(dirname(join(dir, file)), source)));
    });
}

test('the packed package installs into an empty project and serves an example from it', async () => {
  // --ignore-scripts: `npm test` has built dist/ already; pack only packs.
  const pack = run('npm', ['pack', '--ignore-scripts', '--pack-destination', work.path], ROOT, 120_000);
  assert.is(pack.status, 0, pack.out);
  const tarball = readdirSync(work.path).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, `no tarball in ${work.path}: ${pack.out}`);

  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'uses-apppkg', version: '1.0.0', private: true, type: 'module' }));
  // Its dependencies come from npm's cache, filled by the `npm install` that built this checkout.
  const install = run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', join(work.path, tarball!)], project, 300_000);
  assert.is(install.status, 0, install.out);
  const installed = join(project, 'node_modules', 'apppkg-gateway');
  assert.equal(mapsWithoutSources(installed), [], 'source maps whose sources the package lacks');

  const apps = join(work.path, 'apps');
  cpSync(join(EXAMPLES, 'hello'), join(apps, 'hello'), { recursive: true });
  // The run's interpreter probes: what is tested is the package as installed, not a first start's probing.
  const state = join(work.path, 'state');
  giveSharedCaches(state);
  writeFileSync(
    join(project, 'use.mjs'),
    `import { AppPackage, Gateway } from 'apppkg-gateway';
const state = ${JSON.stringify(state)};
const app = await AppPackage.open(${JSON.stringify(join(apps, 'hello'))}, { stateDir: state });
const gateway = await Gateway.start({ apps: ${JSON.stringify(apps)}, listen: '127.0.0.1:0', admin: '127.0.0.1:0', stateDir: state, say: () => {} });
try {
  const res = await fetch(gateway.urls[0] + '/' + app.name + '/', { signal: AbortSignal.timeout(10000) });
  const rss = (await gateway.sampledStatus()).apps[0].workers.map((w) => w.rssBytes);
  console.log(JSON.stringify({ name: app.name, kind: app.description.kind, status: res.status, body: await res.text(), pids: gateway.pids, rss }));
} finally {
  await gateway.stop();
}
`,
  );
  const use = run(process.execPath, ['use.mjs'], project, 120_000);
  assert.is(use.status, 0, use.out);
  const result = JSON.parse(use.out.trim().split('\n').find((l) => l.startsWith('{'))!) as { name: string; kind: string; status: number; body: string; pids: number[]; rss: Array<number | null> };
  assert.is(result.name, 'hello');
  assert.is(result.kind, 'wsgi');
  assert.is(result.status, 200);
  assert.is(result.body, 'Hello, world!\n');
  assert.ok(result.pids.length >= 2, `worker pids: ${result.pids.join(',')}`);
  assert.ok(result.rss.length >= 2 && result.rss.every((b) => b !== null && b > 1_000_000), `sampled RSS: ${result.rss.join(',')}`);
  await assertNoOrphans(result.pids);

  // From CommonJS (README "As a library"): import() everywhere; require() where Node's require
  // loads ES modules (20.19+), which a top-level await anywhere in the library would break.
  writeFileSync(
    join(project, 'use.cjs'),
    `let required;
try { required = typeof require('apppkg-gateway').Gateway.start; } catch (err) { required = err.code; }
import('apppkg-gateway').then((m) => console.log(JSON.stringify({ required, imported: typeof m.AppPackage.open })));
`,
  );
  const cjs = run(process.execPath, ['use.cjs'], project, 60_000);
  assert.is(cjs.status, 0, cjs.out);
  const [major, minor] = process.versions.node.split('.').map(Number);
  const requireLoadsEsm = major > 22 || (major === 22 && minor >= 12) || (major === 20 && minor >= 19);
  assert.equal(JSON.parse(cjs.out.trim().split('\n').find((l) => l.startsWith('{'))!), { required: requireLoadsEsm ? 'function' : 'ERR_REQUIRE_ESM', imported: 'function' });

  // The types ship too: a TypeScript user compiles against dist/index.d.ts.
  writeFileSync(
    join(project, 'typed.ts'),
    `import { AppPackage, Gateway, type GatewayOptions, type MailDeleteAsk, type MailDeleteDone, type MailRetryAsk, type MailRetryDone, type UnixSocketOptions } from 'apppkg-gateway';
const options: GatewayOptions = { apps: '/srv/apps', listen: '127.0.0.1:0', admin: '127.0.0.1:0', environment: 'env.yaml' };
export async function main(): Promise<number> {
  const app: AppPackage = await AppPackage.open('.');
  // Every member SPEC 5.7 names, each with the type a user writes for it; description's keys
  // are what describe prints, typed (it was a Record of unknowns: its kind was no string).
  const name: string = app.name;
  const version: string | null = app.version;
  const kind: 'wsgi' | 'asgi' | 'command' = app.description.kind;
  const object: string | null = app.description.app;
  const hooks: string[] = Object.values(app.description.commands).filter((c): c is string => c !== undefined);
  const routes: Array<string | null> = Object.values(app.description.processes).map((p) => p.route);
  const ok: boolean = (await app.check()).ok;
  await app.install();
  const tested: number = await app.runCommand('test');
  const gateway: Gateway = await Gateway.start(options);
  await gateway.stop();
  console.log(name, version, kind, object, hooks, routes, ok, tested);
  return app.run(['true']);
}
// What retryMail() and deleteMail() take and give, and unixSocket, named by a program's own code
// (the package named none of them: found by H277).
export async function mail(gateway: Gateway): Promise<[MailRetryDone, MailDeleteDone]> {
  const retry: MailRetryAsk = { all: true, app: null };
  const remove: MailDeleteAsk = { ids: ['20261207-0001'] };
  return [await gateway.retryMail(retry), await gateway.deleteMail(remove)];
}
export const socket: UnixSocketOptions = { mode: 0o660 };
`,
  );
  // skipLibCheck false: an error in a .d.ts the package ships (or in its dependencies' that it
  // names) fails here, as it would for a user. TypeScript's own lib.*.d.ts are not checked
  // (skipDefaultLibCheck): they are not the package's, and checking them (lib.dom.d.ts above all)
  // was 4 of this compile's 10 s of CPU.
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', strict: true, noEmit: true, skipLibCheck: false, skipDefaultLibCheck: true, types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')] }, files: ['typed.ts'] }));
  const tsc = run(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], project, 120_000);
  assert.is(tsc.status, 0, tsc.out);
});

test.run();
