// Every object is checked against Kubernetes' own OpenAPI schema before it is written, offline:
// kubernetes-models ships the schema of each kind compiled to a validator (ajv). The schema
// does not say what the API server also refuses by name (a name that is not a DNS label, a
// label value past 63 characters, an Ingress host with a port, past 253 characters or that is an IP address), so that is checked here too.
// Nor do its validators refuse a field the schema does not have (kubectl apply does): the typed
// builders catch a misspelt key of an object literal, not one spread in or cast, so
// unknown-fields.ts asks the same validators which fields they know.
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { Job, type IJob } from 'kubernetes-models/batch/v1/Job';
import { Ingress, type IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import { ConfigMap, type IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { PersistentVolumeClaim, type IPersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret, type ISecret } from 'kubernetes-models/v1/Secret';
import { Service, type IService } from 'kubernetes-models/v1/Service';
import { DNS_LABEL, isIpAddress, LABEL_VALUE, MAX_DNS_NAME, MAX_NAME } from './k8s-names.js';
import { unknownFields } from './unknown-fields.js';

/** An object as the export writes it: one of the kinds below. */
export type K8sObject = IDeployment | IJob | IIngress | IConfigMap | IPersistentVolumeClaim | ISecret | IService;

interface ModelClass {
  new (data: never): { validate(): void };
  prototype: { validate(this: unknown): void };
}

const MODELS: Record<string, ModelClass> = {
  'apps/v1/Deployment': Deployment as unknown as ModelClass,
  'batch/v1/Job': Job as unknown as ModelClass,
  'networking.k8s.io/v1/Ingress': Ingress as unknown as ModelClass,
  'v1/ConfigMap': ConfigMap as unknown as ModelClass,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim as unknown as ModelClass,
  'v1/Secret': Secret as unknown as ModelClass,
  'v1/Service': Service as unknown as ModelClass,
};

/** RFC 1123 subdomain, with a leading `*.` as an Ingress host may have. */
const INGRESS_HOST = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** A label key: an optional DNS-subdomain prefix and a name of at most 63 characters. */
const LABEL_KEY = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
/** An environment variable's name in a Secret or ConfigMap key: C identifiers and `-._`. */
const DATA_KEY = /^[-._a-zA-Z0-9]+$/;

function namingProblems(object: K8sObject): string[] {
  const problems: string[] = [];
  const name = object.metadata?.name ?? '';
  if (name.length > MAX_NAME || !DNS_LABEL.test(name)) problems.push(`/metadata/name must be a DNS label of at most ${MAX_NAME} characters, found ${JSON.stringify(name)}`);
  const labelsAt = (labels: Record<string, string> | undefined, where: string) => {
    for (const [key, value] of Object.entries(labels ?? {})) {
      if (!LABEL_KEY.test(key)) problems.push(`${where}: label key ${JSON.stringify(key)} is not valid`);
      if (value.length > MAX_NAME || !LABEL_VALUE.test(value)) problems.push(`${where}/${key}: label value ${JSON.stringify(value)} is not valid`);
    }
  };
  labelsAt(object.metadata?.labels, '/metadata/labels');
  const template = ((object as { spec?: unknown }).spec as { template?: { metadata?: { labels?: Record<string, string> } } } | undefined)?.template;
  labelsAt(template?.metadata?.labels, '/spec/template/metadata/labels');
  if (object.kind === 'Ingress') {
    const rules = object.spec?.rules ?? [];
    rules.forEach((rule, i) => {
      if (rule.host !== undefined && rule.host.length > MAX_DNS_NAME) problems.push(`/spec/rules/${i}/host must be at most ${MAX_DNS_NAME} characters (a DNS name), found ${rule.host.length}`);
      else if (rule.host !== undefined && !INGRESS_HOST.test(rule.host)) problems.push(`/spec/rules/${i}/host must be a DNS name without a port, found ${JSON.stringify(rule.host)}`);
      else if (rule.host !== undefined && isIpAddress(rule.host)) problems.push(`/spec/rules/${i}/host must be a DNS name, not an IP address, found ${JSON.stringify(rule.host)}`);
    });
  }
  for (const field of ['data', 'stringData']) {
    for (const key of Object.keys(((object as unknown as Record<string, unknown>)[field] as Record<string, string> | undefined) ?? {})) {
      if (!DATA_KEY.test(key)) problems.push(`/${field}: key ${JSON.stringify(key)} must consist of letters, digits, '-', '_' or '.'`);
    }
  }
  return problems;
}

/**
 * What Kubernetes would refuse in `object`, each as `/json/pointer message`; empty when valid.
 * A kind this export does not write is itself a problem.
 */
export function validateObject(object: K8sObject): string[] {
  const Model = MODELS[`${object.apiVersion}/${object.kind}`];
  if (Model === undefined) return [`${object.apiVersion} ${object.kind} is not a kind the export validates`];
  const problems: string[] = [];
  try {
    new Model(object as never).validate();
  } catch (err) {
    const errors = (err as { errors?: Array<{ instancePath: string; message?: string; params?: unknown }> }).errors;
    if (errors === undefined) problems.push(String((err as Error).message ?? err));
    else for (const e of errors) problems.push(`${e.instancePath || '/'} ${e.message ?? 'is not valid'}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`);
  }
  const unknown = unknownFields(object, Model.prototype.validate).map((field) => `${field} is not a field of ${object.apiVersion} ${object.kind} in Kubernetes' schema: kubectl apply refuses it (an older kubectl drops it)`);
  return [...problems, ...unknown, ...namingProblems(object)];
}
