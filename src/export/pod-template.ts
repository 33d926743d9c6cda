// What every pod of an app shares, whichever object runs it (the web Deployment, a background
// process's Deployment, the hooks' Job): the image's user, the environment file composed
// from the ConfigMap and the Secrets, the data volume, the app's directory and state root.
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IPodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IVolume } from 'kubernetes-models/v1/Volume';
import type { IVolumeMount } from 'kubernetes-models/v1/VolumeMount';
import { secretVariables, type AppPlan } from './app-plan.js';
import { CONFIG_DIR, CONFIG_FILE, IMAGE_STATE_DIR, IMAGE_UID, POD_ENVIRONMENT_DIR, POD_ENVIRONMENT_FILE, imageAppDir, imageDataDir } from './image-layout.js';
import { appLabels, childName } from './k8s-names.js';

/**
 * What the init container's variables from the Secrets begin with (envFrom's prefix). Every pod
 * has variables of its own (HOSTNAME, KUBERNETES_SERVICE_HOST, a Service's FOO_PORT, the image's
 * PATH): a setting of such a name missing from its Secret was filled with the pod's own, where
 * any other stops the pod. No variable of the pod begins with this.
 */
export const SECRET_PREFIX = 'APPPKG_SECRET_';

/**
 * Run by the init container: the environment file the gateway reads is the ConfigMap's with
 * each variable of the Secrets filled in. It must be a file: under --apps the gateway passes
 * no variable of its own environment to an app (README "What an app gets"), so a Secret given
 * as variables would never reach it. A variable missing from its Secret stops the pod here,
 * naming the Secret to add it to, rather than letting the app start without it; an empty one
 * is a value, as it is to the gateway on one machine (`check` calls it provided).
 */
export const COMPOSE_ENVIRONMENT_SCRIPT = `const fs = require('node:fs');
const [from, to, app, wanted] = process.argv.slice(1);
const env = JSON.parse(fs.readFileSync(from, 'utf8'));
const missing = [];
for (const [name, secret] of Object.entries(JSON.parse(wanted))) {
  const given = '${SECRET_PREFIX}' + name;
  if (given in process.env) env.apps[app].settings[name] = process.env[given];
  else missing.push(name + ' (Secret ' + secret + ')');
}
if (missing.length > 0) {
  console.error('apppkg-gateway: no value for ' + missing.join(', ') + ': add it to the Secret, then the pod starts');
  process.exit(1);
}
fs.writeFileSync(to, JSON.stringify(env, null, 2), { mode: 0o600 });
`;

const VOLUME = { config: 'gateway-config', environment: 'environment', data: 'data' } as const;

/** The container settings Kubernetes' restricted Pod Security Standard asks for. */
export const containerSecurity: IContainer['securityContext'] = {
  allowPrivilegeEscalation: false,
  capabilities: { drop: ['ALL'] },
};

function environmentMount(): IVolumeMount {
  return { name: VOLUME.environment, mountPath: POD_ENVIRONMENT_DIR };
}

function configMount(): IVolumeMount {
  return { name: VOLUME.config, mountPath: CONFIG_DIR, readOnly: true };
}

/** The data volume at APPPKG_DATA_DIR: the same directory the app has on one machine. */
function dataMount(plan: AppPlan): IVolumeMount {
  return { name: VOLUME.data, mountPath: imageDataDir(plan.desc.name) };
}

/**
 * The environment file the gateway reads in the pod: composed by the init container when the
 * app has Secrets, else the ConfigMap's own.
 */
export function podEnvironmentFile(plan: AppPlan): string {
  return plan.secrets.length > 0 ? POD_ENVIRONMENT_FILE : CONFIG_FILE;
}

/**
 * For containers whose command is `apppkg-gateway run` (a background process, the update hook):
 * `run` is the development command on a laptop, and a caller's APPPKG_ENV=production is what
 * makes the app see production there (app-env.ts).
 */
export const PRODUCTION_ENV = { name: 'APPPKG_ENV', value: 'production' } as const;

/** The image's command line for the app's directory: `apppkg-gateway CMD DIR` with the pod's files. */
export function appCommand(plan: AppPlan, command: string): string[] {
  return ['apppkg-gateway', command, imageAppDir(plan.desc), '--environment', podEnvironmentFile(plan), '--state-dir', IMAGE_STATE_DIR];
}

