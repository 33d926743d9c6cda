// The frame parser against every way a stream can cut frames (docs/protocol.md, "Frames").
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { Frame, FrameParser, HEADER_SIZE, encodeEmptyFrame, encodeFrame, encodeLatin1Frame, encodeU32Frame, requestBodyIn } from '../../src/link/frames.js';
import { encodeRequest, encodeRequestFull } from '../../src/link/request-frame.js';

type Got = [number, number, string];

function parseAll(chunks: Buffer[]): Got[] {
  const got: Got[] = [];
  const parser = new FrameParser((type, id, payload) => got.push([type, id, payload.toString('latin1')]));
  for (const c of chunks) parser.push(c);
  assert.is(parser.buffered, 0, 'nothing left over');
  return got;
}

const frames = [
  encodeLatin1Frame(Frame.REQUEST, 1, 'GET\0http\0h\0\xe9'),
  encodeFrame(Frame.REQUEST_END, 7),
  encodeFrame(Frame.REQUEST_BODY, 0xffffffff, Buffer.alloc(300, 'b')),
  encodeU32Frame(Frame.RESPONSE_CREDIT, 2, 262144),
  encodeFrame(Frame.ABORT, 3, ''),
];
const stream = Buffer.concat(frames);
const expected: Got[] = [
  [Frame.REQUEST, 1, 'GET\0http\0h\0\xe9'],
  [Frame.REQUEST_END, 7, ''],
  [Frame.REQUEST_BODY, 0xffffffff, 'b'.repeat(300)],
  [Frame.RESPONSE_CREDIT, 2, '\0\x04\0\0'],
  [Frame.ABORT, 3, ''],
];

test('header: type u8, id u32 BE, length u32 BE', () => {
  const f = encodeFrame(0x13, 0x01020304, Buffer.from('xy'));
  assert.equal([...f], [0x13, 1, 2, 3, 4, 0, 0, 0, 2, 0x78, 0x79]);
  assert.is(HEADER_SIZE, 9);
});

test('all frames in one chunk', () => {
  assert.equal(parseAll([stream]), expected);
});

test('split at every byte boundary', () => {
  for (let i = 0; i <= stream.length; i++) {
    assert.equal(parseAll([stream.subarray(0, i), stream.subarray(i)]), expected, `split at ${i}`);
  }
});

test('one byte at a time', () => {
  const chunks: Buffer[] = [];
  for (let i = 0; i < stream.length; i++) chunks.push(stream.subarray(i, i + 1));
  assert.equal(parseAll(chunks), expected);
});

test('split in three at many places', () => {
  for (let i = 0; i < stream.length; i += 7) {
    for (let j = i; j <= stream.length; j += 13) {
      assert.equal(parseAll([stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]), expected, `${i}/${j}`);
    }
  }
});

test('latin-1 payloads keep every byte value', () => {
  let all = '';
  for (let c = 1; c < 256; c++) all += String.fromCharCode(c);
  const got = parseAll([encodeLatin1Frame(Frame.REQUEST, 9, all)]);
  assert.is(got[0][2], all);
});

test('a byte that is no frame type where a frame begins: told once, and nothing after it is parsed, wherever the chunks cut', () => {
  const good = encodeFrame(Frame.RESPONSE_END, 5);
  // Its length field says 4 GiB: waited for, it would hold every frame behind it.
  const bad = Buffer.concat([good, Buffer.alloc(20, 0xff), good]);
  for (let i = 0; i <= bad.length; i++) {
    const got: number[] = [];
    const garbage: number[] = [];
    const parser = new FrameParser((type) => got.push(type), (type) => type >= Frame.READY && type <= Frame.STACK, (type) => garbage.push(type));
    parser.push(bad.subarray(0, i));
    parser.push(bad.subarray(i));
    parser.push(good);
    assert.equal(got, [Frame.RESPONSE_END], `split at ${i}`);
    assert.equal(garbage, [0xff], `split at ${i}`);
    assert.is(parser.buffered, 0);
  }
});

test('a REQUEST frame: the twelve fields NUL-separated, then the pairs, every byte as latin-1', () => {
  const line = {
    method: 'GET', scheme: 'http', serverName: 'h\xe9', serverPort: 8000, remoteAddr: '127.0.0.1', remotePort: '',
    scriptName: '', pathInfo: '/caf\xe9', queryString: 'a=\xff', requestUri: '/caf\xe9?a=\xff', protocol: 'HTTP/1.1', body: '',
  };
  const frame = encodeRequest(7, line, '\0HTTP_HOST\0h\xe9:8000');
  const payload = 'GET\0http\0h\xe9\x008000\x00127.0.0.1\0\0\0/caf\xe9\0a=\xff\0/caf\xe9?a=\xff\0HTTP/1.1\0\0HTTP_HOST\0h\xe9:8000';
  assert.equal(frame, encodeLatin1Frame(Frame.REQUEST, 7, payload));
  // Empty at the end too: the body marker, no pairs.
  const bare = encodeRequest(8, { ...line, body: '12' }, '', Frame.WS_CONNECT);
  assert.equal(bare.subarray(HEADER_SIZE).toString('latin1').split('\0').slice(-2), ['HTTP/1.1', '12']);
  assert.is(bare[0], Frame.WS_CONNECT);
});

