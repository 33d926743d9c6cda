// net/latin1-bytes.ts writes the REQUEST frame's fields and a lean response's head on every
// request, by a loop in JavaScript for short strings and by Buffer's latin1Write past LOOP_MAX:
// both ways must write what Buffer.from(s, 'latin1') makes, every byte value included, and
// nothing around it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { putLatin1 } from '../../src/net/latin1-bytes.js';

const test = suite('latin-1 bytes');

/** `length` chars running through all 256 byte values from `first` on. */
function latin1String(length: number, first: number): string {
  let s = '';
  for (let i = 0; i < length; i++) s += String.fromCharCode((first + i * 7) % 256);
  return s;
}

test('every length either way writes Buffer.from(s, "latin1") at its place, and nothing else', () => {
  for (let length = 0; length <= 300; length++) {
    const s = latin1String(length, length);
    const bytes = Buffer.alloc(length + 10, 0xaa);
    const end = putLatin1(bytes, 5, s);
    assert.is(end, 5 + length, `the end for ${length} chars`);
    assert.equal([...bytes.subarray(5, end)], [...Buffer.from(s, 'latin1')], `the bytes of ${length} chars`);
    assert.equal([...bytes.subarray(0, 5), ...bytes.subarray(end)], new Array(10).fill(0xaa), `the bytes around ${length} chars`);
  }
});

test('this Node has latin1Write, the long strings\' way (without it they would throw)', () => {
  assert.type((Buffer.prototype as unknown as Record<string, unknown>).latin1Write, 'function');
});

test.run();
