// What one app is on the cluster, decided once from its description and the host's
// environment file, before any object is built: the object builders only spell it out.
// Every number here has its one-machine meaning (SPEC §2, §5.2, §5.3): docs/kubernetes.md
// has the table.
import path from 'node:path';
import type { Description } from '../description/types.js';
import type { HostAppConfig, HostEnvironment } from '../environment/host-file.js';
import { DEFAULT_THREADS, DEFAULT_WORKERS } from '../supervisor/start-app.js';
import { baseName, childName, dnsLabel, hashedLabel, isIpAddress, MAX_DNS_NAME } from './k8s-names.js';

/** The gateway's --grace default: how long requests in flight may take on SIGTERM. */
export const DEFAULT_GRACE_S = 30;

/** The variables of a PostgreSQL database on one machine (SPEC 5.2), for the operator to fill. */
export const POSTGRESQL_VARIABLES = ['DATABASE_URL', 'PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE'] as const;
export const REDIS_VARIABLES = ['REDIS_URL', 'APPPKG_REDIS_PREFIX'] as const;

/**
 * One Secret of the app: the values the host gave, and the variables it has none for, which
 * are left out of the Secret for the operator to add. An empty value the host gave is a value
 * (`check` and `run` call it provided): it is written as given, never taken for one to fill.
 */
export interface SecretPlan {
  name: string;
  /** What the Secret is for, in its annotation: `settings`, `postgresql`, `redis`. */
  purpose: 'settings' | 'postgresql' | 'redis';
  values: Record<string, string>;
  toFill: string[];
}

export interface AppPlan {
  desc: Description;
  host: HostAppConfig;
  /** The app's base object name (a DNS label). */
  base: string;
  image: string;
  replicas: number;
  /** WSGI/ASGI workers; 0 for `platform: command` (processes.web is the server). */
  workers: number;
  threads: number;
  /** The app's mount, as the gateway gives it (SCRIPT_NAME). */
  mount: string;
  hosts: string[];
  /** The hosts the Ingress names a rule for: `hosts` but its IP addresses, names with a `_` and names longer than a DNS name. */
  ingressHosts: string[];
  /** Seconds the gateway in the pod lets requests finish on SIGTERM (`drain`, else --grace). */
  graceSeconds: number;
  /** Processes with a route: their paths under the mount. */
  routes: Array<{ process: string; route: string }>;
  /** Processes without a route: each its own Deployment `name`, its pods labelled `component`. */
  background: Array<{ process: string; command: string; name: string; component: string }>;
  secrets: SecretPlan[];
  /** How the SQL database is given: PostgreSQL from a Secret, SQLite on the data volume, none. */
  database: 'postgresql' | 'sqlite' | null;
  /** What the pod's mail listener speaks (the host's `mail.lmtp`); null: the app takes no mail. */
  mail: 'smtp' | 'lmtp' | null;
  hooks: { install: string | null; update: string | null };
  /** Things the user should know that do not stop the export (printed, and in the docs' terms). */
  notes: string[];
  /**
   * The node architecture, as Kubernetes names it (kubernetes.io/arch: amd64, arm64), the pods
   * must run on: that of the vendored compiled distributions; null when there are none.
   */
  nodeArch: string | null;
  /** The IngressClass named (`--ingress-class`), or null for the cluster's default. */
  ingressClass: string | null;
}

/** `/blog` + `/live` -> `/blog/live`; a mount of `/` adds nothing. */
export function underMount(mount: string, route: string): string {
  return mount === '/' ? route : `${mount}${route === '/' ? '' : route}`;
}

/** SPEC 5.2: `sql` is PostgreSQL where the host has one, else SQLite: the cluster does as the host does. */
function databaseFor(desc: Description, env: HostEnvironment): AppPlan['database'] {
  switch (desc.services.database) {
    case 'postgresql':
      return 'postgresql';
    case 'sql':
      return env.services.postgresql ? 'postgresql' : 'sqlite';
    case 'sqlite':
      return 'sqlite';
    default:
      return null;
  }
}

