// Helpers for the export tests: read the objects back from a written manifest, and validate
// them with the same schemas the export uses. Holds no tests itself.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { validateObject, type K8sObject } from '../../src/export/k8s-validate.js';

/** The objects of a multi-document YAML text (comment-only documents left out). */
export function objectsOf(text: string): K8sObject[] {
  return parseAllDocuments(text)
    .map((doc) => {
      if (doc.errors.length > 0) throw new Error(`YAML error: ${doc.errors[0].message}`);
      return doc.toJS() as K8sObject | null;
    })
    .filter((o): o is K8sObject => o !== null);
}

export function objectsIn(file: string): K8sObject[] {
  return objectsOf(readFileSync(file, 'utf8'));
}

/** `Kind name: problem` for every problem Kubernetes' schema finds in `objects`. */
export function schemaProblems(objects: K8sObject[]): string[] {
  return objects.flatMap((o) => validateObject(o).map((p) => `${o.kind} ${o.metadata?.name}: ${p}`));
}

export function find<K extends K8sObject['kind']>(objects: K8sObject[], kind: K, name: string): Extract<K8sObject, { kind: K }> {
  const found = objects.find((o) => o.kind === kind && o.metadata?.name === name);
  if (found === undefined) throw new Error(`no ${kind} ${name} among ${objects.map((o) => `${o.kind} ${o.metadata?.name}`).join(', ')}`);
  return found as Extract<K8sObject, { kind: K }>;
}
