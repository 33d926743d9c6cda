// `apppkg-gateway export kubernetes` (SPEC 5.5, issue 18), through the real CLI: the mapping of
// a tree with hosts, mounts, settings, services, mail, routed and background processes and
// hooks against golden files (UPDATE_GOLDEN=1 rewrites them), every object validated against
// Kubernetes' schemas, the bundled examples too, and bad input reported while the rest is written.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { EXAMPLES, FIXTURES, pathWithoutPyenvShims, runCli, tempDir } from '../helpers/process.js';
import { validateObject } from '../../src/export/k8s-validate.js';
import { exportKubernetes } from '../../src/index.js';
import { loadEnvironmentFile, overridesFor } from '../../src/environment/host-file.js';
import { parseCommand } from '../../src/cli/args.js';
import { DEFAULT_THREADS, DEFAULT_WORKERS } from '../../src/supervisor/start-app.js';
import { spec as gatewaySpec } from '../../src/cli/commands/gateway.js';
import { spec as installSpec } from '../../src/cli/commands/install.js';
import { spec as runSpec } from '../../src/cli/commands/run.js';
import { find, kubeletExpand, objectsIn, objectsOf, schemaProblems } from './manifests.js';

const test = suite('export kubernetes');
const TREE = join(FIXTURES, 'export', 'tree');
const EXPECTED = join(TREE, 'expected');
const IMAGE = 'registry.example.com/apps/{name}:{version}';
const out = tempDir('apppkg-export-k8s-');
test.after(() => out.remove());

let treeRun: Awaited<ReturnType<typeof runCli>>;
const treeOut = join(out.path, 'tree');

test.before(async () => {
  treeRun = await runCli(['export', 'kubernetes', '--apps', join(TREE, 'apps'), '--environment', join(TREE, 'environment.yaml'), '--image', IMAGE, '--out', treeOut]);
});

test('the tree: blog, shop and chat are written, one file each, mode 0600 (they hold Secrets)', () => {
  assert.equal(readdirSync(treeOut).sort(), ['blog.yaml', 'chat.yaml', 'shop.yaml'], treeRun.stderr);
  for (const file of readdirSync(treeOut)) assert.is(statSync(join(treeOut, file)).mode & 0o777, 0o600, file);
});

test('the mapping is the golden files', () => {
  for (const file of readdirSync(treeOut).sort()) {
    const written = readFileSync(join(treeOut, file), 'utf8');
    const golden = join(EXPECTED, file);
    if (process.env.UPDATE_GOLDEN === '1') writeFileSync(golden, written);
    assert.ok(existsSync(golden), `no golden file ${golden}: run with UPDATE_GOLDEN=1 to write it`);
    assert.fixture(written, readFileSync(golden, 'utf8'), `${file} differs from ${golden} (UPDATE_GOLDEN=1 rewrites it once the change is meant)`);
  }
});

test("every object of the tree validates against Kubernetes' schemas", () => {
  for (const file of readdirSync(treeOut)) {
    const objects = objectsIn(join(treeOut, file));
    assert.ok(objects.length >= 5, `${file}: ${objects.length} objects`);
    assert.equal(schemaProblems(objects), [], file);
  }
});

test('the validation can fail: a wrong type, a missing field, a bad name, a host with a port', () => {
  const deployment = find(objectsIn(join(treeOut, 'blog.yaml')), 'Deployment', 'blog');
  const broken = structuredClone(deployment) as unknown as { spec: { replicas: unknown; template: { spec: { containers: Array<{ image?: string; ports: Array<{ containerPort: unknown }> }> } } } };
  broken.spec.replicas = 'two';
  broken.spec.template.spec.containers[0].ports[0].containerPort = '8000';
  const problems = validateObject(broken as never);
  assert.ok(problems.some((p) => p.startsWith('/spec/replicas must be integer')), problems.join('\n'));
  assert.ok(problems.some((p) => p.includes('/containerPort must be integer')), problems.join('\n'));

  const job = structuredClone(find(objectsIn(join(treeOut, 'blog.yaml')), 'Job', 'blog-hooks-1-2'));
  delete (job.spec as { template?: unknown }).template;
  assert.ok(validateObject(job).some((p) => p.includes('template')), 'a Job without its pod template');

  const named = structuredClone(deployment);
  named.metadata!.name = 'Blog_App';
  assert.ok(validateObject(named).some((p) => p.startsWith('/metadata/name must be a DNS label')));

  const ingress = structuredClone(find(objectsIn(join(treeOut, 'blog.yaml')), 'Ingress', 'blog'));
  ingress.spec!.rules![0].host = 'blog.example.com:8080';
  assert.ok(validateObject(ingress).some((p) => p.includes('without a port')));
});

test('the validation refuses a field the schema does not have (kubectl apply refuses it, an older one drops it): a typo in a container, the pod spec, the metadata; map keys (labels, annotations, resources) are data, not fields', () => {
  const deployment = find(objectsIn(join(treeOut, 'blog.yaml')), 'Deployment', 'blog');
  assert.equal(validateObject(deployment), []);
  const typo = structuredClone(deployment) as unknown as {
    metadata: Record<string, unknown>;
    spec: Record<string, unknown> & { template: { spec: Record<string, unknown> & { containers: Array<Record<string, unknown>> } } };
  };
  typo.metadata.label = { a: 'b' };
  typo.spec.replica = 2;
  typo.spec.template.spec.containers[0].imagePullPolicyy = 'Always';
  typo.spec.template.spec.containers[0].startupProbe = { httpGet: { path: '/', port: 'http', hostHeader: 'x' } };
  typo.spec.template.spec.terminationGracePeriod = 30;
  const problems = validateObject(typo as never);
  for (const field of ['/metadata/label', '/spec/replica', '/spec/template/spec/containers/0/imagePullPolicyy', '/spec/template/spec/containers/0/startupProbe/httpGet/hostHeader', '/spec/template/spec/terminationGracePeriod']) {
    assert.ok(problems.some((p) => p.startsWith(`${field} is not a field of `)), `${field} not refused:\n${problems.join('\n')}`);
  }
  assert.is(problems.length, 5, problems.join('\n'));
  const job = structuredClone(find(objectsIn(join(treeOut, 'blog.yaml')), 'Job', 'blog-hooks-1-2')) as unknown as { spec: { template: { spec: { containers: Array<{ env: Array<Record<string, unknown>> }> } } } };
  job.spec.template.spec.containers[0].env[0].valueFrom = undefined;
  job.spec.template.spec.containers[0].env[0].vaule = 'x';
  // A key left undefined is not written: no field there.
  assert.equal(validateObject(job as never).filter((p) => p.includes('is not a field of ')).length, 1, validateObject(job as never).join('\n'));
  assert.ok(validateObject(job as never).some((p) => p.startsWith('/spec/template/spec/containers/0/env/0/vaule is not a field of ')));
});

test('bad input: each problem with its file, line, key and fix; the rest is written; status 1', () => {
  assert.is(treeRun.status, 1, treeRun.stderr);
  assert.match(treeRun.stderr, /hostpath\/app\.yaml:\d+:\d+: processes\.worker\.command: expected a command that runs inside the image, found the host path "\/opt\/tools\/bin\/worker"/);
  assert.match(treeRun.stderr, /fix: ship the program in the app directory/);
  assert.match(treeRun.stderr, /broken\/app\.yaml:3:1: health_check: expected one of the known keys/);
  assert.match(treeRun.stderr, /3 apps written; not written: broken, hostpath/);
  assert.match(treeRun.stderr, /wrote .*blog\.yaml: blog, 11 objects/);
});

test('an apps.NAME of the environment file naming no app under --apps is warned of, with the name it looks like; the apps are written all the same', async () => {
  assert.not.match(treeRun.stderr, /no app of that name/);
  const env = join(out.path, 'typo-environment.yaml');
  writeFileSync(env, 'apps:\n  shpo:\n    replicas: 2\n  broken:\n    workers: 1\n');
  const r = await runCli(['export', 'kubernetes', '--apps', join(TREE, 'apps'), '--environment', env, '--image', IMAGE, '--out', join(out.path, 'typo')]);
  assert.match(r.stderr, `warning: ${env}:2:3: apps.shpo: no app of that name under ${join(TREE, 'apps')} (did you mean "shop"?)`);
  // A package whose app.yaml does not load is still there, by its directory's name.
  assert.not.match(r.stderr, /apps\.broken: no app/);
  assert.ok(existsSync(join(out.path, 'typo', 'shop.yaml')));
});

