// The status page's log tail (SPEC 5.4: "the tail of its log") after a gateway restart: the
// file's last lines, written by the gateway before, are there from the start, marked `earlier`.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GATEWAY_PREFIX, LogTail } from '../../src/log/log-tail.js';
import { tempDir } from '../helpers/process.js';

const test = suite('log tail');
const work = tempDir('apppkg-log-tail-');
test.after(() => work.remove());

test('a log file from before: its last lines, marked earlier (the gateway\'s own notes as gateway); new lines follow', () => {
  const file = join(work.path, 'app.log');
  const old = Array.from({ length: 300 }, (_, i) => `old line ${i}`);
  writeFileSync(file, `${old.join('\n')}\n${GATEWAY_PREFIX}worker 12 exited\npartial without newline`);
  const tail = LogTail.of(file);
  tail.add('stderr', 'new on stderr');
  const lines = tail.last(40);
  assert.is(lines.length, 40);
  assert.equal(lines.slice(-3).map((l) => [l.stream, l.text]), [
    ['earlier', 'old line 299'],
    ['gateway', `${GATEWAY_PREFIX}worker 12 exited`],
    ['stderr', 'new on stderr'],
  ]);
  assert.ok(lines.every((l) => l.text !== 'partial without newline'), 'a line not ended is not taken');
});

test('a big file: only its end is read, and the first line read (cut) is dropped', () => {
  const file = join(work.path, 'big.log');
  writeFileSync(file, `${'x'.repeat(200_000)}\nlast one\n`);
  const lines = LogTail.of(file).last(10);
  assert.equal(lines.map((l) => l.text), ['last one']);
});

test('no file yet: an empty tail', () => {
  assert.equal(LogTail.of(join(work.path, 'none.log')).last(10), []);
});

test.run();
