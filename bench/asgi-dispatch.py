"""The ASGI worker's own Python per request, without the link or the front: AsgiWorker._dispatch
fed hello REQUEST frames (8 a batch, each batch given three turns of the loop to finish), the
bench app's `/` answering, what it writes to the link counted and thrown away.

    python3 bench/asgi-dispatch.py [SHIM_DIR]        (N=200000 requests, LOOP=uvloop|asyncio, R=1 rounds)

Prints µs of CPU per request. On a shared machine count instructions instead, which hold still
(docs/performance.md, "The worker's own Python per request"): run it under
`valgrind --tool=callgrind --callgrind-out-file=/dev/null` with N=8 and N=4008, and divide the
difference of the two "Collected" counts by 4000; with PYTHONHASHSEED=0, or the hash seed moves
the dicts' probes and the count with them.
"""

import asyncio
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "python-shim"))
sys.path.insert(0, os.path.join(HERE, "app"))

from apppkg_shim import link  # noqa: E402
from apppkg_shim.asgi_link import LinkProtocol  # noqa: E402
from apppkg_shim.asgi_worker import AsgiWorker  # noqa: E402
from bench_asgi import app  # noqa: E402

N = int(os.environ.get("N", "200000"))
ROUNDS = int(os.environ.get("R", "1"))
BATCH = 8
LOOP = os.environ.get("LOOP", "uvloop")


class CountingTransport:
    """fd 4's transport, as far as LinkProtocol uses it: the worker's output counted, not sent."""

    def __init__(self):
        self.writes = 0

    def write(self, data):
        self.writes += 1

    def writelines(self, parts):
        self.writes += 1

    def get_write_buffer_size(self):
        return 0

    def is_closing(self):
        return False


def main():
    if LOOP == "uvloop":
        import uvloop

        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    worker = AsgiWorker(None, None, app, {"app": "bench_asgi:app"}, loop, LOOP, None, None)
    worker.link = LinkProtocol(loop, worker._dispatch, lambda: None)
    worker.link.transport = CountingTransport()
    worker.link.before_flush = worker._release_heads
    worker.lifespan.state = {}
    fields = ["GET", "http", "127.0.0.1", "8080", "127.0.0.1", "5555", "", "/", "", "/", "HTTP/1.1", "",
              "HTTP_HOST", "127.0.0.1:8080", "HTTP_USER_AGENT", "wrk", "HTTP_ACCEPT", "*/*"]
    frames = [(link.REQUEST, rid, "\0".join(fields)) for rid in range(BATCH)]

    async def run():
        done = 0
        started = time.process_time()
        while done < N:
            worker._dispatch(frames)
            for _ in range(3):
                await asyncio.sleep(0)
            done += BATCH
        assert not worker.exchanges, "%d requests unanswered" % len(worker.exchanges)
        return (time.process_time() - started) / done * 1e6

    for _ in range(ROUNDS):
        print("%s: %.2f µs of CPU per request" % (LOOP, loop.run_until_complete(run())))


main()