test('the notes say what the operator must do: the Secrets to fill, the volume\'s access mode', () => {
  assert.match(treeRun.stderr, /blog: note: SENTRY_DSN: no value in the environment file; add it to Secret blog-settings/);
  assert.match(treeRun.stderr, /blog: note: services\.database: fill Secret blog-database/);
  assert.match(treeRun.stderr, /shop: note: replicas 3: the data volume is ReadWriteMany/);
  // What the manifests cannot carry over: the mail spool, and one ReadWriteOnce volume in two Deployments.
  assert.match(treeRun.stderr, /blog: note: mail: the spool .* is on the pod's own disk/);
  assert.match(treeRun.stderr, /chat: note: processes\.digest: its pod shares the app's ReadWriteOnce data volume, so every pod of the app is kept on one node/);
  assert.match(readFileSync(join(treeOut, 'blog.yaml'), 'utf8'), /^#   - services\.redis: fill REDIS_URL in Secret blog-redis/m);
});

test('workers, threads, max_memory, replicas: the environment file in the pod, requests and the memory limit', () => {
  const objects = objectsIn(join(treeOut, 'blog.yaml'));
  const deployment = find(objects, 'Deployment', 'blog');
  assert.is(deployment.spec!.replicas, 2);
  const gateway = deployment.spec!.template.spec!.containers[0];
  // 3 workers and 1 routed process: 100m + 3 x 200m + 100m; the limit: 256Mi + (3 + 1 + 1) x 256Mi.
  assert.equal(gateway.resources, { requests: { cpu: '800m', memory: '576Mi' }, limits: { memory: '1536Mi' } });
  const env = JSON.parse(find(objects, 'ConfigMap', 'blog-gateway').data!['environment.json']);
  assert.equal(env.apps.blog, {
    settings: {}, mount: '/blog', hosts: ['blog.example.com', 'www.blog.example.com'], workers: 3, threads: 4,
    max_requests: 5000, max_memory: 256 * 2 ** 20, timeout: 30, drain: 45, mail_domains: ['blog.example.com'],
  });
  assert.equal(gateway.command!.slice(0, 7), ['apppkg-gateway', '--apps', '/srv/apps', '--listen', '0.0.0.0:8000', '--environment', '/run/apppkg-gateway/environment.json']);
});

test('replicas: 0, which Kubernetes takes (an app kept on the cluster, serving nothing): a Deployment of no pod, with a note saying how to scale it up', async () => {
  const dir = join(out.path, 'parked');
  mkdirSync(join(dir, 'apps', 'parked.1.0'), { recursive: true });
  writeFileSync(join(dir, 'apps', 'parked.1.0', 'app.yaml'), 'app: w:application\nhealth: /healthz\n');
  writeFileSync(join(dir, 'environment.yaml'), 'apps:\n  parked:\n    replicas: 0\n');
  const r = await runCli(['export', 'kubernetes', '--apps', join(dir, 'apps'), '--environment', join(dir, 'environment.yaml'), '--image', IMAGE, '--out', join(dir, 'out')]);
  assert.is(r.status, 0, r.stderr);
  const objects = objectsIn(join(dir, 'out', 'parked.yaml'));
  assert.equal(schemaProblems(objects), []);
  assert.is(find(objects, 'Deployment', 'parked').spec!.replicas, 0);
  assert.equal(find(objects, 'PersistentVolumeClaim', 'parked-data').spec!.accessModes, ['ReadWriteOnce']);
  assert.match(r.stderr, /parked: note: replicas 0: the Deployment runs no pod, so the app serves nothing on the cluster; `kubectl scale deployment\/parked --replicas=1` when it should/);
  // The gateway on a host has no use for replicas: 0 is no error there either. Which python
  // check finds is no matter here: without pyenv's shims it probes none of them (~0.5 s of CPU).
  const check = await runCli(['check', join(dir, 'apps', 'parked.1.0'), '--environment', join(dir, 'environment.yaml'), '--state-dir', join(dir, 'state')], { env: { PATH: pathWithoutPyenvShims() } });
  assert.not.match(check.stdout + check.stderr, /replicas/);
});

test('defaults.replicas is every app\'s Deployment\'s, apps.NAME.replicas overriding it (0 too, with its note); check says nothing of it', async () => {
  const dir = join(out.path, 'fleet');
  for (const name of ['one', 'two', 'parked']) {
    mkdirSync(join(dir, 'apps', name), { recursive: true });
    writeFileSync(join(dir, 'apps', name, 'app.yaml'), 'app: w:application\nhealth: /healthz\n');
  }
  writeFileSync(join(dir, 'environment.yaml'), 'defaults:\n  replicas: 3\napps:\n  two:\n    replicas: 2\n  parked:\n    replicas: 0\n');
  const r = await runCli(['export', 'kubernetes', '--apps', join(dir, 'apps'), '--environment', join(dir, 'environment.yaml'), '--image', IMAGE, '--out', join(dir, 'out')]);
  assert.is(r.status, 0, r.stderr);
  const replicas = Object.fromEntries(['one', 'two', 'parked'].map((name) => [name, find(objectsIn(join(dir, 'out', `${name}.yaml`)), 'Deployment', name).spec!.replicas]));
  assert.equal(replicas, { one: 3, two: 2, parked: 0 });
  assert.match(r.stderr, /one: note: replicas 3: the data volume is ReadWriteMany/);
  assert.match(r.stderr, /parked: note: replicas 0: the Deployment runs no pod/);
  writeFileSync(join(dir, 'zero.yaml'), 'defaults:\n  replicas: 0\n');
  const zero = await runCli(['export', 'kubernetes', '--apps', join(dir, 'apps'), '--environment', join(dir, 'zero.yaml'), '--image', IMAGE, '--out', join(dir, 'zero')]);
  assert.is(zero.status, 0, zero.stderr);
  assert.is(find(objectsIn(join(dir, 'zero', 'one.yaml')), 'Deployment', 'one').spec!.replicas, 0);
  assert.match(zero.stderr, /one: note: replicas 0: the Deployment runs no pod/);
  writeFileSync(join(dir, 'bad.yaml'), 'defaults:\n  replicas: -1\n');
  const bad = await runCli(['export', 'kubernetes', '--apps', join(dir, 'apps'), '--environment', join(dir, 'bad.yaml'), '--image', IMAGE, '--out', join(dir, 'bad')]);
  assert.match(bad.stderr, /bad\.yaml:2:13: defaults\.replicas: expected a whole number of 0 or more/);
  // The gateway on a host has no use for it: no error, no word (as for apps.NAME.replicas).
  const check = await runCli(['check', join(dir, 'apps', 'one'), '--environment', join(dir, 'environment.yaml'), '--state-dir', join(dir, 'state')], { env: { PATH: pathWithoutPyenvShims() } });
  assert.not.match(check.stdout + check.stderr, /replicas/);
});

test('health: startup and readiness probes at the mount, liveness with a longer threshold; the drain', () => {
  const deployment = find(objectsIn(join(treeOut, 'blog.yaml')), 'Deployment', 'blog');
  const pod = deployment.spec!.template.spec!;
  const c = pod.containers[0];
  for (const probe of [c.startupProbe!, c.readinessProbe!, c.livenessProbe!]) assert.equal(probe.httpGet, { path: '/blog/healthz', port: 'http' });
  assert.ok(c.livenessProbe!.failureThreshold! * c.livenessProbe!.periodSeconds! > c.readinessProbe!.failureThreshold! * c.readinessProbe!.periodSeconds!);
  // An exec of sleep(1), which the image has, rather than the `sleep` action of Kubernetes 1.30+:
  // any cluster takes it.
  assert.equal(c.lifecycle, { preStop: { exec: { command: ['sleep', '10'] } } });
  // preStop 10 s + drain 45 s (the gateway's --grace) + 10 s to stop its process trees.
  assert.is(pod.terminationGracePeriodSeconds, 65);
  assert.ok(c.command!.join(' ').includes('--grace 45'));
  assert.equal(deployment.spec!.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } });
  // A command app's health is its own server's, through the gateway at its default mount.
  const chat = find(objectsIn(join(treeOut, 'chat.yaml')), 'Deployment', 'chat').spec!.template.spec!.containers[0];
  assert.equal(chat.readinessProbe!.httpGet, { path: '/chat/healthz', port: 'http' });
});

test('a top-level drain (every app\'s, SPEC 5.1) is the pod\'s drain: its --grace, its termination grace and its environment file', async () => {
  const dir = join(out.path, 'top-drain');
  mkdirSync(join(dir, 'apps', 'drained.1.0'), { recursive: true });
  writeFileSync(join(dir, 'apps', 'drained.1.0', 'app.yaml'), 'app: w:application\nhealth: /healthz\n');
  writeFileSync(join(dir, 'environment.yaml'), 'drain: 12\n');
  const r = await runCli(['export', 'kubernetes', '--apps', join(dir, 'apps'), '--environment', join(dir, 'environment.yaml'), '--image', IMAGE, '--out', join(dir, 'out')]);
  assert.is(r.status, 0, r.stderr);
  const objects = objectsIn(join(dir, 'out', 'drained.yaml'));
  const pod = find(objects, 'Deployment', 'drained').spec!.template.spec!;
  assert.is(pod.terminationGracePeriodSeconds, 10 + 12 + 10);
  assert.ok(pod.containers[0].command!.join(' ').includes('--grace 12'), pod.containers[0].command!.join(' '));
  assert.is(JSON.parse(find(objects, 'ConfigMap', 'drained-gateway').data!['environment.json']).apps.drained.drain, 12);
});

test('hosts and mount: Ingress rules per host at /, the mount on any host, each routed process its path', () => {
  const blog = find(objectsIn(join(treeOut, 'blog.yaml')), 'Ingress', 'blog');
  const rules = blog.spec!.rules!.map((r) => [r.host ?? '*', r.http!.paths.map((p) => `${p.path} ${p.pathType}`)]);
  assert.equal(rules, [
    ['blog.example.com', ['/live Prefix', '/ Prefix']],
    ['www.blog.example.com', ['/live Prefix', '/ Prefix']],
    ['*', ['/blog/live Prefix', '/blog Prefix']],
  ]);
  const shop = find(objectsIn(join(treeOut, 'shop.yaml')), 'Ingress', 'shop');
  assert.equal(shop.spec!.rules!.map((r) => [r.host ?? '*', r.http!.paths.map((p) => p.path)]), [['shop.example.com', ['/']], ['*', ['/']]]);
});

test('an IP address or a name with a _ in hosts: left out of the Ingress (the API server refuses either there), with a note; its names and the mount stay', async () => {
  const apps = join(out.path, 'ip-host-apps');
  mkdirSync(join(apps, 'kiosk'), { recursive: true });
  writeFileSync(join(apps, 'kiosk', 'app.yaml'), 'platform: python, wsgi\napp: kiosk:application\n');
  const env = join(out.path, 'ip-host-environment.yaml');
  writeFileSync(env, 'apps:\n  kiosk:\n    hosts: [kiosk.example.com, 10.0.0.5, 010.000.000.006, my_kiosk.example.com]\n');
  const r = await runCli(['export', 'kubernetes', '--apps', apps, '--environment', env, '--image', 'registry.example.com/kiosk:1']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /kiosk: note: hosts 10\.0\.0\.5, 010\.000\.000\.006: an Ingress rule names a DNS name, never an IP address/);
  assert.match(r.stderr, /kiosk: note: hosts my_kiosk\.example\.com: an Ingress rule's host is an RFC 1123 name .* so it is left out of Ingress kiosk; requests by that name reach the app at its mount \(\/kiosk\)/);
  const objects = objectsOf(r.stdout);
  assert.equal(schemaProblems(objects), []);
  const rules = find(objects, 'Ingress', 'kiosk').spec!.rules!.map((rule) => [rule.host ?? '*', rule.http!.paths.map((p) => p.path)]);
  assert.equal(rules, [['kiosk.example.com', ['/']], ['*', ['/kiosk']]]);

  // The check itself, as the API server makes it: an address is no host for a rule.
  const ingress = find(objects, 'Ingress', 'kiosk');
  ingress.spec!.rules![0].host = '10.0.0.5';
  assert.ok(validateObject(ingress).some((p) => p.includes('not an IP address')), validateObject(ingress).join('\n'));
});

test('a host longer than a DNS name (253 characters), which the gateway routes and the API server refuses in an Ingress: left out of it, with a note; the validation refuses it too', async () => {
  const apps = join(out.path, 'long-host-apps');
  mkdirSync(join(apps, 'longhost'), { recursive: true });
  writeFileSync(join(apps, 'longhost', 'app.yaml'), 'platform: python, wsgi\napp: w:application\n');
  const label = 'a'.repeat(60);
  const long = `${label}.${label}.${label}.${label}.${label}.example.com`;
  const env = join(out.path, 'long-host-environment.yaml');
  writeFileSync(env, `apps:\n  longhost:\n    hosts: [longhost.example.com, ${long}]\n`);
  const r = await runCli(['export', 'kubernetes', '--apps', apps, '--environment', env, '--image', 'registry.example.com/longhost:1']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /longhost: note: hosts a{60}\.a{60}.*: longer than the 253 characters of a DNS name/);
  const objects = objectsOf(r.stdout);
  assert.equal(schemaProblems(objects), []);
  const ingress = find(objects, 'Ingress', 'longhost');
  assert.equal(ingress.spec!.rules!.map((rule) => rule.host ?? '*'), ['longhost.example.com', '*']);
  // The pod's gateway still routes it, as on one machine.
  assert.equal(JSON.parse(find(objects, 'ConfigMap', 'longhost-gateway').data!['environment.json']).apps.longhost.hosts, ['longhost.example.com', long]);
  ingress.spec!.rules![0].host = long;
  assert.ok(validateObject(ingress).some((p) => p.startsWith('/spec/rules/0/host must be at most 253 characters')), validateObject(ingress).join('\n'));
});

test('a wildcard host: an Ingress rule for it, which the schema takes, and a note that an Ingress wildcard matches one label where the gateway takes any depth', async () => {
  const apps = join(out.path, 'wildcard-host-apps');
  mkdirSync(join(apps, 'tenants'), { recursive: true });
  writeFileSync(join(apps, 'tenants', 'app.yaml'), 'platform: python, wsgi\napp: tenants:application\n');
  const env = join(out.path, 'wildcard-host-environment.yaml');
  writeFileSync(env, 'apps:\n  tenants:\n    hosts: [tenants.example.com, "*.tenants.example.com"]\n');
  const r = await runCli(['export', 'kubernetes', '--apps', apps, '--environment', env, '--image', 'registry.example.com/tenants:1']);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /tenants: note: hosts \*\.tenants\.example\.com: an Ingress wildcard matches one label \(a\.example\.com, not a\.b\.example\.com\)/);
  const objects = objectsOf(r.stdout);
  assert.equal(schemaProblems(objects), []);
  const rules = find(objects, 'Ingress', 'tenants').spec!.rules!.map((rule) => [rule.host ?? '*', rule.http!.paths.map((p) => p.path)]);
  assert.equal(rules, [['tenants.example.com', ['/']], ['*.tenants.example.com', ['/']], ['*', ['/tenants']]]);
});

test('an app named like an object of another (shop-mail beside shop\'s mail Service): not written, rather than replacing it when applied; the other is', async () => {
  const apps = join(out.path, 'object-clash-apps');
  mkdirSync(join(apps, 'shop'), { recursive: true });
  mkdirSync(join(apps, 'shop-mail'), { recursive: true });
  writeFileSync(join(apps, 'shop', 'app.yaml'), 'platform: python, wsgi\napp: shop:application\nmail: /_mail\n');
  writeFileSync(join(apps, 'shop-mail', 'app.yaml'), 'platform: python, wsgi\napp: shop_mail:application\n');
  const dir = join(out.path, 'object-clash');
  const r = await runCli(['export', 'kubernetes', '--apps', apps, '--image', 'registry.example.com/{name}:1', '--out', dir]);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /shop-mail\/app\.yaml: name: expected a name that gives objects of its own, found Service shop-mail, an object of the app "shop" too/);
  assert.match(r.stderr, /not written: shop-mail/);
  assert.equal(readdirSync(dir), ['shop.yaml']);
  assert.ok(objectsIn(join(dir, 'shop.yaml')).some((o) => o.kind === 'Service' && o.metadata!.name === 'shop-mail'));
});

