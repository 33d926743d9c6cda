// The lean lane's chunked decoder (src/net/chunked-body.ts): the data whatever way the bytes are
// cut, where the body ends (what follows is the next request's), and the framings it refuses.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { CHUNK_WHITESPACE, ChunkedBody } from '../../src/net/chunked-body.js';

const BODY = '5;ext="a;b"\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Sum: 1\r\nContent-Length: 9\r\n\r\n';
const NEXT = 'GET / HTTP/1.1\r\n';

/** Feeds `wire` cut at `cuts`; returns the data, where the body ended in the whole, and the decoder. */
function decode(wire: string, cuts: number[]): { data: string; end: number; body: ChunkedBody } {
  const body = new ChunkedBody();
  let data = '';
  let end = -1;
  const bounds = [0, ...cuts, wire.length];
  for (let i = 0; i + 1 < bounds.length && end === -1; i++) {
    const piece = Buffer.from(wire.slice(bounds[i], bounds[i + 1]), 'latin1');
    const stop = body.read(piece, 0, (part) => (data += part.toString('latin1')));
    if (body.done || body.failed) end = bounds[i] + stop;
  }
  return { data, end, body };
}

test('the data, and the end of the body, however the bytes are cut (every one or two cut points)', () => {
  const wire = BODY + NEXT;
  for (let a = 0; a <= wire.length; a++) {
    for (const cuts of [[a], [a, Math.min(wire.length, a + 3)]]) {
      const { data, end, body } = decode(wire, cuts);
      assert.ok(body.done, `cut at ${cuts}`);
      assert.is(data, 'hello 0123456789', `cut at ${cuts}`);
      assert.is(end, BODY.length, `cut at ${cuts}`);
    }
  }
});

test('what the body has announced: each chunk\'s size once its line has ended, before its data comes (max_body refuses there)', () => {
  const body = new ChunkedBody();
  const read = (text: string): number => {
    body.read(Buffer.from(text, 'latin1'), 0, () => {});
    return body.announced;
  };
  assert.is(read('30'), 0, 'a size line not ended yet announces nothing');
  assert.is(read('0;a=1\r'), 0, 'nor one whose LF has not come');
  assert.is(read('\n'), 0x300);
  assert.is(read('x'.repeat(0x300) + '\r\nfffffff\r\n'), 0x300 + 0xfffffff, 'the sum, with a chunk of which nothing came');
  assert.is(read('hello'), 0x300 + 0xfffffff);
  const whole = new ChunkedBody();
  whole.read(Buffer.from(BODY, 'latin1'), 0, () => {});
  assert.is(whole.announced, 16, 'a whole body announces its length');
});

test('read from an offset, as the lane reads a body after its head in one buffer', () => {
  const wire = Buffer.from(`HEAD-BYTES${BODY}${NEXT}`, 'latin1');
  const body = new ChunkedBody();
  const pieces: string[] = [];
  const end = body.read(wire, 10, (part) => pieces.push(part.toString('latin1')));
  assert.equal(pieces, ['hello', ' ', '0123456789']);
  assert.is(wire.toString('latin1', end), NEXT);
  assert.is(body.read(wire, end, () => assert.unreachable('read past its end')), end);
});

test('framings refused, each with the reason', () => {
  const refused: Array<[string, RegExp]> = [
    ['zz\r\n', /hexadecimal/],
    ['\r\n', /hexadecimal/],
    [' 3\r\nabc\r\n0\r\n\r\n', /hexadecimal/],
    ['3 x\r\nabc\r\n0\r\n\r\n', /hexadecimal/],
    ['3 \x01\r\n', /hexadecimal/],
    ['3 3\r\n', /hexadecimal/],
    ['3 \nabc', /chunk-size line does not end in CRLF/],
    ['-3\r\n', /hexadecimal/],
    ['0x3\r\n', /hexadecimal/],
    ['3\nabc', /CRLF/],
    ['3\r\rabc', /CRLF/],
    ['3\r\nabcd\r\n', /longer than its size/],
    ['3\r\nabc\n0\r\n\r\n', /chunk data does not end in CRLF/],
    ['3\r\nabc\r\r', /CRLF/],
    ['10000000000000\r\n', /too large/],
    [`3;${'e'.repeat(5000)}\r\n`, /too long/],
    ['3;a\x00b\r\n', /malformed/],
    ['3;a\nb\r\n', /chunk-size line does not end in CRLF/],
    // A bare LF after an extension's value is the line's end written wrong, not a bad value.
    ['5;a=b\nabcde', /chunk-size line does not end in CRLF/],
    ['5;a="q x"\nabcde', /chunk-size line does not end in CRLF/],
    ['5;a="\\""\nabcde', /chunk-size line does not end in CRLF/],
    ['5;\r\n', /no name/],
    ['5;;\r\n', /no name/],
    ['5;a=,\r\n', /value is malformed/],
    ['5;a=\nabcde', /chunk-size line does not end in CRLF/],
    ['5;a="x\r\n', /not closed/],
    ['5;a="x"y\r\n', /malformed/],
    ['0\r\n folded: x\r\n\r\n', /malformed/],
    ['0\r\nNo-Colon\r\n\r\n', /malformed/],
    ['0\r\nBad Name: x\r\n\r\n', /malformed/],
    ['0\r\nX: a\x01b\r\n\r\n', /control/],
    ['0\r\nX: y\n\r\n', /CRLF/],
    ['0\r\n\n', /CRLF/],
    [`0\r\n${'X-A: 0123456789\r\n'.repeat(1100)}\r\n`, /longer than 16 KiB/],
  ];
  for (const [wire, why] of refused) {
    const { body } = decode(wire, []);
    assert.ok(body.failed, JSON.stringify(wire.slice(0, 40)));
    assert.match(body.problem ?? '', why, JSON.stringify(wire.slice(0, 40)));
  }
});