test('a frame split between two pieces that are neighbours in memory arrives as a view of them, not a copy', () => {
  const body = encodeFrame(Frame.RESPONSE_BODY, 5, Buffer.alloc(3000, 'z'));
  const memory = Buffer.concat([body, body]);
  for (const cut of [4, HEADER_SIZE, 1000, body.length - 1]) {
    const got: Buffer[] = [];
    const parser = new FrameParser((_type, _id, payload) => got.push(payload));
    parser.push(memory.subarray(0, cut));
    parser.push(memory.subarray(cut, body.length + 7));
    parser.push(Buffer.from(memory.subarray(body.length + 7)));
    assert.is(got.length, 2);
    assert.ok(got.every((p) => p.length === 3000 && p.every((b) => b === 0x7a)), `cut at ${cut}: the bodies as sent`);
    assert.is(got[0].buffer, memory.buffer, `cut at ${cut}: neighbours, a view`);
    assert.is.not(got[1].buffer, memory.buffer, 'pieces from two places: joined');
  }
});

test('a frame of a type told in parts: each part a view of its chunk as it comes, wherever the chunks cut; other frames whole', () => {
  const body = encodeFrame(Frame.RESPONSE_BODY, 6, Buffer.from('0123456789abcdefghij'));
  const memory = Buffer.concat([frames[0], body, encodeFrame(Frame.RESPONSE_BODY, 8), body, frames[3]]);
  const whole: Got[] = [
    [Frame.REQUEST, 1, 'GET\0http\0h\0\xe9'],
    [Frame.RESPONSE_BODY, 6, '0123456789abcdefghij'],
    [Frame.RESPONSE_BODY, 8, ''],
    [Frame.RESPONSE_BODY, 6, '0123456789abcdefghij'],
    [Frame.RESPONSE_CREDIT, 2, '\0\x04\0\0'],
  ];
  for (let i = 0; i <= memory.length; i++) {
    for (let j = i; j <= memory.length; j += 5) {
      const chunks = [memory.subarray(0, i), memory.subarray(i, j), memory.subarray(j)].map((c) => Buffer.from(c));
      const got: Got[] = [];
      const parts: Buffer[] = [];
      const parser = new FrameParser((type, id, payload) => {
        if (type === Frame.RESPONSE_BODY && payload.length > 0) parts.push(payload);
        const last = got[got.length - 1];
        // Parts of one frame, told one after another: joined here to compare with the frames sent.
        if (type === Frame.RESPONSE_BODY && last !== undefined && last[0] === type && last[1] === id) last[2] += payload.toString('latin1');
        else got.push([type, id, payload.toString('latin1')]);
      }, undefined, undefined, (type) => type === Frame.RESPONSE_BODY);
      for (const c of chunks) parser.push(c);
      assert.equal(got, whole, `split at ${i}/${j}`);
      assert.is(parser.buffered, 0);
      assert.ok(parts.every((p) => chunks.some((c) => c.buffer === p.buffer)), `split at ${i}/${j}: every part a view of a chunk, never a copy`);
    }
  }
});

test('a large frame is read in place: readInto names the rest of one buffer of its size, and the payload is a view of it', () => {
  const size = 1 << 20;
  const frame = encodeFrame(Frame.RESPONSE_FULL, 9, Buffer.alloc(size, 'q'));
  const got: Buffer[] = [];
  const parser = new FrameParser((_type, _id, payload) => got.push(payload));
  assert.is(parser.readInto(), null, 'no frame begun: anywhere');
  parser.push(frame.subarray(0, 1000));
  let into = parser.readInto()!;
  assert.is(into.length, frame.length - 1000, 'the rest of the frame, and no more');
  const place = into.buffer;
  // As a reader does: each read lands where readInto said, and is pushed as that view.
  for (let at = 1000; at < frame.length; ) {
    const n = Math.min(100_000, frame.length - at);
    frame.copy(into, 0, at, at + n);
    parser.push(into.subarray(0, n));
    at += n;
    if (at < frame.length) {
      into = parser.readInto()!;
      assert.is(into.buffer, place, 'the same buffer to the end');
    }
  }
  assert.is(got.length, 1);
  assert.is(got[0].length, size);
  assert.ok(got[0].every((b) => b === 0x71), 'the payload as sent');
  assert.is(got[0].buffer, place, 'a view of the buffer read into, not a copy');
  assert.is(parser.readInto(), null, 'the frame done: anywhere again');
  // Small frames are read anywhere (into the reader's slabs).
  parser.push(encodeFrame(Frame.RESPONSE_BODY, 9, Buffer.alloc(3000, 'z')).subarray(0, 20));
  assert.is(parser.readInto(), null);
});

test('requestBodyIn: the body pieces of one request among a link\'s unwritten frames, a REQUEST_FULL\'s body too', () => {
  // A request whose frames never left (its link failed in that turn) goes to another worker with
  // the body they carried: in pieces, or whole in its REQUEST_FULL (after the head's length and head).
  const line = { method: 'POST', scheme: 'http', serverName: 'h', serverPort: 80, remoteAddr: '127.0.0.1', remotePort: 1, scriptName: '', pathInfo: '/', queryString: '', requestUri: '/', protocol: 'HTTP/1.1', body: '5' };
  const frames = [
    encodeRequest(1, line, ''),
    encodeFrame(Frame.REQUEST_BODY, 1, Buffer.from('ab')),
    encodeRequestFull(2, line, '\0CONTENT_LENGTH\x005', Buffer.from('whole')),
    encodeFrame(Frame.REQUEST_BODY, 1, Buffer.from('cde')),
    encodeEmptyFrame(Frame.REQUEST_END, 1),
    encodeRequestFull(3, { ...line, body: '' }, '', Buffer.alloc(0)),
  ];
  assert.equal(requestBodyIn(frames, 1).map(String), ['ab', 'cde']);
  assert.equal(requestBodyIn(frames, 2).map(String), ['whole']);
  assert.equal(requestBodyIn(frames, 3), []);
});

test.run();
