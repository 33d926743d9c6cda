// The types a user installs (`npm pack`'s .d.ts) offer what README documents and not the CLI's
// own options: `optionNames` (how a refusal names the CLI's flags) was a member of the published
// GatewayOptions and AppPackageOptions, and an editor offered it to every library caller. It is
// tagged @internal and stripped (tsconfig stripInternal), and is still taken at run time: the
// CLI passes it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { ROOT, tempDir } from '../helpers/process.js';

const test = suite('packed types');
const work = tempDir('apppkg-packed-types-');
test.after(() => work.remove());

let unpacked = '';
test.before(() => {
  // --ignore-scripts: dist/ is built (`npm test` builds it when stale); pack only packs.
  const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', work.path], { cwd: ROOT, encoding: 'utf8', timeout: 120_000 });
  assert.is(pack.status, 0, `${pack.error ?? ''}${pack.stdout}${pack.stderr}`);
  const tarball = readdirSync(work.path).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, `no tarball in ${work.path}`);
  const untar = spawnSync('tar', ['-xzf', join(work.path, tarball!), '-C', work.path], { encoding: 'utf8', timeout: 60_000 });
  assert.is(untar.status, 0, untar.stderr);
  unpacked = join(work.path, 'package');
});

test('no .d.ts of the package names optionNames', () => {
  const declarations = readdirSync(join(unpacked, 'dist'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.d.ts'));
  assert.ok(declarations.includes('index.d.ts'), 'the package has its types');
  const naming = declarations.filter((f) => readFileSync(join(unpacked, 'dist', f), 'utf8').includes('optionNames'));
  assert.equal(naming, []);
});

/** The compiler's errors for `source`, a user's module importing the packed package's types. */
function typeErrors(source: string): string[] {
  const file = join(work.path, `use-${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(file, source.replaceAll('PACKAGE', join(unpacked, 'dist', 'index.js')));
  const program = ts.createProgram([file], {
    strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
    // The package's dependencies' and Node's types, as the user's install would have them.
    typeRoots: [join(ROOT, 'node_modules', '@types')], types: ['node'], baseUrl: ROOT, paths: { '*': [join(ROOT, 'node_modules', '*')] },
  });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

test('GatewayOptions and AppPackageOptions as published take README\'s options and refuse optionNames', () => {
  const documented = "import type { AppPackageOptions, GatewayOptions } from 'PACKAGE';\nexport const g: GatewayOptions = { apps: '/srv/apps', admin: false };\nexport const a: AppPackageOptions = { stateDir: '/tmp/state' };\n";
  assert.equal(typeErrors(documented), [], 'the documented options type-check');
  const internal = "import type { AppPackageOptions, GatewayOptions } from 'PACKAGE';\nexport const g: GatewayOptions = { apps: '/srv/apps', optionNames: undefined };\nexport const a: AppPackageOptions = { optionNames: undefined };\n";
  const errors = typeErrors(internal);
  assert.is(errors.filter((e) => /'optionNames' does not exist in type 'GatewayOptions'/.test(e)).length, 1, errors.join('\n'));
  assert.is(errors.filter((e) => /'optionNames' does not exist in type 'AppPackageOptions'/.test(e)).length, 1, errors.join('\n'));
});

test.run();
