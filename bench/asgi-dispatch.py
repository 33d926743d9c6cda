"""The ASGI worker's own Python per request, without the link or the front: AsgiWorker._dispatch
fed hello REQUEST frames (8 a batch, the next on the turn after the last one's answers left), the
bench app's `/` answering, what it writes to the link counted and thrown away.

    python3 bench/asgi-dispatch.py [SHIM_DIR]        (N=200000 requests, LOOP=uvloop|asyncio, R=1 rounds)

URL=/16k: each request is a GET of that path instead (`/16k`, the bench's 16 KiB answer). POST=1:
each is the bench's 64 KiB POST to `/echo` as the gateway sends a body it has whole (one
REQUEST_FULL), its body all there when the app reads it; POST=3 sends it as three frames
(REQUEST, one REQUEST_BODY, REQUEST_END), as a body that comes after its head goes, and as every
POST went before link protocol 4. STREAM=1: each is a GET of
`/hello-stream`, hello sent as a streamed answer (a body with more_body, then an empty last one,
as Starlette's StreamingResponse sends it).

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
    if os.environ.get("POST"):
        fields[0], fields[7], fields[9], fields[11] = "POST", "/echo", "/echo", "65536"
        fields += ["CONTENT_LENGTH", "65536", "CONTENT_TYPE", "application/octet-stream"]
        body = b"a" * 65536
        frames = []
        for rid in range(BATCH):
            if os.environ["POST"] == "3":
                frames += [(link.REQUEST, rid, "\0".join(fields)), (link.REQUEST_BODY, rid, body), (link.REQUEST_END, rid, b"")]
            else:
                frames.append((link.REQUEST_FULL, rid, ("\0".join(fields), body)))
    else:
        path = "/hello-stream" if os.environ.get("STREAM") else os.environ.get("URL", "/")
        fields[7], fields[9] = path, path
        frames = [(link.REQUEST, rid, "\0".join(fields)) for rid in range(BATCH)]

    link_out = worker.link
    release_heads = worker._release_heads

    def run():
        # The next batch comes as the gateway's would: on a turn of the loop after the last one's
        # answers have left (its flush), so a turn the worker takes between a request and its
        # answer leaving is counted, as under the gateway. (A mode whose answers do not all
        # leave in their batch's flush would stall here: every mode's app answers at once.)
        finished = loop.create_future()
        state = {"done": 0}

        def feed():
            if state["done"] >= N:
                finished.set_result(None)
                return
            worker._dispatch(frames)
            state["done"] += BATCH

        def before_flush():
            release_heads()
            if not worker.exchanges:
                loop.call_soon(feed)

        link_out.before_flush = before_flush
        started = time.process_time()
        loop.call_soon(feed)
        loop.run_until_complete(finished)
        spent = time.process_time() - started
        link_out.before_flush = release_heads
        assert not worker.exchanges, "%d requests unanswered" % len(worker.exchanges)
        return spent / state["done"] * 1e6

    transport = link_out.transport
    for _ in range(ROUNDS):
        transport.writes = 0
        spent = run()
        print("%s: %.2f µs of CPU per request (%d link writes)" % (LOOP, spent, transport.writes))


main()
