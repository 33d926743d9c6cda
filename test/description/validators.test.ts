// The schema validators npm run build precompiles (scripts/build-validators.mjs) must be the
// ones the built gateway uses, must answer exactly as ajv compiling the schema at runtime
// does, and must be set aside once the schema file no longer matches them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { ROOT } from '../helpers/process.js';

const test = suite('precompiled schema validators');
const require = createRequire(import.meta.url);
const BUILT = join(ROOT, 'dist', 'description', 'validators.js');

const SAMPLES: Record<string, unknown[]> = {
  app: [
    { name: 'blog', app: 'app:application' },
    { name: 5, platform: 'php', app: 'no colon', processes: { web: { command: 3 } }, unknown: true },
    { python: '>=3.9', pip: 'requirements.txt', settings: ['A', 'b'], commands: { install: ['x'] } },
  ],
  environment: [
    { settings: { A: 'b' }, apps: { blog: { workers: 2, threads: 8, mount: '/blog' } } },
    { apps: { blog: { workers: 'two', mount: 'blog', max_memory: 'lots' } }, nonsense: 1 },
  ],
};

for (const name of ['app', 'environment'] as const) {
  test(`${name}: the built gateway uses the compiled validator, and it answers as ajv at runtime does`, async () => {
    const built = (await import(BUILT)) as typeof import('../../src/description/validators.js');
    const compiled = built.validatorFor(built.readSchema(name));
    const file = join(ROOT, 'dist', 'description', 'compiled', `${name}.cjs`);
    assert.is(compiled, require(file), 'the precompiled module');
    const runtime = built.makeAjv().compile(JSON.parse(readFileSync(join(ROOT, 'schema', `${name}.schema.json`), 'utf8')));
    for (const sample of SAMPLES[name]) {
      const ok = compiled(sample);
      assert.is(ok, runtime(sample), JSON.stringify(sample));
      const strip = (errors: typeof compiled.errors) => JSON.stringify((errors ?? []).map((e) => ({ ...e, schema: undefined, parentSchema: e.parentSchema?.['x-fix'] })));
      assert.is(strip(compiled.errors), strip(runtime.errors), JSON.stringify(sample));
    }
  });
}

test('a stale compiled validator is set aside: it is used only while its schema hash matches the schema file', async () => {
  const built = (await import(BUILT)) as typeof import('../../src/description/validators.js');
  const text = readFileSync(join(ROOT, 'schema', 'app.schema.json'), 'utf8');
  const compiled = require(join(ROOT, 'dist', 'description', 'compiled', 'app.cjs')) as { schemaHash: string };
  assert.is(compiled.schemaHash, built.schemaHash(text), 'built from the schema as it is now');
  assert.is.not(built.schemaHash(`${text} `), built.schemaHash(text), 'any edit changes the hash');
});

test.run();
