// The access log's line, field by field: the combined format's quoting (`"` and `\` escaped,
// control characters and octets past ASCII written \xHH, as nginx writes them) in the request,
// Referer and User-Agent fields, "-" for what is
// missing, the version as sent, and a turn's lines written together.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { PassThrough } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { AccessLog } from '../../src/log/access-log.js';

function request(url: string, headers: Record<string, string>, httpVersion = '1.1'): IncomingMessage {
  return { method: 'GET', url, headers, httpVersion } as unknown as IncomingMessage;
}

async function lines(write: (log: AccessLog) => void): Promise<string[]> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (chunk: Buffer) => (text += chunk.toString('utf8')));
  const log = new AccessLog(out);
  write(log);
  await new Promise((resolve) => setImmediate(resolve));
  // What a turn logged leaves in one write, in the order it was recorded.
  return text.split('\n').slice(0, -1).map((line) => line.replace(/\[[^\]]+\]/, '[T]').replace(/dur=\d+\.\d{4}$/, 'dur=D'));
}

test('fields quoted as the combined format has them, one line per request, in order', async () => {
  const got = await lines((log) => {
    log.record(request('/a?q="x"\\y', { referer: 'http://r/"\x01', 'user-agent': 'ua \\ "1"\x7f' }), '10.0.0.1', 200, 'blog', performance.now(), 14);
    log.record(request('/caf\xe9', {}, '1.0'), '', 404, '', performance.now(), 0);
    log.recordRejected('::1', 'GET /\x00 HTTP/1.1', 400, 11, 0.5);
  });
  assert.equal(got, [
    '10.0.0.1 - - [T] "GET /a?q=\\"x\\"\\\\y HTTP/1.1" 200 14 "http://r/\\"\\x01" "ua \\\\ \\"1\\"\\x7F" app=blog dur=D',
    '- - - [T] "GET /caf\\xE9 HTTP/1.0" 404 0 "-" "-" app=- dur=D',
    '::1 - - [T] "GET /\\x00 HTTP/1.1" 400 11 "-" "-" app=- dur=D',
  ]);
});

test('the user of Basic auth, its unsafe bytes as \\xHH', async () => {
  const auth = `Basic ${Buffer.from('a b"c:secret').toString('base64')}`;
  const got = await lines((log) => log.record(request('/', { authorization: auth }), '127.0.0.1', 200, 'x', performance.now(), 1));
  assert.equal(got, ['127.0.0.1 - a\\x20b\\x22c [T] "GET / HTTP/1.1" 200 1 "-" "-" app=x dur=D']);
});

test.run();