/**
 * Exports three apps under `name`-apps: `mounted` at `mount` (the environment file), `live` with a
 * `processes:` entry routed at `route`, and `blog` as it is; what the CLI said, and where.
 */
async function exportPaths(name: string, mounted: string, mount: string, route: string) {
  const apps = join(out.path, `${name}-apps`);
  for (const app of [mounted, 'live', 'blog']) mkdirSync(join(apps, app), { recursive: true });
  writeFileSync(join(apps, mounted, 'app.yaml'), `platform: python, wsgi\napp: ${mounted}:application\n`);
  writeFileSync(join(apps, 'live', 'app.yaml'), `platform: python, wsgi\napp: live:application\nprocesses:\n  ws:\n    command: python3 ws.py\n    route: ${route}\n`);
  writeFileSync(join(apps, 'blog', 'app.yaml'), 'platform: python, wsgi\napp: blog:application\n');
  const env = join(out.path, `${name}.yaml`);
  writeFileSync(env, `apps:\n  ${mounted}:\n    mount: ${mount}\n`);
  const dir = join(out.path, name);
  const r = await runCli(['export', 'kubernetes', '--apps', apps, '--environment', env, '--image', 'registry.example.com/{name}:1', '--out', dir]);
  return { r, env, dir };
}

test('a route holding // (which an Ingress path may not, and routing never matches behind nginx): refused as app.yaml is, not written, the path to write named; the other apps are', async () => {
  const { r, dir } = await exportPaths('double-slash', 'shop', '/a/b', '/live//x');
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /live\/app\.yaml:6:\d+: processes\.ws\.route: expected a URL path prefix starting with '\/', e\.g\. \/live, as requests' decoded paths read .*, found "\/live\/\/x"/);
  assert.match(r.stderr, /fix: write route: \/live\/x/);
  assert.not.match(r.stderr, /bug in the mapping/);
  assert.match(r.stderr, /not written: live\n/);
  assert.equal(readdirSync(dir).sort(), ['blog.yaml', 'shop.yaml']);
});

test('a mount holding //: the environment file is refused at its line, as the gateway refuses it, nothing written', async () => {
  const { r, env, dir } = await exportPaths('double-slash-mount', 'shop', '/a//b', '/live');
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `${env}:3:12: apps.shop.mount: expected a URL path`);
  assert.match(r.stderr, /fix: write mount: \/a\/b \(/);
  assert.not.ok(existsSync(dir), 'nothing written');
});

test('a mount or a route with a space or a character past ASCII (which ingress controllers match decoded or percent-encoded, each its own way): not written, the key and a path to write named; the other apps are', async () => {
  const { r, env, dir } = await exportPaths('unicode-path', 'cafe', '/café bar', '/über');
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `${env}: apps.cafe.mount: expected a path an Ingress can carry, found "/café bar"`);
  assert.match(r.stderr, /fix: write the mount in ASCII letters, digits and - \. _ ~ \/ \(e\.g\. mount: \/cafe-bar\) in the environment file/);
  assert.match(r.stderr, /live\/app\.yaml:6:\d+: processes\.ws\.route: expected a path an Ingress can carry, found "\/über"/);
  assert.match(r.stderr, /fix: write the route in ASCII letters, digits and - \. _ ~ \/ \(e\.g\. route: \/uber\)/);
  assert.match(r.stderr, /not written: cafe, live/);
  assert.equal(readdirSync(dir), ['blog.yaml']);
});

test('--out again after an app was removed from --apps: its file goes (kubectl apply -f DIR would deploy it again); the user\'s files and a broken app\'s last file stay', async () => {
  const apps = join(out.path, 'removed-apps');
  for (const name of ['shop', 'blog', 'wiki']) {
    mkdirSync(join(apps, name), { recursive: true });
    writeFileSync(join(apps, name, 'app.yaml'), `platform: python, wsgi\napp: ${name}:application\n`);
  }
  const dir = join(out.path, 'removed');
  const first = await runCli(['export', 'kubernetes', '--apps', apps, '--image', 'registry.example.com/{name}:1', '--out', dir]);
  assert.is(first.status, 0, first.stderr);
  writeFileSync(join(dir, 'kustomization.yaml'), 'resources: [blog.yaml, shop.yaml]\n');
  writeFileSync(join(dir, 'notes.txt'), 'mine\n');
  rmSync(join(apps, 'shop'), { recursive: true });
  writeFileSync(join(apps, 'wiki', 'app.yaml'), 'platform: python, wsgi\napp: wiki:application\nwsgii: 1\n');
  const r = await runCli(['export', 'kubernetes', '--apps', apps, '--image', 'registry.example.com/{name}:1', '--out', dir]);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, `removed ${join(dir, 'shop.yaml')}: an earlier export's file of an app no longer under --apps`);
  assert.equal(readdirSync(dir).sort(), ['blog.yaml', 'kustomization.yaml', 'notes.txt', 'wiki.yaml']);
});

