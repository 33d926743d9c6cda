// Builds a normalised Description by hand, so these tests do not depend on the app.yaml loader.
import path from 'node:path';
import type { Description } from '../../src/description/types.js';

export function makeDescription(dir: string, fields: Partial<Description> = {}): Description {
  return {
    file: path.join(dir, 'app.yaml'),
    dir,
    name: 'demo',
    version: null,
    kind: 'wsgi',
    platform: ['python', 'wsgi'],
    os: [],
    python: null,
    deb: [],
    rpm: [],
    pip: null,
    paths: [],
    app: 'demo:application',
    settings: [],
    static: {},
    health: null,
    services: { database: null, redis: null },
    mail: null,
    processes: {},
    commands: {},
    extensions: {},
    positions: {},
    ...fields,
  };
}
