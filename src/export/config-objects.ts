// What an app's pods read: its Secrets (settings, and the services for the operator to fill),
// the ConfigMap holding the pod's environment file, and the volume of its data directory.
import { createHash } from 'node:crypto';
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import type { IPersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import type { ISecret } from 'kubernetes-models/v1/Secret';
import type { HostEnvironment } from '../environment/host-file.js';
import type { AppPlan, SecretPlan } from './app-plan.js';
import { SMTP_PORT } from './image-layout.js';
import { BEFORE_ROLLOUT, PHASE_LABEL, SYNC_WAVE, WAVE_JOB_READS, appLabels, childName } from './k8s-names.js';

/** The data volume's size: the operator's to change; the gateway has no notion of one. */
export const DATA_VOLUME_SIZE = '1Gi';

const PURPOSE: Record<SecretPlan['purpose'], string> = {
  settings: "the app's settings (app.yaml settings: and the environment file's), one variable each",
  postgresql: "services.database: the app's own PostgreSQL database and role, as on one machine (SPEC 5.2)",
  redis: "services.redis: a Redis user limited to the app's key prefix, as on one machine (SPEC 5.2)",
};

function metadata(plan: AppPlan, name: string, annotations: Record<string, string> = {}) {
  return { name, labels: { ...appLabels(plan.base, plan.desc.version), [PHASE_LABEL]: BEFORE_ROLLOUT }, annotations: { ...annotations, [SYNC_WAVE]: WAVE_JOB_READS } };
}

export function secrets(plan: AppPlan): ISecret[] {
  return plan.secrets.map((secret) => {
    const annotations: Record<string, string> = { 'apppkg-gateway.io/purpose': PURPOSE[secret.purpose] };
    // Left out of stringData, not written as "": the pod takes a variable that is there as
    // given, an empty one too, as the gateway does on one machine.
    if (secret.toFill.length > 0) annotations['apppkg-gateway.io/fill'] = secret.toFill.join(',');
    // A provisioner (an operator, External Secrets, a script) finds what to create by this.
    if (secret.purpose !== 'settings') annotations['apppkg-gateway.io/provision'] = secret.purpose;
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: metadata(plan, secret.name, annotations),
      type: 'Opaque',
      stringData: { ...secret.values },
    };
  });
}

/**
 * The environment file of the gateway in the pod, without the secrets (the init container adds
 * them): the app's routing and limits exactly as on the host, so that SCRIPT_NAME, the
 * virtual hosts, the worker count and the recycling are the same.
 */
export function podEnvironment(plan: AppPlan, env: HostEnvironment): Record<string, unknown> {
  const h = plan.host;
  const app: Record<string, unknown> = { settings: {}, mount: plan.mount };
  if (plan.hosts.length > 0) app.hosts = [...plan.hosts];
  if (plan.desc.kind !== 'command') app.workers = plan.workers;
  app.threads = plan.threads;
  const optional: Array<[string, number | null]> = [
    ['max_requests', h.maxRequests],
    ['max_memory', h.maxMemory],
    ['timeout', h.timeout],
    ['max_body', h.maxBody],
    ['queue', h.queue],
    ['drain', h.drain],
    ['start_timeout', h.startTimeout],
  ];
  for (const [key, value] of optional) if (value !== null) app[key] = value;
  if (plan.mail && h.mailDomains.length > 0) app.mail_domains = [...h.mailDomains];
  const file: Record<string, unknown> = { apps: { [plan.desc.name]: app } };
  if (plan.mail) {
    const mail = env.mail;
    file.mail = mail === null
      ? { listen: `0.0.0.0:${SMTP_PORT}` }
      : {
        listen: `0.0.0.0:${SMTP_PORT}`, lmtp: mail.lmtp, max_size: mail.maxSize, max_recipients: mail.maxRecipients, retry: [...mail.retry], give_up: mail.giveUp,
        // Each exported app runs a gateway of its own: postmaster mail stays with this app only if it had it.
        ...(mail.postmaster === plan.desc.name ? { postmaster: mail.postmaster } : {}),
      };
  }
  return file;
}

export function gatewayConfigMap(plan: AppPlan, env: HostEnvironment): IConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: metadata(plan, childName(plan.base, 'gateway')),
    data: { 'environment.json': `${JSON.stringify(podEnvironment(plan, env), null, 2)}\n` },
  };
}

/** The pod template's annotation that changes with what the pods read at their start. */
export const CONFIG_HASH = 'apppkg-gateway.io/config-hash';

/**
 * `deployments` with a hash of what their pods read at start (the ConfigMap's environment file,
 * the Secrets' values) on the pod template. The init container reads them once: a changed setting
 * or limit, applied, left the template as it was, so Kubernetes kept the pods with the old
 * values, where SIGHUP on one machine restarts the app. Now the template changes with them, and
 * the apply rolls the pods out as a deploy does (Helm charts' `checksum/config`). Not on the
 * Job: its template cannot change, and a version's hooks run once.
 */
export function rolledOnChange(deployments: IDeployment[], reads: Array<ISecret | IConfigMap>): IDeployment[] {
  const content = reads.map((o) => [o.kind, o.metadata?.name, o.kind === 'Secret' ? (o as ISecret).stringData : (o as IConfigMap).data]);
  const hash = createHash('sha256').update(JSON.stringify(content)).digest('hex').slice(0, 16);
  return deployments.map((d) => {
    const template = d.spec!.template;
    return { ...d, spec: { ...d.spec!, template: { ...template, metadata: { ...template.metadata, annotations: { ...template.metadata?.annotations, [CONFIG_HASH]: hash } } } } };
  });
}

/**
 * APPPKG_DATA_DIR outlives versions on one machine; here it outlives pods. One replica: a
 * ReadWriteOnce volume. More: ReadWriteMany, which needs a storage class that offers it.
 */
export function dataVolumeClaim(plan: AppPlan): IPersistentVolumeClaim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: metadata(plan, childName(plan.base, 'data'), {
      'apppkg-gateway.io/note':
        plan.replicas > 1
          ? 'ReadWriteMany: the replicas share the data directory; the storage class must offer it'
          : 'ReadWriteOnce: one replica; every pod of the app (the hooks Job and a rollout\'s new pod too) is kept on the node it is attached to by pod affinity; more replicas need ReadWriteMany',
    }),
    spec: {
      accessModes: [plan.replicas > 1 ? 'ReadWriteMany' : 'ReadWriteOnce'],
      resources: { requests: { storage: DATA_VOLUME_SIZE } },
    },
  };
}
