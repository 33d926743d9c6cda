// What runs an app on the cluster: the Deployment of the gateway serving it, a Deployment per
// background process, and the Job that runs commands.install / commands.update before the
// rollout (as the gateway runs them before a version takes traffic, SPEC §4).
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import type { IJob } from 'kubernetes-models/batch/v1/Job';
import type { AppPlan } from './app-plan.js';
import { imageDataDir } from './image-layout.js';
import { BEFORE_ROLLOUT, PHASE_LABEL, SYNC_WAVE, WAVE_JOB, appLabels, childName, dnsLabel, hashedLabel, selectorLabels } from './k8s-names.js';
import { appCommand, appPodSpec, containerSecurity, PRODUCTION_ENV } from './pod-template.js';
import { shellLine, shellWord } from '../shell-words.js';
import { DEFAULT_HOOK_TIMEOUT_MS } from '../gateway-options.js';
import { terminationGraceSeconds, webContainer } from './web-container.js';

/**
 * The Job's own record that the app was installed on this cluster, on the data volume (the
 * gateway's installed.json lies in the pod's state root, which does not outlive the pod).
 */
export const INSTALLED_MARKER = '.apppkg-gateway-installed';
/** How long a finished Job (and its log) is kept. */
const JOB_TTL_S = 7 * 24 * 3600;

export function webDeployment(plan: AppPlan): IDeployment {
  const selector = selectorLabels(plan.base, 'web');
  const labels = { ...appLabels(plan.base, plan.desc.version), ...selector };
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: plan.base, labels },
    spec: {
      replicas: plan.replicas,
      selector: { matchLabels: selector },
      // A new version takes over with no failed request (SPEC §4): new pods first, ready, then the old drain.
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 0, maxSurge: 1 } },
      template: {
        metadata: { labels },
        spec: appPodSpec(plan, [webContainer(plan)], { terminationGracePeriodSeconds: terminationGraceSeconds(plan) }),
      },
    },
  };
}

/**
 * A background process (`processes.NAME` without a route) in its own Deployment, run in the
 * app's environment by `apppkg-gateway run`; Kubernetes restarts it with back-off, as the
 * gateway does on one machine.
 */
export function processDeployments(plan: AppPlan): IDeployment[] {
  return plan.background.map(({ process, command, name, component }) => {
    const selector = selectorLabels(plan.base, component);
    const labels = { ...appLabels(plan.base, plan.desc.version), ...selector };
    return {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, labels, annotations: { 'apppkg-gateway.io/process': process } },
      spec: {
        replicas: 1,
        selector: { matchLabels: selector },
        template: {
          metadata: { labels },
          spec: appPodSpec(
            plan,
            [{
              name: dnsLabel(process),
              image: plan.image,
              command: [...appCommand(plan, 'run'), '--', '/bin/sh', '-c', command],
              env: [PRODUCTION_ENV],
              resources: { requests: { cpu: '100m', memory: '128Mi' } },
              securityContext: containerSecurity,
            }],
            { terminationGracePeriodSeconds: plan.graceSeconds + 10 },
          ),
        },
      },
    };
  });
}

/**
 * The hooks as the gateway runs them: commands.install the first time the app is installed
 * here (`apppkg-gateway install`, which also checks the deb packages and builds the venv),
 * commands.update for every later version. Named for the version: each version's Job runs once.
 * The marker lists the versions whose hooks ran: an older export applied again to roll back
 * (its Job gone after JOB_TTL_S, so made anew) runs no commands.update, as the gateway runs
 * none for a rollback: that version's migration would meet data its successor migrated.
 */
/**
 * The hooks Job's name, one per version. The DNS form of a version of digits and dots reads back
 * (1.2 as 1-2); of any other it may be another's too (1-2, 1.0+rc and 1.0-RC), and the next
 * version's apply would then meet the last one's Job: refused (a Job's template cannot change),
 * or, through `kubectl wait`, complete already, rolling out with no hooks run. A hash of the
 * version keeps each apart.
 */
function hooksJobName(plan: AppPlan): string {
  const version = plan.desc.version ?? 'unversioned';
  const name = childName(plan.base, 'hooks', version);
  return plan.desc.version === null || /^\d+(\.\d+)*$/.test(version) ? name : hashedLabel(name, version);
}

export function hooksJob(plan: AppPlan): IJob | null {
  const { install, update } = plan.hooks;
  if (install === null && update === null) return null;
  const marker = `${imageDataDir(plan.desc.name)}/${INSTALLED_MARKER}`;
  const version = plan.desc.version ?? 'unversioned';
  const updateStep = update === null
    ? 'echo "apppkg-gateway: installed before, and no commands.update: nothing to run"'
    // The command comes through $APPPKG_UPDATE: no quoting of it in the script.
    : `${shellLine(appCommand(plan, 'run'))} -- /bin/sh -c "$APPPKG_UPDATE"`;
  // An app without a version suffix is one version whatever its image holds: each of its Jobs runs the update.
  const ranBefore = plan.desc.version === null ? [] : [
    `  if grep -qxF ${shellWord(version)} ${shellWord(marker)}; then`,
    `    echo ${shellWord(`apppkg-gateway: version ${version} ran its hooks here before: a rollback runs no commands.update (the data stays as the newer version left it)`)}`,
    '    exit 0',
    '  fi',
  ];
  const script = [
    'set -e',
    `if [ -e ${shellWord(marker)} ]; then`,
    ...ranBefore,
    `  ${updateStep}`,
    'else',
    `  ${shellLine(appCommand(plan, 'install'))}`,
    'fi',
    `echo ${shellWord(version)} >> ${shellWord(marker)}`,
    '',
  ].join('\n');
  const labels = { ...appLabels(plan.base, plan.desc.version), ...selectorLabels(plan.base, 'hooks'), [PHASE_LABEL]: BEFORE_ROLLOUT };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: hooksJobName(plan),
      labels,
      annotations: {
        'apppkg-gateway.io/runs': [install === null ? null : 'commands.install (first time)', update === null ? null : 'commands.update (later versions)'].filter(Boolean).join(', '),
        // For Argo CD: the same order without the two steps (k8s-names.ts SYNC_WAVE).
        [SYNC_WAVE]: WAVE_JOB,
      },
    },
    spec: {
      backoffLimit: 2,
      ttlSecondsAfterFinished: JOB_TTL_S,
      template: {
        metadata: { labels },
        spec: appPodSpec(
          plan,
          [{
            name: 'hooks',
            image: plan.image,
            command: ['/bin/sh', '-c', script],
            env: [PRODUCTION_ENV, ...(update === null ? [] : [{ name: 'APPPKG_UPDATE', value: update }])],
            resources: { requests: { cpu: '100m', memory: '256Mi' } },
            securityContext: containerSecurity,
          }],
          // Each attempt as the gateway bounds a hook (--hook-timeout's default): a migration
          // that hangs fails its pod, not the rollout for ever.
          { restartPolicy: 'Never', activeDeadlineSeconds: DEFAULT_HOOK_TIMEOUT_MS / 1000 },
        ),
      },
    },
  };
}
