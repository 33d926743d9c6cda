// One app's objects as one YAML file: a header saying where they come from and how to apply
// them, then each object as a document. Same input, same bytes: no time, no absolute path.
import { stringify } from 'yaml';
import type { K8sObject } from './k8s-validate.js';
import { BEFORE_ROLLOUT, PHASE_LABEL } from './k8s-names.js';

export function renderManifest(header: string[], objects: K8sObject[]): string {
  const head = header.map((line) => (line === '' ? '#' : `# ${line}`)).join('\n');
  // lineWidth 0: a long command or URL stays on one line; block scalars for multi-line text;
  // no anchors for objects used twice (labels, probes): each object reads on its own.
  const docs = objects.map((object) => stringify(object, { lineWidth: 0, blockQuote: 'literal', aliasDuplicateObjects: false }).trimEnd());
  return `${head}\n---\n${docs.join('\n---\n')}\n`;
}

/** The two steps that run the hooks before the rollout with plain kubectl (docs/kubernetes.md). */
export function applySteps(file: string, job: string | null): string[] {
  if (job === null) return [`kubectl apply -f ${file}`];
  return [
    `kubectl apply -f ${file} -l ${PHASE_LABEL}=${BEFORE_ROLLOUT}`,
    `kubectl wait --for=condition=complete --timeout=15m job/${job}`,
    `kubectl apply -f ${file}`,
  ];
}
