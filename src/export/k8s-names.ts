// Kubernetes names and labels for an app's objects. The API server refuses names that are not
// DNS labels (RFC 1123; a Service's must also start with a letter, RFC 1035), which its
// OpenAPI schema does not say: so they are made here, and checked in k8s-validate.ts.
import { createHash } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { GatewayError } from '../errors.js';

/** RFC 1035 label: what a Service's name must be; the strictest of the kinds exported. */
export const DNS_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
/** A label value: at most 63 characters of these, alphanumeric at both ends (or empty). */
export const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
/** A DNS name (RFC 1123 subdomain), as an Ingress rule's host must be: at most 253 characters. */
export const MAX_DNS_NAME = 253;
/** RFC 1123 subdomain: what an object name of most kinds (an IngressClass's) must be. */
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
/** An object name is at most 63 characters here: Jobs put theirs in a label of their pods. */
export const MAX_NAME = 63;
/**
 * Room left for the suffixes added to an app's base name (`-process-NAME`, `-hooks-VERSION`,
 * `-settings`): the base is cut to this, with a hash so that two long names stay apart.
 */
const MAX_BASE = 30;

/** Six hex digits of `text`'s SHA-256: what keeps apart two names made one. */
export const shortHash = (text: string): string => createHash('sha256').update(text).digest('hex').slice(0, 6);

/** `text` as a DNS label of at most `max` characters: lower case, `-` for anything else. */
export function dnsLabel(text: string, max = MAX_NAME): string {
  let label = text.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/-+/g, '-').replace(/^-+|-+$/g, '');
  if (!/^[a-z]/.test(label)) label = `app-${label}`.replace(/-+$/, '');
  if (label.length > max) label = `${label.slice(0, max - 7).replace(/-+$/, '')}-${shortHash(text)}`;
  return label;
}

/** The app's base object name: its name as a DNS label (`flask_hello` -> `flask-hello`). */
export function baseName(appName: string): string {
  return dnsLabel(appName, MAX_BASE);
}

/**
 * `label`, made from `text`, with a hash of `text` after it: for names that their DNS form
 * would make one (`send_mail`, `send-mail`), so that each keeps an object of its own.
 */
export function hashedLabel(label: string, text: string): string {
  return dnsLabel(`${label.slice(0, MAX_NAME - 7).replace(/-+$/, '')}-${shortHash(text)}`);
}

/** `base-suffix`, still a DNS label of at most MAX_NAME characters. */
export function childName(base: string, ...parts: string[]): string {
  return dnsLabel([base, ...parts].join('-'));
}

/**
 * Is `host` an IP address, as the API server reads one (Go's ParseIPSloppy: IPv4 octets may have
 * leading zeros)? An Ingress rule's host may not be one: IngressRule.host says "IPs are not
 * allowed", and the API server refuses the whole Ingress ("must be a DNS name, not an IP address").
 */
export function isIpAddress(host: string): boolean {
  const v4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return v4 !== null ? v4.slice(1).every((octet) => Number(octet) <= 255) : isIPv6(host);
}

/** A version as a label value (`2026.11.24` stays), or null when it cannot be one. */
export function labelValue(text: string): string | null {
  return text.length <= MAX_NAME && LABEL_VALUE.test(text) ? text : null;
}

export type Component = 'web' | 'process' | 'hooks' | 'mail';

/** The labels every object of an app carries (the recommended app.kubernetes.io set). */
export function appLabels(base: string, version: string | null): Record<string, string> {
  const labels: Record<string, string> = {
    'app.kubernetes.io/name': base,
    'app.kubernetes.io/managed-by': 'apppkg-gateway',
  };
  const v = version === null ? null : labelValue(version);
  if (v !== null) labels['app.kubernetes.io/version'] = v;
  return labels;
}

/** What selects one kind of pod of an app: stable across versions, so a rollout replaces them. */
export function selectorLabels(base: string, component: string): Record<string, string> {
  return { 'app.kubernetes.io/name': base, 'app.kubernetes.io/component': component };
}

/**
 * Objects applied before the rollout: what the hooks' Job needs (Secrets, ConfigMap, the
 * volume) and the Job itself. `kubectl apply -l apppkg-gateway.io/phase=before-rollout` applies
 * them alone (docs/kubernetes.md).
 */
export const PHASE_LABEL = 'apppkg-gateway.io/phase';
export const BEFORE_ROLLOUT = 'before-rollout';

/**
 * The same order for Argo CD, which applies a sync wave after the one before is healthy (a Job:
 * complete): what the Job reads, then the Job, then the rest (wave 0). Not Helm's hooks: they run
 * before any of the release's objects exist, so a hook Job waits for Secrets, a ConfigMap and a
 * volume that are not there, and objects that outlive a release cannot be hooks themselves.
 */
export const SYNC_WAVE = 'argocd.argoproj.io/sync-wave';
export const WAVE_JOB_READS = '-2';
export const WAVE_JOB = '-1';

/**
 * Throws APPPKG_USAGE unless `name` can be an IngressClass's name: the API server refuses an
 * Ingress whose ingressClassName is no DNS subdomain, and only at apply, every app's alike.
 * `key` is the caller's word for it (`--ingress-class`, `ingressClass`).
 */
export function validateIngressClass(name: string, key: string): void {
  if (typeof name === 'string' && name.length <= MAX_DNS_NAME && DNS_SUBDOMAIN.test(name)) return;
  throw new GatewayError('APPPKG_USAGE', {
    command: 'export',
    reason: `${key}: expected an IngressClass's name (a DNS subdomain: lower-case letters, digits, '-' and '.', at most ${MAX_DNS_NAME} characters), found ${JSON.stringify(name)}`,
    fix: `name one of the cluster's classes (\`kubectl get ingressclass\`), e.g. ${key === '--ingress-class' ? '--ingress-class nginx' : "ingressClass: 'nginx'"}`,
  });
}