export function planApp(desc: Description, host: HostAppConfig, env: HostEnvironment, image: string): AppPlan {
  const base = baseName(desc.name);
  const notes: string[] = [];
  const replicas = host.replicas ?? 1;
  const database = databaseFor(desc, env);

  const settings: Record<string, string> = { ...host.settings };
  const unfilled = desc.settings.filter((name) => !Object.hasOwn(settings, name));
  if (unfilled.length > 0) {
    notes.push(`${unfilled.join(', ')}: no value in the environment file; add ${unfilled.length === 1 ? 'it' : 'them'} to Secret ${childName(base, 'settings')} before the rollout`);
  }
  const secrets: SecretPlan[] = Object.keys(settings).length + unfilled.length === 0 ? [] : [{ name: childName(base, 'settings'), purpose: 'settings', values: settings, toFill: unfilled }];
  // SQLite needs nothing: the gateway in the pod gives DATABASE_URL on the data volume, as on
  // one machine. A server is the operator's: a database and role (a Redis user) of the app's
  // own, given as the variables the gateway would have given.
  if (database === 'postgresql') {
    secrets.push({ name: childName(base, 'database'), purpose: 'postgresql', values: {}, toFill: [...POSTGRESQL_VARIABLES] });
    notes.push(`services.database: fill Secret ${childName(base, 'database')} (${POSTGRESQL_VARIABLES.join(', ')}) with a PostgreSQL database and role of the app's own`);
  }
  if (desc.services.redis !== null) {
    secrets.push({ name: childName(base, 'redis'), purpose: 'redis', values: { APPPKG_REDIS_PREFIX: `${desc.name}:` }, toFill: ['REDIS_URL'] });
    notes.push(`services.redis: fill REDIS_URL in Secret ${childName(base, 'redis')} with a Redis user limited to the key prefix ${desc.name}:`);
  }
  // Kubernetes takes 0 (kubectl scale --replicas=0): the app's objects stay, its Secrets filled.
  if (replicas === 0) notes.push(`replicas 0: the Deployment runs no pod, so the app serves nothing on the cluster; \`kubectl scale deployment/${base} --replicas=1\` when it should (its hooks Job and background processes run as for any replicas)`);
  if (replicas > 1) {
    notes.push(`replicas ${replicas}: the data volume is ReadWriteMany, which needs a storage class that offers it (a ReadWriteOnce volume means one replica, or all of them on one node)`);
    if (database === 'sqlite') notes.push(`replicas ${replicas} share one SQLite file over a network volume: give the app PostgreSQL (services.database: postgresql), or keep one replica`);
  }
  if (host.user !== null) notes.push(`user ${host.user}: not used on the cluster; every process runs as the image's own user`);
  // Not carried into the pod's environment file: the scheduler reserves the pod's requests
  // whether its workers run or not, so stopping them frees nothing, and the probes through the
  // gateway (every 5 s) would wake the app anyway; what scales on a cluster is pods.
  if (host.idleTimeout) notes.push(`idle_timeout ${host.idleTimeout}: not used on the cluster; the pod's resources stay reserved while its workers sleep, and its probes would wake them; scale the Deployment's replicas instead`);
  if (host.python !== null) notes.push(`python ${host.python}: not used on the cluster; the image runs the app on Debian's python3`);
  if (desc.version === null && (desc.commands.install !== undefined || desc.commands.update !== undefined)) {
    notes.push(`no version: the hooks' Job is named ${childName(base, 'hooks', 'unversioned')} for every deploy, and Kubernetes runs a Job once; deploy versions (a directory NAME.VERSION), or delete the Job before the next apply`);
  }
  if (desc.health === null) notes.push('no health: the probes only check that the gateway listens; add health: /healthz so that a pod takes traffic once the app answers');

  const routes: AppPlan['routes'] = [];
  const background: AppPlan['background'] = [];
  for (const [process, spec] of Object.entries(desc.processes)) {
    if (spec.route !== null) routes.push({ process, route: spec.route });
    // processes.web of a command app is its server, run by the gateway like a routed process.
    else if (!(desc.kind === 'command' && process === 'web')) background.push({ process, command: spec.command, name: childName(base, 'process', process), component: dnsLabel(`process-${process}`) });
  }
  // Process names that differ on one machine may not as DNS labels (send_mail, send-mail): one
  // Deployment name would hold only the last applied, and one selector would claim both's pods.
  const shared = new Set(background.filter((b, i) => background.findIndex((other) => other.name === b.name) !== i).map((b) => b.name));
  for (const b of background) {
    if (!shared.has(b.name)) continue;
    b.name = hashedLabel(b.name, b.process);
    b.component = hashedLabel(b.component, b.process);
  }
  if (background.length > 0 && replicas === 1) {
    // appPodSpec gives every pod of the app (web, background, the hooks' Job) its data volume, and affinity to one node.
    notes.push(`${background.map((b) => `processes.${b.process}`).join(', ')}: ${background.length === 1 ? 'its pod shares' : 'their pods share'} the app's ReadWriteOnce data volume, so every pod of the app is kept on one node (required pod affinity): that node needs room for them all, the hooks' Job and a rollout's new pod; a storage class offering ReadWriteMany lifts this (replicas > 1)`);
  }
  if (desc.mail !== null) {
    notes.push(`mail: the spool (the gateway's STATE/mail) is on the pod's own disk, not the data volume: mail accepted and not yet delivered is lost when the pod is replaced; let the sending MTA keep it (deliver when the app answers), or keep the pod`);
  }
  const mount = host.mount ?? `/${desc.name}`;
  // The pod's gateway still routes an address given in hosts: (its environment file keeps it);
  // only the Ingress cannot say it, and the API server would refuse the whole Ingress for it.
  const addresses = host.hosts.filter(isIpAddress);
  if (addresses.length > 0) {
    notes.push(`hosts ${addresses.join(', ')}: an Ingress rule names a DNS name, never an IP address (the API server refuses the Ingress), so ${addresses.length === 1 ? 'it is' : 'they are'} left out of Ingress ${base}; requests by address reach the app at its mount (${mount}), or give the address a DNS name and list that in hosts:`);
  }
  // The environment file takes a `_` in a host name, as a Host header may carry one (an app
  // named my_app is my_app.localhost); an Ingress rule's host is an RFC 1123 name, which has none.
  const underscored = host.hosts.filter((h) => h.includes('_'));
  if (underscored.length > 0) {
    notes.push(`hosts ${underscored.join(', ')}: an Ingress rule's host is an RFC 1123 name (letters, digits, '-' and '.'), and the API server refuses the Ingress for a '_', so ${underscored.length === 1 ? 'it is' : 'they are'} left out of Ingress ${base}; requests by ${underscored.length === 1 ? 'that name' : 'those names'} reach the app at its mount (${mount}), or list a name without '_' in hosts:`);
  }
  // A Host header may be any length, and the gateway routes it; a DNS name, which an Ingress
  // rule's host must be, is at most 253 characters, and the API server refuses the Ingress past them.
  const overlong = host.hosts.filter((h) => h.length > MAX_DNS_NAME);
  if (overlong.length > 0) {
    notes.push(`hosts ${overlong.join(', ')}: longer than the ${MAX_DNS_NAME} characters of a DNS name, which an Ingress rule's host must be (the API server refuses the Ingress), so ${overlong.length === 1 ? 'it is' : 'they are'} left out of Ingress ${base}; no resolver gives ${overlong.length === 1 ? 'it' : 'them'} an address, and requests naming ${overlong.length === 1 ? 'it' : 'them'} reach the app at its mount (${mount})`);
  }
  // The Ingress API takes nginx's leading wildcard, but it matches one label only (RFC 1123's
  // wildcard): a.b.example.com passes the gateway's *.example.com and not the Ingress's.
  const wildcards = host.hosts.filter((h) => h.startsWith('*.'));
  if (wildcards.length > 0) {
    notes.push(`hosts ${wildcards.join(', ')}: an Ingress wildcard matches one label (a.example.com, not a.b.example.com), where the gateway takes every name under the domain; list deeper names in hosts: to reach them through Ingress ${base}`);
  }
  return {
    desc,
    host,
    base,
    image,
    replicas,
    workers: desc.kind === 'command' ? 0 : (host.workers ?? DEFAULT_WORKERS),
    threads: host.threads ?? DEFAULT_THREADS,
    mount,
    hosts: host.hosts,
    ingressHosts: host.hosts.filter((h) => !isIpAddress(h) && !h.includes('_') && h.length <= MAX_DNS_NAME),
    graceSeconds: host.drain ?? DEFAULT_GRACE_S,
    routes,
    background,
    secrets,
    database,
    mail: desc.mail === null ? null : env.mail?.lmtp ? 'lmtp' : 'smtp',
    hooks: { install: desc.commands.install ?? null, update: desc.commands.update ?? null },
    notes,
    nodeArch: null,
    ingressClass: null,
  };
}

/** Every variable the app's Secrets give, with the Secret it comes from. */
export function secretVariables(plan: AppPlan): Record<string, string> {
  const variables: Record<string, string> = {};
  for (const secret of plan.secrets) for (const name of [...secret.toFill, ...Object.keys(secret.values)]) variables[name] = secret.name;
  return variables;
}

/** The app's directory relative to the --apps directory, for headers that do not depend on where it was run. */
export function relativeTo(root: string, file: string): string {
  return path.relative(root, file).split(path.sep).join('/');
}
