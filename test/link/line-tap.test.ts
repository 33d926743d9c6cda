// A worker's output on its way to the app's log: a line with no newline in sight is passed on
// as it comes once it is long, ended by a mark (the log is shared), never held whole (holding it meant copying it again at every
// read: a 40 MB print took the gateway 100 s of CPU, and its heartbeats with it).
import { Writable } from 'node:stream';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LineTap, UNENDED_MARK } from '../../src/link/shim-output.js';

const test = suite('LineTap');

class Recorder extends Writable {
  chunks: Buffer[] = [];
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.chunks.push(chunk);
    done();
  }
  get bytes(): number {
    return this.chunks.reduce((n, c) => n + c.length, 0);
  }
}

test('serving: a 20 MB line without a newline reaches the sink as it comes, whole in the end', () => {
  const sink = new Recorder();
  const tap = new LineTap(sink, () => false);
  const piece = Buffer.alloc(64 * 1024, 'p');
  let heldMost = 0;
  for (let i = 0; i < 320; i++) {
    tap.push(piece);
    heldMost = Math.max(heldMost, (i + 1) * piece.length - sink.bytes);
  }
  tap.push(Buffer.from('\n'));
  tap.end();
  assert.ok(heldMost <= 128 * 1024, `held ${heldMost} bytes at most`);
  // Each piece is ended by the mark (another worker's line may follow it in the log); the
  // line's own newline, said by the last mark already, adds no blank line.
  const text = Buffer.concat(sink.chunks).toString();
  assert.is(text, `${'p'.repeat(piece.length)}${UNENDED_MARK}`.repeat(320));
});

test('serving: a piece past the bound is cut after its last whole character, the rest held for the next', () => {
  const sink = new Recorder();
  const tap = new LineTap(sink, () => false);
  const euro = Buffer.from('€'); // 3 bytes
  const piece = Buffer.concat([Buffer.alloc(64 * 1024 - 1, 'x'), euro.subarray(0, 1)]);
  tap.push(piece);
  assert.is(Buffer.concat(sink.chunks).toString(), `${'x'.repeat(64 * 1024 - 1)}${UNENDED_MARK}`);
  tap.push(Buffer.concat([euro.subarray(1), Buffer.from(' done\n')]));
  tap.end();
  const text = Buffer.concat(sink.chunks).toString();
  assert.not.ok(text.includes('\ufffd'));
  assert.ok(text.endsWith(`${UNENDED_MARK}€ done\n`), text.slice(-40));
});

test('serving: a piece no newline follows goes out after 250 ms ended by the mark, and at the end', async () => {
  const sink = new Recorder();
  const tap = new LineTap(sink, () => false);
  tap.push(Buffer.from('prompt: '));
  assert.is(sink.bytes, 0);
  await new Promise((resolve) => setTimeout(resolve, 400));
  assert.is(Buffer.concat(sink.chunks).toString(), `prompt: ${UNENDED_MARK}`);
  // Its newline, coming late, is not a blank line; what follows is a line of its own.
  tap.push(Buffer.from('\nnext\nlast words'));
  tap.end();
  assert.is(Buffer.concat(sink.chunks).toString(), `prompt: ${UNENDED_MARK}next\nlast words${UNENDED_MARK}`);
});

test('serving: short lines still leave whole, the unended rest waits for its newline', () => {
  const sink = new Recorder();
  const tap = new LineTap(sink, () => false);
  tap.push(Buffer.from('one\ntw'));
  assert.is(Buffer.concat(sink.chunks).toString(), 'one\n');
  tap.push(Buffer.from('o\n'));
  assert.is(Buffer.concat(sink.chunks).toString(), 'one\ntwo\n');
  tap.end();
});

test('scanning (a worker starting): a long unended line is taken as a line, not held whole', () => {
  const lines: string[] = [];
  const tap = new LineTap((line: string) => void lines.push(line), () => true);
  const piece = Buffer.alloc(64 * 1024, 'q');
  for (let i = 0; i < 10; i++) tap.push(piece);
  assert.ok(lines.length >= 9, `${lines.length} pieces passed on`);
  tap.end();
  assert.is(lines.join('').length, 10 * piece.length);
});

test('scanning: a long unended line is cut after its last whole character, never inside one', () => {
  const lines: string[] = [];
  const tap = new LineTap((line: string) => void lines.push(line), () => true);
  const euro = Buffer.from('€'); // 3 bytes
  tap.push(Buffer.concat([Buffer.alloc(64 * 1024 - 2, 'x'), euro.subarray(0, 2)]));
  tap.push(Buffer.concat([euro.subarray(2), Buffer.from(' done\n')]));
  tap.end();
  const text = lines.join('');
  assert.not.ok(text.includes('\ufffd'), 'no character split');
  assert.is(text, `${'x'.repeat(64 * 1024 - 2)}€ done`);
});

test.run();
