// What invalid-answer.ts and interim-answers.ts take from undici without an error class or code
// of its own to go by, pinned against the undici installed: its SocketError words for a 101 to
// a request that asked for no upgrade, a 100 (undici's own refusal, without the gateway's
// connector) and a close before any answer; and the parser interim-answers.ts finds on each
// socket, by which a 100 before the final answer is taken. An undici that words these otherwise
// or names its parser otherwise fails here, by name, before a client sees "went away" for them.
import net from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { buildConnector, Pool } from 'undici';
import { CONTINUE_AS, interimConnector } from '../../src/proxy/interim-answers.js';
import { invalidAnswer, UNDICI_WORDS } from '../../src/proxy/invalid-answer.js';

const test = suite('undici: the words and the parser the gateway reads a process\'s answers by');

/** A server on a real socket that answers each connection's first request with `answer` (null: closes at once). */
async function withServer<T>(answer: string | null, fn: (origin: string) => Promise<T>): Promise<T> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    socket.once('data', () => {
      if (answer === null) socket.destroy();
      else socket.write(answer);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await fn(`http://127.0.0.1:${(server.address() as net.AddressInfo).port}`);
  } finally {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** undici's error for one GET to a server answering `answer`, through a Pool made with `options`. */
async function failure(answer: string | null, options: Pool.Options = {}): Promise<{ code?: string; message: string; err: unknown }> {
  return withServer(answer, async (origin) => {
    const pool = new Pool(origin, { ...options, headersTimeout: 5000 });
    try {
      const got = await pool.request({ path: '/', method: 'GET' });
      await got.body.dump();
      throw new Error(`undici took it: ${got.statusCode}`);
    } catch (err) {
      return { code: (err as { code?: string }).code, message: (err as Error).message, err };
    } finally {
      await pool.destroy();
    }
  });
}

test('a 101 with Upgrade to a request without one: UND_ERR_SOCKET, UNDICI_WORDS.upgrade, read as \'switched\'', async () => {
  const got = await failure('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n');
  assert.equal({ code: got.code, message: got.message }, { code: 'UND_ERR_SOCKET', message: UNDICI_WORDS.upgrade }, 'undici words a 101 unasked otherwise: update UNDICI_WORDS');
  assert.is(invalidAnswer(got.err, null)?.kind, 'switched');
});

test('a 100 through undici\'s own connector: UND_ERR_SOCKET, UNDICI_WORDS.response, read as \'continue\'', async () => {
  const got = await failure('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  assert.equal({ code: got.code, message: got.message }, { code: 'UND_ERR_SOCKET', message: UNDICI_WORDS.response }, 'undici words its refusal of a 100 otherwise (or takes it now): update UNDICI_WORDS');
  assert.is(invalidAnswer(got.err, null)?.kind, 'continue');
});

test('a close before a byte: UND_ERR_SOCKET, UNDICI_WORDS.closed', async () => {
  const got = await failure(null);
  assert.equal({ code: got.code, message: got.message }, { code: 'UND_ERR_SOCKET', message: UNDICI_WORDS.closed }, 'undici words a close otherwise: update UNDICI_WORDS');
});

test('through interimConnector, a 100 and a 103 before the final answer: the final answer (interim-answers.ts found undici\'s parser)', async () => {
  await withServer('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok', async (origin) => {
    const pool = new Pool(origin, { connect: interimConnector(buildConnector), headersTimeout: 5000 });
    const interim: number[] = [];
    try {
      const got = await pool.request({ path: '/', method: 'GET', onInfo: ({ statusCode }) => interim.push(statusCode) });
      assert.equal([got.statusCode, await got.body.text()], [200, 'ok']);
      assert.equal(interim, [CONTINUE_AS, 103], 'the 100 passed on as CONTINUE_AS');
    } finally {
      await pool.destroy();
    }
  });
});

test('through interimConnector, a refused connection is undici\'s ECONNREFUSED (the connector took a socket that a failed connect does not give, and its TypeError ended the gateway)', async () => {
  // A port just freed: nothing listens on it.
  const port = await withServer(null, async (origin) => Number(new URL(origin).port));
  const pool = new Pool(`http://127.0.0.1:${port}`, { connect: interimConnector(buildConnector), headersTimeout: 5000 });
  try {
    const err = await pool.request({ path: '/', method: 'GET' }).then(() => null, (e: unknown) => e as { code?: string });
    assert.is(err?.code, 'ECONNREFUSED');
  } finally {
    await pool.destroy();
  }
});

test.run();