test('--apps holding no app package: exit 1, saying so with what a package is, and an earlier export in --out left as it was (it printed nothing and exited 0, and emptied --out)', async () => {
  const apps = join(out.path, 'no-apps');
  mkdirSync(join(apps, 'notes'), { recursive: true });
  const dir = join(out.path, 'kept');
  // An earlier export in --out: the tree's, as the before hook wrote it (a copy, not an export of the same input again).
  cpSync(treeOut, dir, { recursive: true });
  const before = readdirSync(dir).sort();
  assert.ok(before.length >= 3, treeRun.stderr);
  for (const target of [[], ['--out', dir]]) {
    const r = await runCli(['export', 'kubernetes', '--apps', apps, '--image', 'registry.example.com/{name}:1', ...target]);
    assert.is(r.status, 1, r.stderr);
    assert.is(r.stdout, '');
    assert.match(r.stderr, `apppkg-gateway: --apps: expected a directory of app packages, found none in ${apps} (no directory in it holds app.yaml)\n`);
    assert.match(r.stderr, `  fix: put each app in a directory of its own there, holding its app.yaml (${join(apps, 'hello', 'app.yaml')}), or point --apps at the directory that holds them\n`);
  }
  assert.equal(readdirSync(dir).sort(), before, 'nothing removed');
});

test('settings, services and mail: Secrets with the same variable names, a Service for SMTP', () => {
  const objects = objectsIn(join(treeOut, 'blog.yaml'));
  // What the environment file does not give is left out, for the operator to add: named in the annotation.
  const settings = find(objects, 'Secret', 'blog-settings');
  assert.equal(settings.stringData, { SMTP_HOST: 'smtp.example.com', SECRET_KEY: 'not-a-real-secret' });
  assert.is(settings.metadata!.annotations!['apppkg-gateway.io/fill'], 'SENTRY_DSN');
  const database = find(objects, 'Secret', 'blog-database');
  assert.equal(database.stringData, {});
  assert.is(database.metadata!.annotations!['apppkg-gateway.io/fill'], 'DATABASE_URL,PGHOST,PGPORT,PGUSER,PGPASSWORD,PGDATABASE');
  assert.equal(find(objects, 'Secret', 'blog-redis').stringData, { APPPKG_REDIS_PREFIX: 'blog:' });
  assert.is(find(objects, 'Secret', 'blog-redis').metadata!.annotations!['apppkg-gateway.io/fill'], 'REDIS_URL');
  const init = find(objects, 'Deployment', 'blog').spec!.template.spec!.initContainers![0];
  assert.equal(init.envFrom!.map((e) => e.secretRef!.name), ['blog-settings', 'blog-database', 'blog-redis']);
  const mail = find(objects, 'Service', 'blog-mail');
  assert.equal(mail.spec!.ports, [{ name: 'smtp', port: 25, targetPort: 'smtp', protocol: 'TCP' }]);
  // chat lists no settings and asks for no service: the shared setting only.
  const chat = objectsIn(join(treeOut, 'chat.yaml'));
  assert.equal(chat.filter((o) => o.kind === 'Secret').map((o) => [o.metadata!.name, (o as { stringData?: unknown }).stringData]), [['chat-settings', { SMTP_HOST: 'smtp.example.com' }]]);
});

test('mail under LMTP (mail.lmtp: true): the container port and the Service named lmtp, on LMTP\'s port 24, where Postfix\'s lmtp: transport looks', async () => {
  const apps = join(out.path, 'lmtp-apps');
  mkdirSync(join(apps, 'desk'), { recursive: true });
  writeFileSync(join(apps, 'desk', 'app.yaml'), 'platform: python, wsgi\napp: desk:application\nmail: /_mail\n');
  const env = join(out.path, 'lmtp-environment.yaml');
  writeFileSync(env, 'mail:\n  listen: 127.0.0.1:2525\n  lmtp: true\n');
  const r = await runCli(['export', 'kubernetes', '--apps', apps, '--environment', env, '--image', 'registry.example.com/desk:1']);
  assert.is(r.status, 0, r.stderr);
  const objects = objectsOf(r.stdout);
  assert.equal(schemaProblems(objects), []);
  assert.equal(find(objects, 'Service', 'desk-mail').spec!.ports, [{ name: 'lmtp', port: 24, targetPort: 'lmtp', protocol: 'TCP' }]);
  const ports = find(objects, 'Deployment', 'desk').spec!.template.spec!.containers[0].ports!;
  assert.equal(ports.map((p) => [p.name, p.containerPort]), [['http', 8000], ['lmtp', 2525]]);
  const podEnvironment = JSON.parse(find(objects, 'ConfigMap', 'desk-gateway').data!['environment.json']);
  assert.is(podEnvironment.mail.lmtp, true, 'the pod\'s listener speaks what its port is named for');
});

test('data dir: a PersistentVolumeClaim at APPPKG_DATA_DIR, ReadWriteOnce for one replica', () => {
  const chat = objectsIn(join(treeOut, 'chat.yaml'));
  assert.equal(find(chat, 'PersistentVolumeClaim', 'chat-data').spec!.accessModes, ['ReadWriteOnce']);
  assert.match(find(chat, 'PersistentVolumeClaim', 'chat-data').metadata!.annotations!['apppkg-gateway.io/note'], /one replica/);
  const mounts = find(chat, 'Deployment', 'chat').spec!.template.spec!.containers[0].volumeMounts!;
  assert.ok(mounts.some((m) => m.name === 'data' && m.mountPath === '/var/lib/apppkg-gateway/apps/chat/data'));
});

