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

/**
 * `text` as the kubelet runs it: Kubernetes expands `$(NAME)` in a container's command, args and
 * env values to the variable NAME of the container (left as written when it has none) and reads
 * `$$` as `$` (k8s.io/kubernetes third_party/forked/golang/expansion, Expand), a port of it.
 */
export function kubeletExpand(text: string, variables: Record<string, string>): string {
  let out = '';
  let checkpoint = 0;
  for (let cursor = 0; cursor < text.length; cursor++) {
    if (text[cursor] !== '$' || cursor + 1 >= text.length) continue;
    out += text.slice(checkpoint, cursor);
    const next = text[cursor + 1];
    let advance = 1;
    if (next === '$') out += '$';
    else if (next === '(') {
      const close = text.indexOf(')', cursor + 2);
      if (close === -1) out += '$(';
      else {
        const name = text.slice(cursor + 2, close);
        out += Object.hasOwn(variables, name) ? variables[name] : `$(${name})`;
        advance = close - cursor;
      }
    } else out += `$${next}`;
    cursor += advance;
    checkpoint = cursor + 1;
  }
  return out + text.slice(checkpoint);
}
