// One app's objects as one YAML file: a header saying where they come from and how to apply
// them, then each object as a document. Same input, same bytes: no time, no absolute path.
import { Document, Scalar, parse, visit } from 'yaml';
import type { K8sObject } from './k8s-validate.js';
import { BEFORE_ROLLOUT, PHASE_LABEL } from './k8s-names.js';

export function renderManifest(header: string[], objects: K8sObject[]): string {
  const head = header.map((line) => (line === '' ? '#' : `# ${line}`)).join('\n');
  // lineWidth 0: a long command or URL stays on one line; block scalars for multi-line text;
  // no anchors for objects used twice (labels, probes): each object reads on its own.
  const docs = objects.map((object) => {
    const doc = new Document(object, { aliasDuplicateObjects: false });
    visit(doc, {
      Scalar(_, node) {
        if (typeof node.value === 'string' && needsQuotes(node.value)) node.type = Scalar.QUOTE_DOUBLE;
      },
    });
    return doc.toString({ lineWidth: 0, blockQuote: 'literal' }).trimEnd();
  });
  return `${head}\n---\n${docs.join('\n---\n')}\n`;
}

/**
 * Whether `text`, written plain, would not read back as that string in YAML 1.1. kubectl reads
 * manifests as YAML 1.1 (sigs.k8s.io/yaml): a setting `USE_TLS: yes`, `on`, `NO`, `y` or `1_000`
 * in a Secret's stringData is a boolean or a number there, and the API server refuses the whole
 * Secret ("cannot unmarshal bool into ... of type string"); a date, read as one by some readers,
 * is quoted too. `yaml` writes YAML 1.2, whose plain strings those are; what 1.2 would misread
 * (`0o17`) it quotes already. A tab inside a plain string is refused by PyYAML (Ansible's
 * kubernetes.core reads manifests with it): quoted as well.
 */
function needsQuotes(text: string): boolean {
  // A parse per scalar was a third of an export's CPU, and the same few hundred strings (labels,
  // names, paths) recur in every object of every app: each is read once.
  let quoted = quotedByText.get(text);
  if (quoted === undefined) {
    quoted = readsOtherwise(text);
    quotedByText.set(text, quoted);
  }
  return quoted;
}

const quotedByText = new Map<string, boolean>();

function readsOtherwise(text: string): boolean {
  if (text.includes('\n')) return false; // a block scalar: a string in any version
  // A tab; YAML 1.1's value and merge keys, which PyYAML does not read back as strings.
  if (text.includes('\t') || text === '=' || text === '<<') return true;
  try {
    // silent: text such as `%x` or `!x` is not YAML on its own, and is no warning of ours.
    const read: unknown = parse(text, { version: '1.1', logLevel: 'silent' });
    // A map or a list (`{"a": 1}`, JSON as an argument): the writer quotes those on its own.
    return read === null || read instanceof Date || (typeof read !== 'string' && typeof read !== 'object');
  } catch {
    return false; // not YAML on its own (`[`): the writer quotes such text as it is
  }
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