test('one replica, a ReadWriteOnce volume: every pod of the app (the hooks Job, a rollout\'s new pod, background processes) is required onto the node of the others', async () => {
  const sameNode = {
    podAffinity: {
      requiredDuringSchedulingIgnoredDuringExecution: [{
        labelSelector: { matchLabels: { 'app.kubernetes.io/name': 'solo', 'app.kubernetes.io/managed-by': 'apppkg-gateway' } },
        topologyKey: 'kubernetes.io/hostname',
      }],
    },
  };
  const dir = join(out.path, 'rwo');
  mkdirSync(join(dir, 'apps', 'solo.2.0'), { recursive: true });
  writeFileSync(join(dir, 'apps', 'solo.2.0', 'app.yaml'), 'app: w:application\nprocesses:\n  worker:\n    command: python worker.py\ncommands:\n  install: python init.py\n');
  writeFileSync(join(dir, 'environment.yaml'), 'apps:\n  solo:\n    idle_timeout: 600\n    max_requests: 1000\n    start_timeout: 300\n');
  const r = await runCli(['export', 'kubernetes', '--apps', join(dir, 'apps'), '--environment', join(dir, 'environment.yaml'), '--image', IMAGE, '--out', join(dir, 'out')]);
  assert.is(r.status, 0, r.stderr);
  const objects = objectsIn(join(dir, 'out', 'solo.yaml'));
  assert.equal(schemaProblems(objects), []);
  assert.equal(find(objects, 'PersistentVolumeClaim', 'solo-data').spec!.accessModes, ['ReadWriteOnce']);
  const pods = [find(objects, 'Job', 'solo-hooks-2-0'), find(objects, 'Deployment', 'solo'), find(objects, 'Deployment', 'solo-process-worker')].map((o) => o.spec!.template);
  for (const pod of pods) {
    assert.equal(pod.spec!.affinity, sameNode);
    // Each matches its own term: the first pod of the app (no other running) is scheduled anywhere.
    for (const [key, value] of Object.entries(sameNode.podAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].labelSelector.matchLabels)) assert.is(pod.metadata!.labels![key], value);
  }
  assert.match(r.stderr, /processes\.worker: its pod shares the app's ReadWriteOnce data volume, so every pod of the app is kept on one node/);
  // idle_timeout: workers are not what a cluster scales; said, not carried into the pod's file.
  assert.match(r.stderr, /solo: note: idle_timeout 600: not used on the cluster; .*scale the Deployment's replicas instead/);
  assert.not.match(find(objects, 'ConfigMap', 'solo-gateway').data!['environment.json'], /idle/);
  // start_timeout is carried, and the startup probe waits for it on top of its own 5 minutes.
  assert.is(JSON.parse(find(objects, 'ConfigMap', 'solo-gateway').data!['environment.json']).apps.solo.start_timeout, 300);
  const startup = find(objects, 'Deployment', 'solo').spec!.template.spec!.containers[0].startupProbe!;
  assert.is(startup.failureThreshold! * startup.periodSeconds!, 300 + 240);
  // ReadWriteMany (replicas > 1): the pods go anywhere.
  const blog = objectsIn(join(treeOut, 'blog.yaml'));
  for (const o of blog) if (o.kind === 'Deployment' || o.kind === 'Job') assert.is(o.spec!.template.spec!.affinity, undefined, o.metadata!.name);
});

test('hooks: a Job named for the version, install the first time and update after, before the rollout', () => {
  const objects = objectsIn(join(treeOut, 'blog.yaml'));
  const job = find(objects, 'Job', 'blog-hooks-1-2');
  const container = job.spec!.template.spec!.containers[0];
  const script = container.command![2];
  assert.match(script, /apppkg-gateway install \/srv\/apps\/blog\.1\.2 --environment/);
  assert.match(script, /apppkg-gateway run \/srv\/apps\/blog\.1\.2 .* -- \/bin\/sh -c "\$APPPKG_UPDATE"/);
  assert.equal(container.env, [
    { name: 'APPPKG_ENV', value: 'production' },
    { name: 'APPPKG_UPDATE', value: 'python manage.py migrate --noinput && python manage.py clearsessions' },
  ]);
  assert.is(job.spec!.template.spec!.restartPolicy, 'Never');
  // A hook that hangs fails its attempt after the gateway's own bound, not the rollout for ever.
  assert.is(job.spec!.template.spec!.activeDeadlineSeconds, 600);
  // What the Job needs carries the phase label; the Deployment does not, so `-l` applies the Job first.
  const phased = objects.filter((o) => o.metadata?.labels?.['apppkg-gateway.io/phase'] === 'before-rollout').map((o) => `${o.kind} ${o.metadata!.name}`);
  assert.equal(phased, ['Secret blog-settings', 'Secret blog-database', 'Secret blog-redis', 'ConfigMap blog-gateway', 'PersistentVolumeClaim blog-data', 'Job blog-hooks-1-2']);
  assert.match(readFileSync(join(treeOut, 'blog.yaml'), 'utf8'), /kubectl wait --for=condition=complete --timeout=15m job\/blog-hooks-1-2/);
  // chat has no hooks: no Job.
  assert.not.ok(objectsIn(join(treeOut, 'chat.yaml')).some((o) => o.kind === 'Job'));
});

test('hooks: the Job of a version whose hooks ran before (an older export applied again to roll back) runs no commands.update', () => {
  const job = find(objectsIn(join(treeOut, 'blog.yaml')), 'Job', 'blog-hooks-1-2');
  const script = job.spec!.template.spec!.containers[0].command![2];
  // The script's own branches run by sh, on a marker of this test's, the two commands it
  // would run replaced by what they are.
  const marker = /if \[ -e (\S+) \]/.exec(script)![1];
  const work = tempDir('apppkg-k8s-hooks-');
  const local = join(work.path, 'installed');
  const runnable = script.replaceAll(marker, local)
    .replace(/^(\s*)apppkg-gateway install .*$/m, '$1echo install')
    .replace(/^(\s*)apppkg-gateway run .*$/m, '$1echo update');
  const run = () => {
    const r = spawnSync('/bin/sh', ['-c', runnable], { encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    return r.stdout.trim();
  };
  try {
    assert.is(run(), 'install');
    assert.match(run(), /version 1\.2 ran its hooks here before: a rollback runs no commands\.update/);
    writeFileSync(local, '1.1\n');
    assert.is(run(), 'update', 'a version not listed is a deploy');
    writeFileSync(local, '1.2\n1.3\n');
    assert.match(run(), /a rollback runs no commands\.update/, '1.3 migrated the data; 1.2 applied again');
    assert.is(readFileSync(local, 'utf8'), '1.2\n1.3\n', 'listed once');
  } finally {
    work.remove();
  }
});

test('processes: background ones each a Deployment run in the app\'s environment; routed ones behind the gateway', () => {
  const blog = objectsIn(join(treeOut, 'blog.yaml'));
  const tasks = find(blog, 'Deployment', 'blog-process-tasks').spec!.template.spec!.containers[0];
  assert.equal(tasks.command!.slice(-4), ['--', '/bin/sh', '-c', 'python -m blog.tasks --queue "$APPPKG_DATA_DIR/queue"']);
  // `run` is the development command on a laptop; in the pod the app sees production.
  assert.equal(tasks.env, [{ name: 'APPPKG_ENV', value: 'production' }]);
  assert.not.ok(blog.some((o) => o.metadata?.name === 'blog-process-live'), 'a routed process is the gateway\'s, in the web pod');
  // A command app's processes.web is its server, in the web pod; its other process is background.
  const chat = objectsIn(join(treeOut, 'chat.yaml'));
  assert.equal(chat.filter((o) => o.kind === 'Deployment').map((o) => o.metadata!.name), ['chat', 'chat-process-digest']);
});

test('a $$ or a $(NAME) in a command (a shell\'s pid, a command substitution) reaches the shell as app.yaml says: Kubernetes expands both in a container\'s command and env, so they are written escaped', async () => {
  const apps = join(out.path, 'dollar-apps');
  mkdirSync(join(apps, 'dollar.1.0'), { recursive: true });
  const worker = 'echo "$$ $(APPPKG_ENV) $(KUBERNETES_SERVICE_HOST) $$(date) $HOME $" > "$APPPKG_DATA_DIR/pid.$$"';
  const update = 'test "$(APPPKG_UPDATE)" != "$$" && python manage.py migrate';
  writeFileSync(join(apps, 'dollar.1.0', 'app.yaml'), `app: w:application\nprocesses:\n  worker:\n    command: ${JSON.stringify(worker)}\ncommands:\n  update: ${JSON.stringify(update)}\n`);
  const r = await runCli(['export', 'kubernetes', '--apps', apps, '--image', 'registry.example.com/dollar:1.0']);
  assert.is(r.status, 0, r.stderr);
  const objects = objectsOf(r.stdout);
  assert.equal(schemaProblems(objects), []);
  // What each container has as variables of its own, and one a Service gives every pod.
  const variablesOf = (c: { env?: Array<{ name: string; value?: string }> }) => ({ KUBERNETES_SERVICE_HOST: '10.96.0.1', ...Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? ''])) });
  const workerContainer = find(objects, 'Deployment', 'dollar-process-worker').spec!.template.spec!.containers[0];
  assert.is(kubeletExpand(workerContainer.command!.at(-1)!, variablesOf(workerContainer)), worker);
  const hooks = find(objects, 'Job', 'dollar-hooks-1-0').spec!.template.spec!.containers[0];
  const updateVariable = hooks.env!.find((e) => e.name === 'APPPKG_UPDATE')!.value!;
  assert.is(kubeletExpand(updateVariable, variablesOf(hooks)), update);
  // The script that runs it still reads the variable: a $ followed by neither ( nor $ is left as it is.
  assert.match(kubeletExpand(hooks.command![2], variablesOf(hooks)), /-- \/bin\/sh -c "\$APPPKG_UPDATE"$/m);
  // Run as the kubelet hands it over, the worker's shell writes its own pid, as on one machine.
  const work = tempDir('apppkg-k8s-dollar-');
  try {
    const line = kubeletExpand(workerContainer.command!.at(-1)!, variablesOf(workerContainer)).replaceAll('$(APPPKG_ENV) $(KUBERNETES_SERVICE_HOST) ', '').replaceAll('$$(date) ', '');
    const ran = spawnSync('/bin/sh', ['-c', `${line}; echo $$`], { env: { PATH: process.env.PATH, HOME: '/home/x', APPPKG_DATA_DIR: work.path }, encoding: 'utf8', timeout: 10_000 });
    const pid = ran.stdout.trim();
    assert.match(pid, /^\d+$/, ran.stderr);
    assert.is(readFileSync(join(work.path, `pid.${pid}`), 'utf8'), `${pid} /home/x $\n`);
  } finally {
    work.remove();
  }
});

test('background processes whose names are one DNS label (send_mail, send-mail): a Deployment and a selector each, none overwriting another', async () => {
  const apps = join(out.path, 'process-names-apps');
  mkdirSync(join(apps, 'jobs'), { recursive: true });
  writeFileSync(join(apps, 'jobs', 'app.yaml'), [
    'platform: python, wsgi',
    'app: jobs:application',
    'processes:',
    '  send_mail: {command: python -m jobs.a}',
    '  send-mail: {command: python -m jobs.b}',
    '  Send_Mail: {command: python -m jobs.c}',
    '  digest: {command: python -m jobs.d}',
    '',
  ].join('\n'));
  const r = await runCli(['export', 'kubernetes', '--apps', apps, '--image', 'registry.example.com/jobs:1']);
  assert.is(r.status, 0, r.stderr);
  const objects = objectsOf(r.stdout);
  assert.equal(schemaProblems(objects), []);
  const deployments = objects.filter((o): o is Extract<typeof o, { kind: 'Deployment' }> => o.kind === 'Deployment' && o.metadata!.name !== 'jobs');
  const byProcess = Object.fromEntries(deployments.map((d) => [d.metadata!.annotations!['apppkg-gateway.io/process'], d]));
  assert.equal(Object.keys(byProcess).sort(), ['Send_Mail', 'digest', 'send-mail', 'send_mail']);
  assert.is(byProcess.digest.metadata!.name, 'jobs-process-digest', 'a name no other shares stays as it was');
  const names = deployments.map((d) => d.metadata!.name);
  assert.is(new Set(names).size, 4, names.join(' '));
  const selectors = deployments.map((d) => JSON.stringify(d.spec!.selector.matchLabels));
  assert.is(new Set(selectors).size, 4, selectors.join(' '));
  for (const d of deployments) {
    assert.match(d.metadata!.name!, /^jobs-process-(send-mail-[0-9a-f]{6}|digest)$/);
    const labels = d.spec!.template.metadata!.labels!;
    for (const [key, value] of Object.entries(d.spec!.selector.matchLabels!)) assert.is(labels[key], value, `${d.metadata!.name}: its pods carry its selector`);
  }
  // The same input gives the same names: an export applied again replaces nothing.
  const again = await runCli(['export', 'kubernetes', '--apps', apps, '--image', 'registry.example.com/jobs:1']);
  assert.is(again.stdout, r.stdout);
});

test("the pod's environment file is one the gateway loads, with the host's routing and limits", async () => {
  for (const [file, name] of [['blog.yaml', 'blog'], ['shop.yaml', 'shop'], ['chat.yaml', 'chat']]) {
    const config = find(objectsIn(join(treeOut, file)), 'ConfigMap', `${name}-gateway`).data!['environment.json'];
    const path = join(out.path, `${name}-environment.json`);
    writeFileSync(path, config);
    const env = await loadEnvironmentFile(path);
    const host = overridesFor(await loadEnvironmentFile(join(TREE, 'environment.yaml')), name);
    const pod = overridesFor(env, name);
    for (const key of ['hosts', 'maxMemory', 'maxRequests', 'timeout', 'drain', 'mailDomains'] as const) assert.equal(pod[key], host[key], `${name}: ${key}`);
    // Defaults are written out, so that the pod does not depend on the gateway's defaults.
    assert.is(pod.mount, host.mount ?? `/${name}`, `${name}: mount`);
    assert.is(pod.threads, host.threads ?? DEFAULT_THREADS, `${name}: threads`);
    if (name !== 'chat') assert.is(pod.workers, host.workers ?? DEFAULT_WORKERS, `${name}: workers`);
  }
});

