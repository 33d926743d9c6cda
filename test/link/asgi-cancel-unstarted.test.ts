// A request whose REQUEST frame comes in the same read as the drain's CANCEL (a request cut at the
// very end of a drain, a stop's --grace over as it arrived): asyncio cancels its task before the
// task's first step, so the exchange's run(), whose `finally` ends the task, never ran, and the
// ASGI worker waited on it with its lifespan shutdown and clean exit until the gateway's SIGKILL
// 5 s later (found by H250). Driven here through the worker's own dispatch, fed both frames in
// one batch as its link reader would hand them, because through a socket the two frames meeting
// in one read is a matter of timing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from '../helpers/process.js';

const DRIVE = `
import asyncio, sys
sys.path.insert(0, sys.argv[1])
from apppkg_shim import link
from apppkg_shim.asgi_link import LinkProtocol
from apppkg_shim.asgi_worker import AsgiWorker

async def app(scope, receive, send):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})

class Transport:
    def __init__(self):
        self.out = b""
    def write(self, data):
        self.out += bytes(data)
    def writelines(self, parts):
        self.out += b"".join(bytes(p) for p in parts)
    def get_write_buffer_size(self):
        return 0
    def is_closing(self):
        return False

loop = asyncio.new_event_loop()
asyncio.set_event_loop(loop)
worker = AsgiWorker(None, None, app, {"app": "t:app"}, loop, "asyncio", None, None)
worker.link = LinkProtocol(loop, worker._dispatch, lambda: None)
worker.link.transport = Transport()
worker.link.before_flush = worker._release_heads
worker.lifespan.state = {}
fields = ["GET", "http", "127.0.0.1", "8080", "127.0.0.1", "5555", "", "/", "", "/", "HTTP/1.1", "", "HTTP_HOST", "127.0.0.1:8080"]
worker._dispatch([(link.REQUEST, 1, "\\0".join(fields)), (link.NO_MORE, 0, b""), (link.CANCEL, 0, b"")])
try:
    loop.run_until_complete(asyncio.wait_for(asyncio.shield(worker.finished), 2))
    print("finished tasks=%d exchanges=%d" % (len(worker.tasks), len(worker.exchanges)))
except asyncio.TimeoutError:
    print("stuck tasks=%d exchanges=%d" % (len(worker.tasks), len(worker.exchanges)))
`;

test("a request cancelled before its task's first step is ended, so the worker finishes its stop", () => {
  const run = spawnSync('python3', ['-c', DRIVE, join(ROOT, 'python-shim')], { encoding: 'utf8', timeout: 30_000 });
  assert.is(run.status, 0, `${run.stdout}\n${run.stderr}`);
  assert.match(run.stdout, /^finished tasks=0 exchanges=0$/m, `${run.stdout}\n${run.stderr}`);
});

test.run();
