// The fields of an object that Kubernetes' schema does not have. kubernetes-models' validators
// (ajv, compiled from the OpenAPI definitions) accept unknown fields, as the definitions set no
// additionalProperties: false; but `kubectl apply` (field validation Strict, kubectl >= 1.27)
// refuses the object for one, and an older client drops it without a word. The compiled code
// is the schema we have (the package ships no OpenAPI JSON), so it is asked, by watching it:
// it reads each property its schema names, and walks every key of a map (labels, annotations,
// a ConfigMap's data). A key of a structure that it never read is one the schema does not know.

interface Watched {
  target: object;
  read: Set<string>;
  /** The validator enumerated the keys: a map, whose keys are data, not fields. */
  map: boolean;
}

/**
 * Run `validate` on a copy of `object` and return the JSON pointer of every field the schema
 * does not have. `validate` is the kind's compiled validator, run with the data as `this`.
 */
export function unknownFields(object: unknown, validate: (this: unknown) => void): string[] {
  // What is written: JSON has no undefined-valued keys (the YAML writer drops them too).
  const data: unknown = JSON.parse(JSON.stringify(object));
  const watched = new Map<string, Watched>();

  const watch = (value: unknown, pointer: string): unknown => {
    if (value === null || typeof value !== 'object') return value;
    if (Array.isArray(value)) {
      return new Proxy(value, {
        get: (target, key, receiver) => {
          const item: unknown = Reflect.get(target, key, receiver);
          return typeof key === 'string' && /^\d+$/.test(key) ? watch(item, `${pointer}/${key}`) : item;
        },
      });
    }
    let state = watched.get(pointer);
    if (state === undefined) {
      state = { target: value, read: new Set(), map: false };
      watched.set(pointer, state);
    }
    const seen = state;
    const escape = (key: string) => key.replace(/~/g, '~0').replace(/\//g, '~1');
    return new Proxy(value as Record<string, unknown>, {
      get: (target, key, receiver) => {
        if (typeof key !== 'string') return Reflect.get(target, key, receiver);
        seen.read.add(key);
        return watch(Reflect.get(target, key, receiver), `${pointer}/${escape(key)}`);
      },
      has: (target, key) => {
        if (typeof key === 'string') seen.read.add(key);
        return Reflect.has(target, key);
      },
      ownKeys: (target) => {
        seen.map = true;
        return Reflect.ownKeys(target);
      },
    });
  };

  try {
    validate.call(watch(data, ''));
  } catch {
    // Its errors are validateObject's to report; what matters here is what it read.
  }
  const unknown: string[] = [];
  for (const [pointer, { target, read, map }] of watched) {
    if (map) continue;
    for (const key of Object.keys(target)) if (!read.has(key)) unknown.push(`${pointer}/${key.replace(/~/g, '~0').replace(/\//g, '~1')}`);
  }
  return unknown.sort();
}