test("the init container, its Secrets filled, writes an environment file the gateway loads: the services' variables as settings", async () => {
  const pod = find(objectsIn(join(treeOut, 'blog.yaml')), 'Deployment', 'blog').spec!.template.spec!;
  const [node, flag, script, , , name, variables] = pod.initContainers![0].command!;
  assert.is(`${node} ${flag}`, 'node -e');
  const config = join(out.path, 'blog-config.json');
  writeFileSync(config, find(objectsIn(join(treeOut, 'blog.yaml')), 'ConfigMap', 'blog-gateway').data!['environment.json']);
  const composed = join(out.path, 'blog-composed.json');
  // What the operator filled in the Secrets (the redis one comes with its prefix written).
  const secrets = {
    SECRET_KEY: 'k', SENTRY_DSN: 'https://sentry.example', SMTP_HOST: 'mail',
    DATABASE_URL: 'postgresql://blog:pw@db:5432/blog', PGHOST: 'db', PGPORT: '5432', PGUSER: 'blog', PGPASSWORD: 'pw', PGDATABASE: 'blog',
    REDIS_URL: 'redis://blog:pw@redis:6379/0', APPPKG_REDIS_PREFIX: 'blog:',
  };
  const prefix = pod.initContainers![0].envFrom![0].prefix ?? '';
  const given = Object.fromEntries(Object.entries(secrets).map(([k, v]) => [prefix + k, v]));
  const r = spawnSync(process.execPath, ['-e', script, config, composed, name, variables], { env: { PATH: process.env.PATH, ...given }, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  // The gateway in the pod loads it: APPPKG_REDIS_PREFIX is the one APPPKG_ name a setting may have.
  const settings = overridesFor(await loadEnvironmentFile(composed), 'blog').settings;
  assert.is(settings.APPPKG_REDIS_PREFIX, 'blog:');
  assert.is(settings.REDIS_URL, secrets.REDIS_URL);
});

/**
 * Runs the init container of Deployment `name` as the kubelet would: envFrom gives each key of
 * the Secrets (under its prefix), beside the variables `pod` has of its own.
 */
function initContainer(objects: any[], name: string, dir: string): (secrets: Record<string, string>, pod?: Record<string, string>) => ReturnType<typeof spawnSync> & { stderr: string } {
  const init = find(objects, 'Deployment', name).spec!.template.spec!.initContainers![0];
  const [, , script, , , app, variables] = init.command!;
  const prefix = init.envFrom![0].prefix ?? '';
  const config = join(dir, 'config.json');
  writeFileSync(config, find(objects, 'ConfigMap', `${name}-gateway`).data!['environment.json']);
  const composed = join(dir, 'composed.json');
  return (secrets, pod = {}) => {
    const given = Object.fromEntries(Object.entries(secrets).map(([k, v]) => [prefix + k, v]));
    return spawnSync(process.execPath, ['-e', script, config, composed, app, variables], { env: { PATH: process.env.PATH, ...pod, ...given }, encoding: 'utf8' }) as any;
  };
}

test('an empty setting in the environment file is a value, as on one machine: exported as given, and the pod starts with it', async () => {
  const dir = join(out.path, 'empty-settings');
  mkdirSync(join(dir, 'apps', 'es'), { recursive: true });
  writeFileSync(join(dir, 'apps', 'es', 'app.yaml'), 'app: w:application\nsettings: [SENTRY_DSN, API_KEY]\n');
  writeFileSync(join(dir, 'apps', 'es', 'w.py'), 'def application(e, s):\n    s("200 OK", [])\n    return [b"x"]\n');
  writeFileSync(join(dir, 'environment.yaml'), 'settings:\n  EMPTY_ONE: ""\napps:\n  es:\n    settings:\n      SENTRY_DSN: ""\n');
  const r = await runCli(['export', 'kubernetes', '--apps', join(dir, 'apps'), '--environment', join(dir, 'environment.yaml'), '--image', IMAGE, '--out', join(dir, 'out')]);
  assert.is(r.status, 0, r.stderr);
  // Only API_KEY, which the file does not give, is the operator's to add.
  assert.not.match(r.stderr, /SENTRY_DSN: no value/);
  assert.match(r.stderr, /es: note: API_KEY: no value in the environment file; add it to Secret es-settings/);
  const objects = objectsIn(join(dir, 'out', 'es.yaml'));
  assert.equal(schemaProblems(objects), []);
  const secret = find(objects, 'Secret', 'es-settings');
  assert.equal(secret.stringData, { EMPTY_ONE: '', SENTRY_DSN: '' });
  assert.is(secret.metadata!.annotations!['apppkg-gateway.io/fill'], 'API_KEY');

  // The init container as the kubelet runs it: envFrom gives each key of the Secret, "" included.
  const compose = initContainer(objects, 'es', dir);
  const unfilled = compose({ EMPTY_ONE: '', SENTRY_DSN: '' });
  assert.is(unfilled.status, 1, unfilled.stderr);
  assert.match(unfilled.stderr, /no value for API_KEY \(Secret es-settings\): add it to the Secret/);
  assert.not.match(unfilled.stderr, /SENTRY_DSN|EMPTY_ONE/);
  const filled = compose({ EMPTY_ONE: '', SENTRY_DSN: '', API_KEY: 'k' });
  assert.is(filled.status, 0, filled.stderr);
  assert.equal(overridesFor(await loadEnvironmentFile(join(dir, 'composed.json')), 'es').settings, { EMPTY_ONE: '', SENTRY_DSN: '', API_KEY: 'k' });
});

test('settings whose values YAML 1.1 reads as booleans or numbers (yes, off, NO, y, 1_000) stay strings for kubectl, which reads YAML 1.1', async () => {
  const dir = join(out.path, 'yaml11-settings');
  mkdirSync(join(dir, 'apps', 'ys'), { recursive: true });
  writeFileSync(join(dir, 'apps', 'ys', 'app.yaml'), 'app: w:application\ncommands:\n  update: "on"\n');
  writeFileSync(join(dir, 'apps', 'ys', 'w.py'), 'def application(e, s):\n    s("200 OK", [])\n    return [b"x"]\n');
  const given = {
    USE_TLS: 'yes', DEBUG: 'off', REGION: 'NO', Y: 'y', LIMIT: '1_000', MODE: '0o17', SINCE: '2001-12-14', NOTHING: '~', PLAIN: 'plain words',
    // What PyYAML (YAML 1.1, Ansible's kubernetes.core) reads otherwise, and text that is no YAML on its own.
    EQUALS: '=', MERGE: '<<', TABBED: 'a\tb', PERCENT: '%x', BANG: '!x',
  };
  writeFileSync(join(dir, 'environment.yaml'), `apps:\n  ys:\n    settings:\n${Object.entries(given).map(([k, v]) => `      ${k}: ${JSON.stringify(v)}\n`).join('')}`);
  const r = await runCli(['export', 'kubernetes', '--apps', join(dir, 'apps'), '--environment', join(dir, 'environment.yaml'), '--image', IMAGE, '--out', join(dir, 'out')]);
  assert.is(r.status, 0, r.stderr);
  assert.not.match(r.stderr, /YAMLWarning/);
  const text = readFileSync(join(dir, 'out', 'ys.yaml'), 'utf8');
  // sigs.k8s.io/yaml, under kubectl and the API server, is YAML 1.1: `yes` there is true.
  for (const version of ['1.1', '1.2'] as const) {
    const objects = parseAllDocuments(text, { version }).map((doc) => doc.toJS()).filter((o) => o !== null);
    const secret = objects.find((o) => o.kind === 'Secret' && o.metadata.name === 'ys-settings');
    assert.equal(secret.stringData, given, `read as YAML ${version}`);
    const job = objects.find((o) => o.kind === 'Job');
    assert.equal(job.spec.template.spec.containers[0].env.find((e: { name: string }) => e.name === 'APPPKG_UPDATE').value, 'on', `read as YAML ${version}`);
  }
  assert.match(text, /\n  USE_TLS: "yes"\n/);
  assert.match(text, /\n  PLAIN: plain words\n/);
  for (const line of ['EQUALS: "="', 'MERGE: "<<"', 'TABBED: "a\\tb"']) assert.ok(text.includes(`\n  ${line}\n`), line);
});

test('a setting named like a variable every pod has (HOSTNAME, KUBERNETES_SERVICE_HOST) and missing from its Secret stops the pod, as any other does, rather than taking the pod\'s own', async () => {
  const dir = join(out.path, 'pod-named-settings');
  mkdirSync(join(dir, 'apps', 'pn'), { recursive: true });
  writeFileSync(join(dir, 'apps', 'pn', 'app.yaml'), 'app: w:application\nsettings: [HOSTNAME, KUBERNETES_SERVICE_HOST, API_KEY]\n');
  writeFileSync(join(dir, 'apps', 'pn', 'w.py'), 'def application(e, s):\n    s("200 OK", [])\n    return [b"x"]\n');
  const r = await runCli(['export', 'kubernetes', '--apps', join(dir, 'apps'), '--image', IMAGE, '--out', join(dir, 'out')]);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stderr, /pn: note: HOSTNAME, KUBERNETES_SERVICE_HOST, API_KEY: no value in the environment file; add them to Secret pn-settings/);
  const objects = objectsIn(join(dir, 'out', 'pn.yaml'));
  assert.equal(schemaProblems(objects), []);
  const compose = initContainer(objects, 'pn', dir);
  const pod = { HOSTNAME: 'pn-5d8f7c-x2x7q', KUBERNETES_SERVICE_HOST: '10.96.0.1', API_KEY_SERVICE_HOST: '10.96.0.7' };
  const unfilled = compose({ API_KEY: 'k' }, pod);
  assert.is(unfilled.status, 1, unfilled.stderr);
  assert.match(unfilled.stderr, /no value for HOSTNAME \(Secret pn-settings\), KUBERNETES_SERVICE_HOST \(Secret pn-settings\): add it to the Secret/);
  const filled = compose({ HOSTNAME: 'blog.example.com', KUBERNETES_SERVICE_HOST: 'api.internal', API_KEY: 'k' }, pod);
  assert.is(filled.status, 0, filled.stderr);
  assert.equal(overridesFor(await loadEnvironmentFile(join(dir, 'composed.json')), 'pn').settings, { HOSTNAME: 'blog.example.com', KUBERNETES_SERVICE_HOST: 'api.internal', API_KEY: 'k' });
});

test('a changed setting or limit, applied, rolls the pods out (their template changes with it); the same input gives the same template, and the Job\'s never changes', async () => {
  // The init container composes the pod's environment file once, at its start: Kubernetes must
  // replace the pods for a new value to reach the app, and it does so only for a changed template.
  const dir = join(out.path, 'config-hash');
  mkdirSync(join(dir, 'apps', 'ch.1'), { recursive: true });
  writeFileSync(join(dir, 'apps', 'ch.1', 'app.yaml'), [
    'app: w:application', 'settings: [SECRET_KEY]', 'processes:', '  jobs:', '    command: python -m tasks', 'commands:', '  update: python -m migrate', '',
  ].join('\n'));
  writeFileSync(join(dir, 'apps', 'ch.1', 'w.py'), 'def application(e, s):\n    s("200 OK", [])\n    return [b"x"]\n');
  const exported = async (run: string, environment: string) => {
    writeFileSync(join(dir, `${run}.yaml`), environment);
    const r = await runCli(['export', 'kubernetes', '--apps', join(dir, 'apps'), '--environment', join(dir, `${run}.yaml`), '--image', IMAGE, '--out', join(dir, run)]);
    assert.is(r.status, 0, r.stderr);
    const objects = objectsIn(join(dir, run, 'ch.yaml'));
    assert.equal(schemaProblems(objects), []);
    return {
      web: find(objects, 'Deployment', 'ch').spec!.template,
      jobs: find(objects, 'Deployment', 'ch-process-jobs').spec!.template,
      hooks: find(objects, 'Job', 'ch-hooks-1').spec!.template,
    };
  };
  const first = await exported('first', 'apps:\n  ch:\n    settings: {SECRET_KEY: one}\n    threads: 4\n');
  const again = await exported('again', 'apps:\n  ch:\n    settings: {SECRET_KEY: one}\n    threads: 4\n');
  const secret = await exported('secret', 'apps:\n  ch:\n    settings: {SECRET_KEY: two}\n    threads: 4\n');
  const threads = await exported('threads', 'apps:\n  ch:\n    settings: {SECRET_KEY: one}\n    threads: 8\n');
  assert.equal(again, first, 'the same input: the same templates, so applying it again replaces no pod');
  for (const changed of [secret, threads]) {
    assert.not.equal(changed.web, first.web, 'the web pods roll out');
    assert.not.equal(changed.jobs, first.jobs, 'the background process rolls out');
    // A Job's template cannot be changed once applied, and a version's hooks run once.
    assert.equal(changed.hooks, first.hooks);
  }
});

test('versions that are no image tag are made one; a version with a space or a quote is one word in the Job\'s script', async () => {
  const dir = join(out.path, 'odd-versions');
  for (const [app, version] of [['blog', '1.0+Build'], ['q', '1 0'], ['r', "1'0"]]) {
    mkdirSync(join(dir, `${app}.${version}`), { recursive: true });
    writeFileSync(join(dir, `${app}.${version}`, 'app.yaml'), 'app: w:application\ncommands:\n  install: echo hi\n  update: echo again\n');
  }
  const images: Record<string, RegExp> = { blog: /^registry\.example\.com\/apps\/blog:1\.0-Build-[0-9a-f]{6}$/, q: /^registry\.example\.com\/apps\/q:1-0-[0-9a-f]{6}$/, r: /^registry\.example\.com\/apps\/r:1-0-[0-9a-f]{6}$/ };
  // The three apps in one export (each export is a CLI start): each app's objects read apart.
  const r = await runCli(['export', 'kubernetes', '--apps', dir, '--image', IMAGE]);
  assert.is(r.status, 0, r.stderr);
  const all = objectsOf(r.stdout);
  assert.equal(schemaProblems(all), []);
  for (const [app, version] of [['blog', '1.0+Build'], ['q', '1 0'], ['r', "1'0"]]) {
    const objects = all.filter((o) => o.metadata?.labels?.['app.kubernetes.io/name'] === app);
    assert.match(find(objects, 'Deployment', app).spec!.template.spec!.containers[0].image!, images[app]);
    const jobs = objects.filter((o) => o.kind === 'Job');
    assert.is(jobs.length, 1, `${app}: ${jobs.map((o) => o.metadata?.name).join(' ')}`);
    const job = jobs[0];
    const script = (job as { spec: { template: { spec: { containers: Array<{ command: string[] }> } } } }).spec.template.spec.containers[0].command[2];
    assert.is(spawnSync('/bin/sh', ['-n', '-c', script]).status, 0, script);
    // The shell's own reading of the install line: the app's directory is one word.
    const line = /^ {2}(apppkg-gateway install .*)$/m.exec(script)![1];
    const words = spawnSync('/bin/sh', ['-c', `set -- ${line}; printf '%s\\n' "$@"`], { encoding: 'utf8' }).stdout.split('\n');
    assert.is(words[2], `/srv/apps/${app}.${version}`, script);
    const run = /^ {2}(apppkg-gateway run .*) -- \/bin\/sh/m.exec(script)![1];
    assert.is(spawnSync('/bin/sh', ['-c', `set -- ${run}; printf '%s\\n' "$@"`], { encoding: 'utf8' }).stdout.split('\n')[2], `/srv/apps/${app}.${version}`);
  }
});

test('distinct versions, distinct image tags (1.0+rc and 1.0-rc, 1 0 and 1\'0): pushing one build overwrites no other, and the Containerfile\'s build line tags what the manifests pull', async () => {
  const imageOf = async (version: string) => {
    const dir = join(out.path, 'tag-versions', version);
    mkdirSync(join(dir, `blog.${version}`), { recursive: true });
    writeFileSync(join(dir, `blog.${version}`, 'app.yaml'), 'app: w:application\n');
    const r = await runCli(['export', 'kubernetes', '--apps', dir, '--image', IMAGE]);
    assert.is(r.status, 0, r.stderr);
    const image = find(objectsOf(r.stdout), 'Deployment', 'blog').spec!.template.spec!.containers[0].image!;
    const recipe = await runCli(['export', 'containerfile', join(dir, `blog.${version}`)]);
    assert.is(recipe.status, 0, recipe.stderr);
    assert.match(recipe.stdout, `#   podman build -t ${image} -f Containerfile `, version);
    return image;
  };
  const versions = ['1.2', '1.0+rc', '1.0-rc', '1 0', "1'0", '1.0-RC'];
  const images = await Promise.all(versions.map(imageOf));
  assert.is(new Set(images).size, images.length, images.join(' '));
  // A version that is a tag already is said as it is: no hash to read past.
  assert.is(images[0], 'registry.example.com/apps/blog:1.2');
  assert.is(images[2], 'registry.example.com/apps/blog:1.0-rc');
  assert.is(images[5], 'registry.example.com/apps/blog:1.0-RC');
  assert.match(images[1], /^registry\.example\.com\/apps\/blog:1\.0-rc-[0-9a-f]{6}$/);
});

test('two versions whose DNS forms are one (1.2 and 1-2, 1.0+rc and 1.0-RC): a hooks Job each, so that the next one\'s apply neither fails on the last one\'s (a Job\'s template cannot change) nor waits on it, already complete, and rolls out without its hooks', async () => {
  const jobOf = async (version: string) => {
    const dir = join(out.path, 'job-versions', version);
    mkdirSync(join(dir, `blog.${version}`), { recursive: true });
    writeFileSync(join(dir, `blog.${version}`, 'app.yaml'), 'app: w:application\ncommands:\n  update: python manage.py migrate\n');
    const r = await runCli(['export', 'kubernetes', '--apps', dir, '--image', 'registry.example.com/blog:{version}']);
    assert.is(r.status, 0, r.stderr);
    const objects = objectsOf(r.stdout);
    assert.equal(schemaProblems(objects), []);
    return objects.find((o) => o.kind === 'Job')!.metadata!.name!;
  };
  const names = await Promise.all(['1.2', '1-2', '1.0+rc', '1.0-RC', '2026.11.24'].map(jobOf));
  assert.is(new Set(names).size, names.length, names.join(' '));
  // A version of digits and dots is said as it is: no hash to read past.
  assert.is(names[0], 'blog-hooks-1-2');
  assert.is(names[4], 'blog-hooks-2026-11-24');
});

test('--ingress-class NAME: every Ingress names that class (spec.ingressClassName); a name that is no DNS subdomain is refused before anything is written, in the caller\'s words', async () => {
  const dir = join(out.path, 'ingress-class');
  const r = await runCli(['export', 'kubernetes', '--apps', join(TREE, 'apps'), '--environment', join(TREE, 'environment.yaml'), '--image', IMAGE, '--ingress-class', 'internal.nginx-2', '--out', dir]);
  const ingresses = readdirSync(dir).flatMap((file) => objectsIn(join(dir, file))).filter((o) => o.kind === 'Ingress');
  assert.is(ingresses.length, 3, r.stderr);
  for (const o of ingresses) assert.is((o as { spec: { ingressClassName?: string } }).spec.ingressClassName, 'internal.nginx-2', o.metadata?.name);
  assert.equal(schemaProblems(ingresses), []);
  // Without it, none is named: the golden files have no ingressClassName.
  assert.not.match(readFileSync(join(EXPECTED, 'blog.yaml'), 'utf8'), /ingressClassName/);
  for (const bad of ['Nginx', 'nginx_internal', '-nginx', '', 'a'.repeat(254)]) {
    const refused = await runCli(['export', 'kubernetes', '--apps', join(TREE, 'apps'), '--image', IMAGE, `--ingress-class=${bad}`, '--out', join(out.path, 'ingress-class-bad')]);
    assert.is(refused.status, 2, refused.stderr);
    // An empty one (an unset variable) is the parser's to say, as for every option.
    assert.match(refused.stderr, bad === '' ? '--ingress-class: expected NAME, found an empty value' : `--ingress-class: expected an IngressClass's name (a DNS subdomain`);
    if (bad !== '') assert.match(refused.stderr, 'e.g. --ingress-class nginx');
    assert.not.ok(existsSync(join(out.path, 'ingress-class-bad')), bad);
  }
  const err = await exportKubernetes({ apps: join(TREE, 'apps'), image: IMAGE, ingressClass: 'Nginx' }).then(() => null, (e: Error & { code?: string }) => e);
  assert.is(err?.code, 'APPPKG_USAGE');
  assert.match(err!.message, /^ingressClass: expected an IngressClass's name/);
});

test('an app directory with no version under an --image with {version}: its image is :latest, and a warning says that a new build then rolls nothing out, with the fix', async () => {
  const dir = join(out.path, 'unversioned');
  for (const app of ['plain', 'tagged.2.0']) {
    mkdirSync(join(dir, app), { recursive: true });
    writeFileSync(join(dir, app, 'app.yaml'), 'app: w:application\nhealth: /healthz\n');
  }
  const r = await runCli(['export', 'kubernetes', '--apps', dir, '--image', IMAGE, '--out', join(out.path, 'unversioned-out')]);
  assert.is(r.status, 0, r.stderr);
  const plain = readFileSync(join(out.path, 'unversioned-out', 'plain.yaml'), 'utf8');
  assert.is(find(objectsIn(join(out.path, 'unversioned-out', 'plain.yaml')), 'Deployment', 'plain').spec!.template.spec!.containers[0].image, 'registry.example.com/apps/plain:latest');
  const warning = 'WARNING: no version (its directory, plain, has no .VERSION suffix): its image is registry.example.com/apps/plain:latest, one name for every build, so applying the export of a new build changes no Deployment and rolls nothing out';
  assert.match(r.stderr, `plain: note: ${warning}`);
  assert.match(r.stderr, /rolls nothing out; name the directory plain\.VERSION \(e\.g\. plain\.1\.0\) and tag each build with its version, or run `kubectl rollout restart deployment\/plain` after each push/);
  assert.ok(plain.includes(`#   - ${warning}`), 'the manifests\' header says it too');
  // A version, or a template without {version} (the tag is the user's own): nothing to say.
  assert.not.match(r.stderr, /tagged: note: WARNING/);
  const fixed = await runCli(['export', 'kubernetes', '--apps', dir, '--image', 'registry.example.com/apps/{name}:stable']);
  assert.is(fixed.status, 0, fixed.stderr);
  assert.not.match(fixed.stderr, /no version/);
});

test('Argo CD applies what the Job reads, then the Job, then the rest (sync waves); no Helm hook, which would run before them', () => {
  for (const file of readdirSync(treeOut)) {
    const objects = objectsIn(join(treeOut, file));
    for (const o of objects) {
      const annotations = o.metadata?.annotations ?? {};
      const phase = o.metadata?.labels?.['apppkg-gateway.io/phase'];
      const wave = annotations['argocd.argoproj.io/sync-wave'];
      if (o.kind === 'Job') assert.is(wave, '-1', `${file}: ${o.metadata?.name}`);
      else if (phase === 'before-rollout') assert.is(wave, '-2', `${file}: ${o.kind} ${o.metadata?.name}`);
      else assert.is(wave, undefined, `${file}: ${o.kind} ${o.metadata?.name}`);
      assert.not.ok(Object.keys(annotations).some((k) => k.startsWith('helm.sh/') || k === 'argocd.argoproj.io/hook'), `${file}: ${o.kind} ${o.metadata?.name}`);
    }
  }
});

test('every command line in the manifests is one the gateway parses', () => {
  const objects = readdirSync(treeOut).flatMap((file) => objectsIn(join(treeOut, file)));
  const commands = objects.flatMap((o) => (o.kind === 'Deployment' || o.kind === 'Job' ? o.spec!.template.spec!.containers : [])).map((c) => c.command!);
  let seen = 0;
  for (const argv of commands) {
    // The Job's script calls it twice; a background process after `run ... --`.
    const calls = argv[0] === '/bin/sh' ? [...argv[2].matchAll(/apppkg-gateway (.*?)(?: -- |$)/gm)].map((m) => m[1].split(' ')) : [argv.slice(1, argv.includes('--') ? argv.indexOf('--') : undefined)];
    for (const call of calls) {
      const [first, ...rest] = call;
      const spec = first.startsWith('--') ? gatewaySpec : first === 'run' ? runSpec : installSpec;
      const parsed = parseCommand(spec, first.startsWith('--') ? call : rest);
      assert.not.ok(parsed.help);
      seen += 1;
    }
  }
  assert.ok(seen >= 6, `${seen} command lines`);
});

test('the bundled examples export, and every object validates', async () => {
  const dir = join(out.path, 'examples');
  const r = await runCli(['export', 'kubernetes', '--apps', EXAMPLES, '--image', IMAGE, '--out', dir]);
  assert.is(r.status, 0, r.stderr);
  const files = readdirSync(dir);
  assert.ok(files.includes('flask-hello.yaml') && files.includes('django-blog.yaml') && files.includes('tornado-chat.yaml'), files.join(' '));
  for (const file of files) assert.equal(schemaProblems(objectsIn(join(dir, file))), [], file);
  // No settings, no services: no Secret, and the gateway reads the ConfigMap's file itself.
  const hello = objectsIn(join(dir, 'hello.yaml'));
  assert.not.ok(hello.some((o) => o.kind === 'Secret'));
  const pod = find(hello, 'Deployment', 'hello').spec!.template.spec!;
  assert.is(pod.initContainers, undefined);
  assert.ok(pod.containers[0].command!.join(' ').includes('--environment /etc/apppkg-gateway/environment.json'));
});

test('without --out: every app on stdout, one YAML stream', async () => {
  const r = await runCli(['export', 'kubernetes', '--apps', EXAMPLES, '--image', IMAGE]);
  assert.is(r.status, 0, r.stderr);
  const objects = objectsOf(r.stdout);
  assert.ok(objects.some((o) => o.kind === 'Deployment' && o.metadata?.name === 'guestbook'));
  assert.equal(schemaProblems(objects), []);
});

test('--out "" is bad usage (status 2), as backup --to "" is, for either target; kubernetes wrote every NAME.yaml into the current directory, then said an internal error', async () => {
  // Run where it may write: without the check, every app's NAME.yaml went into the current directory.
  const cwd = join(out.path, 'empty-out-cwd');
  mkdirSync(cwd);
  const k8s = await runCli(['export', 'kubernetes', '--apps', EXAMPLES, '--image', IMAGE, '--out', ''], { cwd });
  assert.is(k8s.status, 2, k8s.stderr);
  assert.equal(readdirSync(cwd), []);
  assert.match(k8s.stderr, /--out: expected a directory to write NAME\.yaml per app into, found an empty string\n.*fix: name a directory, e.g\. --out k8s\/, or leave --out out to print to stdout/);
  assert.not.match(k8s.stderr, /internal error/);
  const cf = await runCli(['export', 'containerfile', join(EXAMPLES, 'hello'), '--out', '']);
  assert.is(cf.status, 2, cf.stderr);
  assert.match(cf.stderr, /--out: expected the file to write the recipe to, found an empty string\n.*fix: name a file, e.g\. --out Containerfile, or leave --out out to print to stdout/);
});

test('--out naming a file (kubernetes writes a directory of NAME.yaml): said as such before anything is written, status 1 as for backup --to FILE; the file is left as it was', async () => {
  const file = join(out.path, 'k8s.yaml');
  writeFileSync(file, 'mine\n');
  const r = await runCli(['export', 'kubernetes', '--apps', EXAMPLES, '--image', IMAGE, '--out', file]);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /cannot write .*k8s\.yaml: expected a directory to write NAME\.yaml per app into, found a file\n.*fix: give --out a directory you can write/);
  assert.not.match(r.stderr, /ENOTDIR/);
  assert.is(readFileSync(file, 'utf8'), 'mine\n');
});

test('an --image whose {version} stands in the repository path, for a version with capitals (1.0-RC1): that app is not written (the kubelet refuses the reference: InvalidImageName), with the fix; the others are', async () => {
  const apps = join(out.path, 'image-path-apps');
  for (const dir of ['upper.1.0-RC1', 'lower.2.0']) {
    mkdirSync(join(apps, dir), { recursive: true });
    writeFileSync(join(apps, dir, 'app.yaml'), 'app: w:application\n');
  }
  const r = await runCli(['export', 'kubernetes', '--apps', apps, '--image', 'registry.example.com/{name}/{version}:v1', '--out', join(out.path, 'image-path-out')]);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /upper\.1\.0-RC1\/app\.yaml: --image: expected an image reference, found "registry\.example\.com\/upper\/1\.0-RC1:v1"/);
  assert.match(r.stderr, /fix: put \{version\} in the tag/);
  assert.equal(readdirSync(join(out.path, 'image-path-out')), ['lower.yaml']);
  assert.match(readFileSync(join(out.path, 'image-path-out', 'lower.yaml'), 'utf8'), /image: registry\.example\.com\/lower\/2\.0:v1$/m);
});

