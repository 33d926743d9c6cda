// `export kubernetes` as a library call (SPEC 5.5, issue 18): the apps under an --apps
// directory, as the gateway would serve them (the highest version of each, the environment
// file's overrides), mapped to Kubernetes objects, each validated, one YAML file per app.
// An app that cannot be mapped is a problem in the result; the others are still written.
import { chmod, open, readdir, realpath, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { validateAppsDir } from '../description/apps-dir.js';
import { parsePackageDirName } from '../description/package-dir.js';
import { emptyHostEnvironment, loadEnvironmentFile, overridesFor, type HostEnvironment } from '../environment/host-file.js';
import { unknownAppWarnings } from '../environment/unknown-apps.js';
import { GatewayError } from '../errors.js';
import { appsDirSource } from '../supervisor/discovery.js';
import { appUserReader } from '../environment/run-as.js';
import { planApp, relativeTo, type AppPlan } from './app-plan.js';
import { dataVolumeClaim, gatewayConfigMap, rolledOnChange, secrets } from './config-objects.js';
import { kubernetesArch } from './image-architecture.js';
import { appImageProblem, floatingTagWarning, imageFor, validateImageTemplate } from './image-reference.js';
import { judgeImageVendor } from './image-vendor.js';
import { baseName, validateIngressClass } from './k8s-names.js';
import { validateObject, type K8sObject } from './k8s-validate.js';
import { applySteps, renderManifest } from './manifest-yaml.js';
import { ingress, mailService, webService } from './network-objects.js';
import { pathsFileRefusal } from '../environment/paths-entries.js';
import { unmappableKeys, unmappablePaths } from './unmappable.js';
import { hooksJob, processDeployments, webDeployment } from './workloads.js';
import { makeDirectory } from '../make-dir.js';

export interface ExportKubernetesOptions {
  /** The directory holding the app packages, as `--apps`. */
  apps: string;
  /** The host's environment file, as `--environment`. */
  environment?: string;
  /** Each app's image; `{name}` and `{version}` are replaced with the app's. */
  image: string;
  /** Write NAME.yaml per app into this directory (created, files mode 0600: Secrets); else nothing is written. */
  out?: string;
  /** Each Ingress's `spec.ingressClassName` (a DNS subdomain), as `--ingress-class`; else the cluster's default class takes it. */
  ingressClass?: string;
}

export interface ExportedApp {
  name: string;
  version: string | null;
  /** Its objects' base name, and its file's (NAME.yaml). */
  base: string;
  /** The file written, or null without `out`. */
  file: string | null;
  yaml: string;
  objects: K8sObject[];
  /** What the operator should know or do (fill a Secret, a volume's access mode), also in the file's header. */
  notes: string[];
}

export interface KubernetesExport {
  apps: ExportedApp[];
  /** Why apps were not written, each with the key and what to change (broken app.yaml files too). */
  problems: GatewayError[];
  /** The apps (or, for a broken app.yaml, the directories under --apps) not written. */
  skipped: string[];
  /** The environment file's `apps.NAME` entries naming no app under --apps (a typo, most often), as the gateway logs them. */
  warnings: string[];
  /** Files of an earlier export in --out whose app is no longer under --apps, removed. */
  removed: string[];
}

/** The objects of one app, in the order they are applied: what the pods read, the hooks, the rest. */
function objectsFor(plan: AppPlan, env: HostEnvironment): K8sObject[] {
  const reads = [...secrets(plan), gatewayConfigMap(plan, env)];
  const objects: Array<K8sObject | null> = [
    ...reads,
    dataVolumeClaim(plan),
    hooksJob(plan),
    ...rolledOnChange([webDeployment(plan), ...processDeployments(plan)], reads),
    webService(plan),
    mailService(plan),
    ingress(plan),
  ];
  return objects.filter((o): o is K8sObject => o !== null);
}

/** What the first line of every file this export writes says after the app's name and version: removeStaleFiles knows them by it. */
const WRITTEN_BY = 'on Kubernetes: written by `apppkg-gateway export kubernetes` from';

function header(plan: AppPlan, appsRoot: string, file: string, job: string | null): string[] {
  const { desc } = plan;
  return [
    `${desc.name}${desc.version ? ` ${desc.version}` : ''} ${WRITTEN_BY} ${relativeTo(appsRoot, desc.file)}`,
    `(docs/kubernetes.md has the mapping). Image: ${plan.image}, built from \`apppkg-gateway export containerfile\`.`,
    '',
    job === null ? 'Apply:' : 'Apply, the hooks before the rollout:',
    ...applySteps(file, job).map((step) => `  ${step}`),
    ...(plan.notes.length > 0 ? ['', 'Notes:', ...plan.notes.map((note) => `  - ${note}`)] : []),
  ];
}

export async function exportKubernetes(opts: ExportKubernetesOptions): Promise<KubernetesExport> {
  validateAppsDir(opts.apps);
  await validateOutDir(opts.out);
  const appsRoot = await realpath(opts.apps);
  const env = opts.environment === undefined ? emptyHostEnvironment() : await loadEnvironmentFile(opts.environment);
  // As root, each app.yaml is read as its user could, as the gateway reads it (load.ts readerFor).
  const readerFor = appUserReader(env);
  const discovery = await appsDirSource(opts.apps, readerFor)();
  // Said before anything is written or removed: an empty directory is most often the wrong one
  // (a mount not there yet), and --out's earlier files would all go as apps removed.
  if (discovery.apps.length === 0 && discovery.broken.length === 0) {
    throw new GatewayError('APPPKG_APPS_DIR_INVALID', {
      found: `none in ${opts.apps} (no directory in it holds app.yaml)`,
      fix: `put each app in a directory of its own there, holding its app.yaml (${path.join(opts.apps, 'hello', 'app.yaml')}), or point --apps at the directory that holds them`,
    });
  }
  validateImageTemplate(opts.image, discovery.apps.length);
  if (opts.ingressClass !== undefined) validateIngressClass(opts.ingressClass, 'ingressClass');

  const problems: GatewayError[] = discovery.broken.map((b) => b.error);
  const skipped: string[] = discovery.broken.map((b) => path.basename(b.dir));
  const exported: ExportedApp[] = [];
  const bases = new Map<string, string>();
  /** `Kind name` of every object written so far, and the app it is of. */
  const claimed = new Map<string, string>();
  for (const app of discovery.apps) {
    // The version the gateway would serve: the highest (a refused one cannot be told apart offline).
    const desc = app.versions[0];
    const vendor = await judgeImageVendor(desc, readerFor?.(desc.name, desc.dir) ?? null);
    // A file in paths: that Python cannot import from: the pod's gateway would refuse the app, as serve does.
    const fileInPaths = pathsFileRefusal(desc);
    const unmappable = [...(fileInPaths === null ? [] : [fileInPaths]), ...unmappableKeys(desc), ...vendor.problems];
    if (unmappable.length > 0) {
      problems.push(...unmappable);
      skipped.push(desc.name);
      continue;
    }
    const base = baseName(desc.name);
    const clash = bases.get(base);
    if (clash !== undefined) {
      problems.push(new GatewayError('APPPKG_EXPORT_UNMAPPABLE', {
        file: desc.file, key: 'name', app: desc.name,
        reason: `expected a name whose Kubernetes form differs from the app ${JSON.stringify(clash)}'s, found ${JSON.stringify(desc.name)} (both are ${base})`,
        fix: `give one of them another name: name: in its app.yaml`,
      }));
      skipped.push(desc.name);
      continue;
    }
    bases.set(base, desc.name);
    const badImage = appImageProblem(opts.image, desc);
    if (badImage !== null) {
      problems.push(badImage);
      skipped.push(desc.name);
      continue;
    }
    const plan = planApp(desc, overridesFor(env, desc.name), env, imageFor(opts.image, desc));
    const paths = unmappablePaths(plan, opts.environment);
    if (paths.length > 0) {
      problems.push(...paths);
      skipped.push(desc.name);
      continue;
    }
    // The image's architecture and what was not checked about it concern the cluster too: its nodes, its pods' imports.
    plan.notes.push(...vendor.notes, ...vendor.unchecked.map((u) => `WARNING: ${u}`));
    const floating = floatingTagWarning(opts.image, desc, path.basename(path.dirname(desc.file)));
    if (floating !== null) plan.notes.push(floating);
    // Vendored compiled distributions load on their architecture alone: no pod elsewhere.
    plan.nodeArch = vendor.architecture === null ? null : kubernetesArch(vendor.architecture);
    plan.ingressClass = opts.ingressClass ?? null;
    const objects = objectsFor(plan, env);
    const invalid = objects.flatMap((object) =>
      validateObject(object).map((reason) => new GatewayError('APPPKG_EXPORT_INVALID_OBJECT', { kind: object.kind, name: object.metadata?.name ?? '', reason, app: desc.name, file: desc.file })),
    );
    if (invalid.length > 0) {
      problems.push(...invalid);
      skipped.push(desc.name);
      continue;
    }
    // The apps share the cluster's namespace: an app named like another's object (shop-mail
    // beside the Service shop-mail of shop's mail) would replace that object when applied.
    const objectKey = (o: K8sObject) => `${o.kind} ${o.metadata?.name ?? ''}`;
    const taken = objects.find((o) => claimed.has(objectKey(o)));
    if (taken !== undefined) {
      problems.push(new GatewayError('APPPKG_EXPORT_UNMAPPABLE', {
        file: desc.file, key: 'name', app: desc.name,
        reason: `expected a name that gives objects of its own, found ${objectKey(taken)}, an object of the app ${JSON.stringify(claimed.get(objectKey(taken)))} too`,
        fix: `give one of them another name: name: in its app.yaml`,
      }));
      skipped.push(desc.name);
      continue;
    }
    for (const o of objects) claimed.set(objectKey(o), desc.name);
    const fileName = `${base}.yaml`;
    const job = objects.find((o) => o.kind === 'Job')?.metadata?.name ?? null;
    exported.push({
      name: desc.name,
      version: desc.version,
      base,
      file: opts.out === undefined ? null : path.join(opts.out, fileName),
      yaml: renderManifest(header(plan, appsRoot, fileName, job), objects),
      objects,
      notes: plan.notes,
    });
  }
  const known = [...discovery.apps.map((app) => app.versions[0].name), ...discovery.broken.map((b) => parsePackageDirName(path.basename(b.dir)).name)];
  let removed: string[] = [];
  if (opts.out !== undefined) {
    await writeFiles(opts.out, exported);
    removed = await removeStaleFiles(opts.out, new Set(known.map((name) => `${baseName(name)}.yaml`)));
  }
  return { apps: exported, problems, skipped, warnings: unknownAppWarnings(env, [...new Set(known)], opts.apps), removed };
}

/**
 * `--out k8s.yaml` naming a file the user has: said as what it is, before every app is built,
 * rather than as ENOTDIR at the first write. A path not there yet is made by writeFiles.
 */
async function validateOutDir(out: string | undefined): Promise<void> {
  if (out === undefined) return;
  const found = await stat(out).catch(() => null);
  if (found !== null && !found.isDirectory()) {
    throw new GatewayError('APPPKG_EXPORT_WRITE_FAILED', { path: out, reason: `expected a directory to write NAME.yaml per app into, found ${found.isFile() ? 'a file' : 'a special file (a device, a socket or a pipe)'}` });
  }
}

/** The first line of a file this export wrote (header()), whatever the app. */
const WRITTEN_LINE = new RegExp(`^# \\S+(?: \\S+)? ${WRITTEN_BY} `);

/**
 * `kubectl apply -f DIR` would deploy again an app removed from --apps, from the file an earlier
 * export left. Only files this export wrote (its first line) go; an app still under --apps that
 * was not written this time (a typo being fixed) keeps its last good file, and any other file
 * in DIR is the user's.
 */
async function removeStaleFiles(out: string, current: Set<string>): Promise<string[]> {
  const removed: string[] = [];
  for (const entry of (await readdir(out, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    if (!entry.isFile() || !entry.name.endsWith('.yaml') || current.has(entry.name)) continue;
    const file = path.join(out, entry.name);
    let first: string;
    try {
      const handle = await open(file, 'r');
      try {
        const { buffer, bytesRead } = await handle.read(Buffer.alloc(512), 0, 512, 0);
        first = buffer.subarray(0, bytesRead).toString('utf8').split('\n', 1)[0];
      } finally {
        await handle.close();
      }
      if (!WRITTEN_LINE.test(first)) continue;
      await rm(file);
    } catch (err) {
      throw new GatewayError('APPPKG_EXPORT_WRITE_FAILED', { path: file, reason: `cannot remove this file of an app no longer under --apps: ${(err as Error).message}`, cause: err });
    }
    removed.push(file);
  }
  return removed;
}

async function writeFiles(out: string, apps: ExportedApp[]): Promise<void> {
  let current = out;
  try {
    await makeDirectory(out);
    for (const app of apps) {
      current = app.file!;
      // Mode 0600: the Secrets hold the settings' values.
      await writeFile(current, app.yaml, { mode: 0o600 });
      await chmod(current, 0o600);
    }
  } catch (err) {
    throw new GatewayError('APPPKG_EXPORT_WRITE_FAILED', { path: current, reason: (err as Error).message, cause: err });
  }
}
