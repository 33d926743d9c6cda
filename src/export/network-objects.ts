// How requests and mail reach an app's pods: its Service, its Ingress (its virtual hosts and
// its mount, each routed process's path), and a Service for the SMTP port when it takes mail.
import type { IIngress } from 'kubernetes-models/networking.k8s.io/v1/Ingress';
import type { IHTTPIngressPath } from 'kubernetes-models/networking.k8s.io/v1/HTTPIngressPath';
import type { IService } from 'kubernetes-models/v1/Service';
import { underMount, type AppPlan } from './app-plan.js';
import { appLabels, childName, selectorLabels } from './k8s-names.js';

export function webService(plan: AppPlan): IService {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: plan.base, labels: appLabels(plan.base, plan.desc.version) },
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(plan.base, 'web'),
      ports: [{ name: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}

/**
 * SMTP (or LMTP) into the gateway's mail listener of the app's pods (SPEC 5.3), on the port and
 * name of what it speaks: an MTA in front (Postfix's `lmtp:inet:NAME-mail`) looks for LMTP on 24.
 */
export function mailService(plan: AppPlan): IService | null {
  if (!plan.mail) return null;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: childName(plan.base, 'mail'),
      labels: appLabels(plan.base, plan.desc.version),
      annotations: { 'apppkg-gateway.io/note': 'ClusterIP: a relay in the cluster (Postfix) hands mail over; make it a LoadBalancer to take mail from outside' },
    },
    spec: {
      type: 'ClusterIP',
      selector: selectorLabels(plan.base, 'web'),
      ports: [{ name: plan.mail, port: plan.mail === 'lmtp' ? 24 : 25, targetPort: plan.mail, protocol: 'TCP' }],
    },
  };
}

/**
 * The gateway's routing, said again to the ingress controller: each virtual host whole (its
 * requests reach the app with SCRIPT_NAME empty, as on one machine), and the mount on any
 * host. The path is passed on unchanged, so the gateway in the pod splits SCRIPT_NAME from it
 * as it does on one machine. A routed process gets its own path (the same backend: the
 * gateway routes it there), so that it can be annotated apart (a websocket's timeouts).
 */
export function ingress(plan: AppPlan): IIngress {
  const backend = { service: { name: plan.base, port: { name: 'http' } } };
  const paths = (prefix: string): IHTTPIngressPath[] => [
    ...plan.routes.map(({ route }) => ({ path: underMount(prefix, route), pathType: 'Prefix' as const, backend })),
    { path: prefix, pathType: 'Prefix' as const, backend },
  ];
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'Ingress',
    metadata: {
      name: plan.base,
      labels: appLabels(plan.base, plan.desc.version),
      annotations: { 'apppkg-gateway.io/mount': plan.mount },
    },
    spec: {
      ...(plan.ingressClass === null ? {} : { ingressClassName: plan.ingressClass }),
      rules: [
        ...plan.ingressHosts.map((host) => ({ host, http: { paths: paths('/') } })),
        { http: { paths: paths(plan.mount) } },
      ],
    },
  };
}
