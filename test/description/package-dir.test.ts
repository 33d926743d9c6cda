import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { compareVersions, parsePackageDirName, pickHighest, sortByVersionDescending } from '../../src/description/package-dir.js';

test('parsePackageDirName splits NAME.VERSION where VERSION begins with a digit', () => {
  const cases: [string, string, string | null][] = [
    ['blog.2026.11.24', 'blog', '2026.11.24'],
    ['blog.1.4.2', 'blog', '1.4.2'],
    ['my.app.2', 'my.app', '2'],
    ['blog', 'blog', null],
    ['blog.v2', 'blog.v2', null],
    ['py3.app.1.0rc1', 'py3.app', '1.0rc1'],
    ['web-site_2.1', 'web-site_2', '1'],
    ['.1.0', '.1.0', null],
    ['2026', '2026', null],
  ];
  for (const [basename, name, version] of cases) {
    assert.equal(parsePackageDirName(basename), { name, version }, basename);
  }
});

test('compareVersions compares number by number', () => {
  const ascending = [
    // A word that is no pre- or post-release (a kept copy: .old, .x) is below its release.
    '0.9', '1.0.old', '1.0.x', '1.0.dev1', '1.0a1', '1.0b2', '1.0rc1', '1.0rc1+build2', '1.0', '1.0.0',
    // A build tail after + (PEP 440's local label, semver's build): just above its release.
    '1.0+build5', '1.0+build10', '1.0+5', '1.0.post1', '1.0.1', '1.2', '1.9', '1.10.bak', '1.10', '2',
    '2026.9.30', '2026.11.24', '2026.11.24.1', '20261124',
  ];
  for (let i = 0; i < ascending.length; i++) {
    for (let j = 0; j < ascending.length; j++) {
      const want = Math.sign(i - j);
      assert.is(compareVersions(ascending[i], ascending[j]), want, `${ascending[i]} vs ${ascending[j]}`);
    }
  }
});

test('compareVersions: ties on numbers fall back to the text, so 0 means equal strings', () => {
  assert.is(compareVersions('1.01', '1.1') === 0, false);
  assert.is(compareVersions('1.01', '1.1'), -compareVersions('1.1', '1.01'));
  assert.is(compareVersions('3.1', '3.1'), 0);
  assert.is(compareVersions(null, '0'), -1);
  assert.is(compareVersions('0', null), 1);
  assert.is(compareVersions(null, null), 0);
  assert.is(compareVersions('99999999999999999999999.1', '99999999999999999999998.2'), 1);
});

test('pickHighest and sortByVersionDescending', () => {
  const dirs = [
    { dir: 'blog.1.9', version: '1.9' },
    { dir: 'blog.1.10', version: '1.10' },
    { dir: 'blog', version: null },
    { dir: 'blog.1.10rc1', version: '1.10rc1' },
  ];
  assert.is(pickHighest(dirs)?.dir, 'blog.1.10');
  assert.equal(sortByVersionDescending(dirs).map((d) => d.dir), ['blog.1.10', 'blog.1.10rc1', 'blog.1.9', 'blog']);
  assert.is(pickHighest([]), undefined);
});

test.run();