test('usage: --image is required, must be an image reference, and must say {name} for several apps', async () => {
  const none = await runCli(['export', 'kubernetes', '--apps', EXAMPLES]);
  assert.is(none.status, 2);
  // Said of the one missing, as run's CMD is: "--apps DIR and --image IMAGE" had the user look for both.
  assert.match(none.stderr, /expected --image IMAGE, each app's image \(e\.g\. registry\.example\.com\/apps\/\{name\}:\{version\}\), found none/);
  assert.not.match(none.stderr, /--apps DIR and/);
  const noApps = await runCli(['export', 'kubernetes', '--image', 'registry.example.com/apps/{name}:{version}']);
  assert.is(noApps.status, 2);
  assert.match(noApps.stderr, /expected --apps DIR, the directory holding the app packages, found none/);
  assert.not.match(noApps.stderr, /--image IMAGE/);
  const neither = await runCli(['export', 'kubernetes']);
  assert.is(neither.status, 2);
  assert.match(neither.stderr, /expected --apps DIR and --image IMAGE, found neither/);
  const bad = await runCli(['export', 'kubernetes', '--apps', EXAMPLES, '--image', 'Registry/Apps:latest!']);
  assert.is(bad.status, 2);
  assert.match(bad.stderr, /--image: expected an image reference/);
  const shared = await runCli(['export', 'kubernetes', '--apps', EXAMPLES, '--image', 'registry.example.com/apps:1']);
  assert.is(shared.status, 2);
  assert.match(shared.stderr, /expected \{name\} in the image/);
  const target = await runCli(['export', 'helm']);
  assert.is(target.status, 2);
  assert.match(target.stderr, /expected kubernetes, containerfile or venv after export, found "helm"/);
  const stray = await runCli(['export', 'containerfile', join(EXAMPLES, 'hello'), '--image', 'x']);
  assert.is(stray.status, 2);
  assert.match(stray.stderr, /export containerfile takes no --image/);
  const help = await runCli(['export', '--help']);
  assert.is(help.status, 0);
  assert.match(help.stdout, /usage: apppkg-gateway export kubernetes/);
});

test.run();
