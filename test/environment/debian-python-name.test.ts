// Debian's python3-NAME rule, said once (debian-python-name.ts) and read both ways: the package
// vendor suggests for a distribution, and the distributions check's pip: fallback takes a missing
// python3-NAME to stand for. Spelt twice before, the two disagreed: "zope--interface" kept its
// "--", python-dateutil was "python3-python-dateutil", PyYAML "python3-pyyaml" only, and
// py-cpuinfo never stood for python3-cpuinfo; the module's package (system-module.ts) spelt it a
// third time. The real `check` beside it: test/cli/deb-pip-fallback.
// An installed package's real name, read from dpkg, wins over the rule (Pillow is python3-pil).
import { spawnSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { debianNamesOfModule, debianPackageName, debianPackageNames, debianPackagesFor, distributionNamesOf, installedDebianPackage } from '../../src/environment/debian-python-name.js';
import { normalizeName } from '../../src/environment/requirements.js';
import { hasProgram, runIf } from '../helpers/skip.js';

const test = suite('environment: Debian names of Python distributions');

const CASES: Array<[string, string[]]> = [
  ['M2Crypto', ['python3-m2crypto']],
  // Runs of "-", "_" and "." are one "-"; upper case is lower.
  ['zope--interface', ['python3-zope-interface']],
  ['Flask_SQLAlchemy', ['python3-flask-sqlalchemy']],
  ['ruamel.yaml.clib', ['python3-ruamel-yaml-clib']],
  ['a._-b', ['python3-a-b']],
  // A python- prefix only says it is Python's: dropped first.
  ['python-dateutil', ['python3-dateutil', 'python3-python-dateutil']],
  ['Python_LDAP', ['python3-ldap', 'python3-python-ldap']],
  // py: kept first (pyparsing), dropped next (PyYAML is python3-yaml).
  ['PyYAML', ['python3-pyyaml', 'python3-yaml']],
  ['py-cpuinfo', ['python3-py-cpuinfo', 'python3-cpuinfo']],
  ['py.test_x', ['python3-py-test-x', 'python3-test-x']],
  // Not a prefix: a name that begins with "python" otherwise, or "py" with nothing after it.
  ['pythonnet', ['python3-pythonnet']],
  ['py', ['python3-py']],
  ['python', ['python3-python']],
  ['py-', ['python3-py-']],
];

test('a distribution to its Debian package: normalised, a python- or py prefix dropped where Debian drops it', () => {
  for (const [distribution, debs] of CASES) {
    assert.equal(debianPackageNames(distribution), debs, distribution);
    assert.is(debianPackageName(distribution), debs[0], distribution);
  }
});

test('a python3-NAME package to the distributions it may stand for: NAME, and NAME behind each prefix Debian drops', () => {
  assert.equal(distributionNamesOf('python3-yaml'), ['yaml', 'python-yaml', 'py-yaml', 'pyyaml']);
  assert.equal(distributionNamesOf('python3-Zope.Interface'), ['zope-interface', 'python-zope-interface', 'py-zope-interface', 'pyzope-interface']);
  assert.equal(distributionNamesOf('python-dateutil'), ['dateutil', 'python-dateutil', 'py-dateutil', 'pydateutil'], 'a Python 2 name');
  assert.equal(distributionNamesOf('libssl-dev'), []);
  assert.equal(distributionNamesOf('python3-'), []);
});

test('one rule both ways: each package named for a distribution stands for that distribution', () => {
  for (const [distribution] of CASES) {
    for (const deb of debianPackageNames(distribution)) {
      assert.ok(distributionNamesOf(deb).includes(normalizeName(distribution)), `${deb} does not stand for ${distribution}: ${distributionNamesOf(deb).join(', ')}`);
    }
  }
});

// system-module.ts spelt the rule a third time for the module an app imports (its deb: line,
// check's unlisted packages): "_" to "-" one by one, so a run of them stayed a run.
test('a module to the names of the package that ships it: python3-NAME by the same normalisation, or its own name; no prefix dropped', () => {
  assert.equal(debianNamesOfModule('yaml'), ['python3-yaml', 'yaml']);
  assert.equal(debianNamesOfModule('pkg_resources'), ['python3-pkg-resources', 'pkg-resources']);
  assert.equal(debianNamesOfModule('PIL'), ['python3-pil', 'pil']);
  assert.equal(debianNamesOfModule('pygments'), ['python3-pygments', 'pygments'], 'a module is named as it is: py is no prefix of a module\'s name');
  assert.equal(debianNamesOfModule('zope__interface'), ['python3-zope-interface', 'zope-interface'], 'a run of "_" is one "-", as for a distribution');
  for (const module of ['flask_cors', 'Ruamel__Yaml', 'a_._b']) assert.is(debianNamesOfModule(module)[0], debianPackageNames(module)[0], module);
});

/** Distributions whose Debian package the rule does not guess, spelt as a requirement might, and that package. */
const NAMED_OTHERWISE: Array<[string, string]> = [
  ['Pillow', 'python3-pil'],
  ['pyjwt', 'python3-jwt'],
  ['CherryPy', 'python3-cherrypy3'],
  ['beautifulsoup4', 'python3-bs4'],
  ['PyGObject', 'python3-gi'],
];
const installedHere = hasProgram('dpkg-query')
  ? NAMED_OTHERWISE.filter(([, deb]) => spawnSync('dpkg-query', ['-W', '-f=${Status}', deb], { encoding: 'utf8', timeout: 30_000 }).stdout?.endsWith(' installed'))
  : [];

runIf(test, installedHere.length > 0, `needs dpkg and one of ${NAMED_OTHERWISE.map(([, deb]) => deb).join(', ')} installed`)(
  'an installed package that ships the distribution\'s .dist-info or .egg-info: its real name, where the rule guesses another',
  async () => {
    for (const [distribution, deb] of installedHere) {
      assert.is.not(debianPackageName(distribution), deb, `the rule guesses ${deb} for ${distribution}: pick another`);
      assert.is(await installedDebianPackage(distribution), deb, distribution);
    }
    // Not installed from a package: none, and the package named for it is the rule's.
    assert.is(await installedDebianPackage('apppkg-no-such-distribution'), null);
    const [[distribution, deb]] = installedHere;
    assert.equal(await debianPackagesFor([distribution, 'Apppkg_No.Such-Distribution']), [deb, 'python3-apppkg-no-such-distribution']);
  },
);

test.run();