test('whitespace where RFC 9112 §7.1.1 has no BWS: at the line\'s end, or inside a name or token value', () => {
  // chunk = chunk-size [ chunk-ext ] CRLF; chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ):
  // BWS is always followed by `;`, a name, `=` or a value, never by the CRLF.
  for (const line of ['3 ', '3\t', '0 ', '3;a ', '3;a=b ', '3;a="x"\t', '3 ; ', '3;a= ', '3;a=b c', '3;a b', '3; ;a', '3;a="x" y', '3; \x01', '3;a=b \n']) {
    const { body } = decode(`${line}\r\nabc\r\n0\r\n\r\n`, []);
    assert.ok(body.failed, JSON.stringify(line));
    assert.is(body.problem, CHUNK_WHITESPACE, JSON.stringify(line));
  }
});

test('BWS where RFC 9112 §7.1.1 puts it, as nginx and uvicorn (httptools) take it: before `;`, after it, around `=`; cut anywhere', () => {
  for (const line of ['3 ;a=1', '3\t;a=1', '3  \t;a', '3; a', '3;a =1', '3;a= 1', '3 ; a = "x y" ;\tb', '3;a=b ;c', '3;a="q" ;c', '3;a= ;b', '3 ;;a']) {
    const wire = `${line}\r\nabc\r\n0\r\n\r\n`;
    for (let at = 0; at <= line.length + 2; at++) {
      const { data, body } = decode(wire, [at]);
      assert.ok(body.done, `${JSON.stringify(line)} cut at ${at}: ${body.problem}`);
      assert.is(data, 'abc', JSON.stringify(line));
    }
  }
});

test('the octets of each size line after its size, up to its CR, told by offset however the bytes are cut (node:http is given the line without them); a failure in a size line said so', () => {
  const wire = '3 ; a = "x;y"\r\nabc\r\n1\r\nd\r\n0;e\r\nX-T: 1\r\n\r\n';
  const expected = wire.replace(/ ; a = "x;y"|;e/g, (found) => '-'.repeat(found.length));
  for (let cut = 0; cut <= wire.length; cut++) {
    const body = new ChunkedBody();
    const marked = [...wire];
    for (const [from, to] of [[0, cut], [cut, wire.length]]) {
      const piece = Buffer.from(wire.slice(from, to), 'latin1');
      body.read(piece, 0, () => {}, (at) => (marked[from + at] = '-'));
    }
    assert.ok(body.done, `cut at ${cut}`);
    assert.is(marked.join(''), expected, `cut at ${cut}`);
  }
  for (const [line, inSizeLine] of [['zz', true], ['3 x', true], ['3;a b', true], ['3 ', true], [`${'0'.repeat(5000)}3`, true], ['3\rx', false]] as const) {
    const { body } = decode(`${line}\r\nabc\r\n0\r\n\r\n`, []);
    assert.ok(body.failed, line);
    assert.is(body.failedInSizeLine, inSizeLine, `${JSON.stringify(line)}: ${body.problem}`);
  }
  const data = decode('3\r\nabcd\r\n', []).body;
  assert.ok(data.failed && !data.failedInSizeLine);
});

test('extensions as llhttp takes them: a name, a token or quoted value, one after another, no spaces', () => {
  // `;a=` with no value too (llhttp 9 takes it; RFC 9112 §7.1.1 wants one, nginx reads none).
  for (const line of ['5;a', '5;;a', '5;a=b', '5;a=b;c', '5;name="v; \\"q\\" x";n2=t0k-3n', '5;a="";b', '5;a=', '5;a=;b=c']) {
    const { data, body } = decode(`${line}\r\nhello\r\n0\r\n\r\n`, []);
    assert.ok(body.done, `${line}: ${body.problem}`);
    assert.is(data, 'hello', line);
  }
});

test('trailers: bounded as a head is (16 KiB in all, 431 past it), not line by line', () => {
  const long = decode(`0\r\nX-Long: ${'v'.repeat(5000)}\r\n\r\n`, []);
  assert.ok(long.body.done, String(long.body.problem));
  const huge = decode(`0\r\n${'X-A: 0123456789\r\n'.repeat(1100)}\r\n`, []);
  assert.is(huge.body.refusal, 431);
  assert.is(decode('zz\r\n', []).body.refusal, 400);
});

test('what it accepts that a stricter reading might not: upper-case hex, leading zeros, empty trailer values, obs-text', () => {
  const { data, body } = decode('00A\r\n0123456789\r\n0000\r\nX-Empty:\r\nX-Latin: caf\xe9\r\n\r\n', []);
  assert.ok(body.done);
  assert.is(data, '0123456789');
});

test.run();
