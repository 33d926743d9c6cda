// Routers in front of Django's handler (SPEC 5.1, issue 12), each reading `path` its own way
// (asgi_scope.reads_full_path). Django Channels: a ProtocolTypeRouter hands `http` to Django and
// `websocket` to a URLRouter; Channels 4.0, Debian's, routes on `path` as it comes, so given the
// mount in it (as Django beside it takes it) every websocket under a mount was "No route
// found", a 500. python-socketio's ASGIApp answers /socket.io/ as it comes and hands the rest to
// Django: given the mount, every Socket.IO request under a mount went to Django, a 404.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Frame, encodeFrame } from '../../src/link/frames.js';
import { encodeRequest } from '../../src/link/request-frame.js';
import type { Worker } from '../../src/supervisor/worker.js';
import { RawExchange, workerFor } from '../helpers/link-harness.js';

function exchange(worker: Worker, type: typeof Frame.REQUEST | typeof Frame.WS_CONNECT, path: string): RawExchange {
  const x = new RawExchange(worker.link!);
  const fields = {
    method: 'GET', scheme: 'http', serverName: 'example.test', serverPort: 80, remoteAddr: '10.0.0.7', remotePort: 5555,
    scriptName: '/chat', pathInfo: path, queryString: '', requestUri: `/chat${path}`, protocol: 'HTTP/1.1', body: '',
  };
  x.write(encodeRequest(x.id, fields, '\0HTTP_HOST\0example.test', type));
  return x;
}

for (const version of ['4.0', '4.1']) {
  const t = suite<{ worker: Worker; output: string[] }>(`asgi-routers: Channels ${version} under the mount /chat`);

  t.before(async (ctx) => {
    ctx.output = [];
    ctx.worker = workerFor('asgi-routers', { env: { APPPKG_TEST_CHANNELS: version } }, ctx.output);
    await ctx.worker.start(15_000);
  });
  t.after(async (ctx) => {
    await ctx.worker?.stop(3000);
  });

  t('a websocket reaches its consumer through the URLRouter', async ({ worker, output }) => {
    const x = exchange(worker, Frame.WS_CONNECT, '/ws/echo');
    await x.next(Frame.WS_ACCEPT, 3000).catch((e: Error) => {
      throw new Error(`${e.message}; the app said:\n${output.join('\n')}`);
    });
    const routed = (await x.next(Frame.WS_APP_MESSAGE)).subarray(1).toString();
    assert.is(routed, version === '4.0' ? 'routed ws/echo path /ws/echo' : 'routed ws/echo path /chat/ws/echo');
    const payload = Buffer.alloc(2);
    payload.writeUInt16BE(1000, 0);
    x.write(encodeFrame(Frame.WS_CLOSE, x.id, payload));
    await x.next(Frame.RESPONSE_END);
  });

  t("Django's handler beside it still gets the mount in path", async ({ worker }) => {
    const x = exchange(worker, Frame.REQUEST, '/chat/post');
    const full = await x.next(Frame.RESPONSE_FULL);
    assert.is(full.subarray(4 + full.readUInt32BE(0)).toString(), 'django path_info /chat/post');
  });

  t.run();
}

const socketio = suite<{ worker: Worker }>("asgi-routers: python-socketio's ASGIApp in front of Django under the mount /chat");

socketio.before(async (ctx) => {
  ctx.worker = workerFor('asgi-routers', { app: 'socketio_app:application' });
  await ctx.worker.start(15_000);
});
socketio.after(async (ctx) => {
  await ctx.worker?.stop(3000);
});

socketio('Socket.IO gets its requests, Django the others, both given the rest after the mount', async ({ worker }) => {
  for (const [path, answer] of [['/socket.io/', 'engineio path /socket.io/'], ['/post', 'django path_info /post']]) {
    const full = await exchange(worker, Frame.REQUEST, path).next(Frame.RESPONSE_FULL);
    assert.is(full.subarray(4 + full.readUInt32BE(0)).toString(), answer, path);
  }
});

socketio.run();
