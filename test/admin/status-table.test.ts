import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatMs, renderStatusTable } from '../../src/admin/status-table.js';
import { fakeStatus } from './fake-status.js';

const test = suite('status table');

test('columns line up and each app has its row', () => {
  const text = renderStatusTable(fakeStatus());
  const lines = text.split('\n');
  const header = lines.findIndex((l) => l.startsWith('NAME'));
  assert.ok(header > 0);
  const [head, blog, shop] = lines.slice(header, header + 3);
  assert.is(blog.indexOf('ready'), head.indexOf('STATE'));
  assert.is(shop.indexOf('/shop'), head.indexOf('MOUNT'));
  assert.match(lines[0], /gateway pid 4242, version 0\.1\.0/);
  assert.ok(text.endsWith('\n'));
});

test('no apps and no broken packages', () => {
  const text = renderStatusTable({ ...fakeStatus(), apps: [], broken: [] });
  assert.match(text, /no apps are served/);
  assert.not.match(text, /broken/);
});

test('formatMs', () => {
  assert.is(formatMs(null), '-');
  assert.is(formatMs(0.0012), '1.2ms');
  assert.is(formatMs(0.0123), '12ms');
  assert.is(formatMs(1.5), '1500ms');
});

test.run();