function composeContainer(plan: AppPlan): IContainer {
  const variables = secretVariables(plan);
  return {
    name: 'environment',
    image: plan.image,
    command: ['node', '-e', COMPOSE_ENVIRONMENT_SCRIPT, CONFIG_FILE, POD_ENVIRONMENT_FILE, plan.desc.name, JSON.stringify(variables)],
    envFrom: plan.secrets.map((secret) => ({ prefix: SECRET_PREFIX, secretRef: { name: secret.name } })),
    volumeMounts: [configMount(), environmentMount()],
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '128Mi' } },
    securityContext: containerSecurity,
  };
}

/**
 * With one replica the data volume is ReadWriteOnce: it attaches to one node, and a pod on
 * another waits in ContainerCreating (Multi-Attach) for as long as the pods holding it run.
 * The hooks' Job runs while the old version still serves, and a rollout's surge pod starts
 * before the old one stops (maxUnavailable 0), so each must go where the app's pods are:
 * required affinity to them on the node. A pod that finds none (the first deploy, a drained
 * node) matches its own term and goes anywhere, as the scheduler allows the first of a group.
 */
function sameNodeAffinity(plan: AppPlan): Pick<IPodSpec, 'affinity'> {
  if (plan.replicas > 1) return {};
  const { 'app.kubernetes.io/name': name, 'app.kubernetes.io/managed-by': managedBy } = appLabels(plan.base, null);
  return {
    affinity: {
      podAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: [{
          labelSelector: { matchLabels: { 'app.kubernetes.io/name': name, 'app.kubernetes.io/managed-by': managedBy } },
          topologyKey: 'kubernetes.io/hostname',
        }],
      },
    },
  };
}

/**
 * `text` written so that the kubelet hands it over unchanged. Kubernetes expands `$(NAME)` in a
 * container's command, args and env values to the container's variable NAME, and reads `$$` as
 * `$`: an app's command (`echo $$ > pidfile`, `$(APPPKG_ENV)`) would reach its shell changed. A
 * `$` before `(` or `$` is doubled, the only places where Kubernetes reads one, so that
 * `"$APPPKG_DATA_DIR"` still reads as the shell's.
 */
export function kubeletLiteral(text: string): string {
  return text.replace(/\$(?=[$(])/g, '$$$$');
}

/** `container` with every string the kubelet expands made literal (kubeletLiteral). */
function literalContainer(container: IContainer): IContainer {
  return {
    ...container,
    ...(container.command === undefined ? {} : { command: container.command.map(kubeletLiteral) }),
    ...(container.args === undefined ? {} : { args: container.args.map(kubeletLiteral) }),
    ...(container.env === undefined ? {} : { env: container.env.map((e) => (e.value === undefined ? e : { ...e, value: kubeletLiteral(e.value) })) }),
  };
}

/** A pod spec running `containers` with the app's environment file and data volume at hand. */
export function appPodSpec(plan: AppPlan, containers: IContainer[], extra: Partial<IPodSpec> = {}): IPodSpec {
  const composed = plan.secrets.length > 0;
  const volumes: IVolume[] = [
    { name: VOLUME.config, configMap: { name: childName(plan.base, 'gateway') } },
    // Memory-backed: the composed file holds the secrets; it never touches the node's disk.
    ...(composed ? [{ name: VOLUME.environment, emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } }] : []),
    { name: VOLUME.data, persistentVolumeClaim: { claimName: childName(plan.base, 'data') } },
  ];
  const fileMount = composed ? environmentMount() : configMount();
  return {
    ...extra,
    securityContext: {
      runAsNonRoot: true,
      runAsUser: IMAGE_UID,
      runAsGroup: IMAGE_UID,
      // The data volume is made writable for the image's user (its group owns it).
      fsGroup: IMAGE_UID,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    ...sameNodeAffinity(plan),
    ...(plan.nodeArch === null ? {} : { nodeSelector: { 'kubernetes.io/arch': plan.nodeArch } }),
    ...(composed ? { initContainers: [literalContainer(composeContainer(plan))] } : {}),
    containers: containers.map((c) => literalContainer({ ...c, volumeMounts: [fileMount, dataMount(plan), ...(c.volumeMounts ?? [])] })),
    volumes,
  };
}
