// The container that serves an app: the gateway under --apps with the pod's environment file,
// its probes from `health:`, its drain, its resources from workers, threads and max_memory.
import type { IContainer } from 'kubernetes-models/v1/Container';
import type { IProbe } from 'kubernetes-models/v1/Probe';
import { underMount, type AppPlan } from './app-plan.js';
import { HTTP_PORT, IMAGE_APPS_DIR, IMAGE_STATE_DIR, SMTP_PORT } from './image-layout.js';
import { containerSecurity, podEnvironmentFile } from './pod-template.js';

/**
 * Seconds the pod keeps serving after it is told to stop, before the gateway gets SIGTERM: the
 * endpoints and the ingress controller learn that the pod is going asynchronously, and requests
 * they still send meanwhile must not find it closed.
 */
export const PRESTOP_SLEEP_S = 10;
/**
 * The wait as an exec hook, not the `sleep` action: that one needs Kubernetes 1.30 (1.29 drops
 * it as an alpha field, older ones do not know it, and either refuses the whole Deployment),
 * while the image (Debian, whose coreutils are essential) always has a sleep(1) to run.
 */
const PRESTOP: IContainer['lifecycle'] = { preStop: { exec: { command: ['sleep', String(PRESTOP_SLEEP_S)] } } };
/** The gateway's own bound once its grace is over: SIGTERM to each process tree, then SIGKILL. */
const STOP_MARGIN_S = 10;

/**
 * Startup: up to 5 minutes (the venv checked or built, then every worker imports the app; one
 * worker may take 60 s, START_TIMEOUT_MS), and an app's longer `start_timeout` on top. Readiness: out of rotation after 3 failures in 15 s.
 * Liveness: a minute of failures before a restart, since the gateway restarts its own workers
 * with back-off first; only a gateway that cannot recover is worth a new pod.
 */
const STARTUP = { periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 60 };
const READINESS = { periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 3 };
const LIVENESS = { periodSeconds: 10, timeoutSeconds: 5, failureThreshold: 6 };

/** Memory the Node front process needs (README: ~60-95 MiB), and each Python worker at least. */
const FRONT_MEMORY_MI = 128;
const WORKER_MEMORY_MI = 128;
const FRONT_CPU_M = 100;
const WORKER_CPU_M = 200;
const PROCESS_CPU_M = 100;
const PROCESS_MEMORY_MI = 64;
/** What the front may grow to under load (README: ~95 MiB after a minute at 12k req/s), with room. */
const FRONT_LIMIT_MI = 256;

const mebibytes = (bytes: number): number => Math.ceil(bytes / 2 ** 20);

/** `terminationGracePeriodSeconds`: the preStop sleep, the gateway's grace, then its stop bound. */
export function terminationGraceSeconds(plan: AppPlan): number {
  return PRESTOP_SLEEP_S + plan.graceSeconds + STOP_MARGIN_S;
}

/** The probes from `health:` (through the gateway, at the app's mount); without it, the listener. */
function probes(plan: AppPlan): Pick<IContainer, 'startupProbe' | 'readinessProbe' | 'livenessProbe'> {
  // Without health: the gateway listens before its apps have started and holds the requests
  // that arrive meanwhile (README), so its port is the best sign there is.
  const action: Pick<IProbe, 'httpGet' | 'tcpSocket'> =
    plan.desc.health === null ? { tcpSocket: { port: 'http' } } : { httpGet: { path: underMount(plan.mount, plan.desc.health), port: 'http' } };
  return {
    startupProbe: { ...action, ...STARTUP, failureThreshold: STARTUP.failureThreshold + Math.ceil(Math.max(0, (plan.host.startTimeout ?? 0) - 60) / STARTUP.periodSeconds) },
    readinessProbe: { ...action, ...READINESS },
    livenessProbe: { ...action, ...LIVENESS },
  };
}

/**
 * Requests: the front plus each worker (threads share a worker's CPU: the GIL) and each routed
 * process. A limit only from `max_memory`, the RSS past which the gateway recycles a worker:
 * every worker at it, plus the replacement that starts before the old one drains.
 */
function resources(plan: AppPlan): IContainer['resources'] {
  const routed = plan.routes.length + (plan.desc.kind === 'command' ? 1 : 0);
  const requests = {
    cpu: `${FRONT_CPU_M + plan.workers * WORKER_CPU_M + routed * PROCESS_CPU_M}m`,
    memory: `${FRONT_MEMORY_MI + plan.workers * WORKER_MEMORY_MI + routed * PROCESS_MEMORY_MI}Mi`,
  };
  const maxMemory = plan.host.maxMemory;
  if (maxMemory === null) return { requests };
  return { requests, limits: { memory: `${FRONT_LIMIT_MI + (plan.workers + 1 + routed) * mebibytes(maxMemory)}Mi` } };
}

export function webContainer(plan: AppPlan): IContainer {
  const ports: IContainer['ports'] = [{ name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' }];
  if (plan.mail) ports.push({ name: plan.mail, containerPort: SMTP_PORT, protocol: 'TCP' });
  return {
    name: 'gateway',
    image: plan.image,
    command: [
      'apppkg-gateway',
      '--apps', IMAGE_APPS_DIR,
      '--listen', `0.0.0.0:${HTTP_PORT}`,
      '--environment', podEnvironmentFile(plan),
      '--state-dir', IMAGE_STATE_DIR,
      // The ingress controller is the only peer that sends X-Forwarded-*; restrict who reaches
      // the pod with a NetworkPolicy (docs/kubernetes.md).
      '--trust-proxy',
      '--grace', String(plan.graceSeconds),
      // The image never changes under a running pod: a new version is a new pod.
      '--watch-interval', '0',
    ],
    ports,
    ...probes(plan),
    lifecycle: PRESTOP,
    resources: resources(plan),
    securityContext: containerSecurity,
  };
}
