"""The WSGI worker's own Python per request, without the link or the front: the thread that holds
the reading right (Worker._thread_main, on this thread) given hello REQUEST frames 8 a batch as
FrameReader.read_frames hands them over, queueing and running them one after another as it does
under the gateway, the bench app's `/` answering, what it writes to the link counted and thrown
away. The monitor thread is not started (its ticks are its own cost, not a request's).

    python3 bench/wsgi-dispatch.py [SHIM_DIR]        (N=200000 requests, T=8 threads, R=1 rounds)

POST=1: each request is the bench's 64 KiB POST to `/echo` instead, as the gateway sends a body it
has whole (one REQUEST_FULL), its body all there when the app reads it; POST=3 sends it as three
frames (REQUEST, one REQUEST_BODY, REQUEST_END), as a body that comes after its head goes, and as
every POST went before link protocol 4. READ=1: the frames are parsed from their bytes
(FrameReader.parse, the buffer filled as recv_into fills it) rather than handed over parsed,
so that the frames' own cost counts too. STREAM=1: each
is a GET of `/hello-gen`, hello returned as an iterator (a streamed answer: RESPONSE with the
body, then RESPONSE_END).

Prints µs of CPU per request. On a shared machine count instructions instead, which hold still
(docs/performance.md, "The WSGI worker's own Python per request"): run it under
`valgrind --tool=callgrind --callgrind-out-file=/dev/null` with N=8 and N=4008, and divide the
difference of the two "Collected" counts by 4000 (with --callgrind-out-file=FILE instead,
`callgrind_annotate FILE` gives the counts per C function).
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, sys.argv[1] if len(sys.argv) > 1 else os.path.join(HERE, "..", "python-shim"))
sys.path.insert(0, os.path.join(HERE, "app"))

from apppkg_shim import link  # noqa: E402
from apppkg_shim.worker import Worker  # noqa: E402
from bench_app import application  # noqa: E402

N = int(os.environ.get("N", "200000"))
ROUNDS = int(os.environ.get("R", "1"))
THREADS = int(os.environ.get("T", "8"))  # the gateway's default (DEFAULT_THREADS)
BATCH = 8


class CountingSocket:
    """fd 4, as far as FrameWriter uses it: the worker's output counted, not sent."""

    def __init__(self):
        self.writes = 0
        self.bytes = 0

    def sendall(self, data):
        self.writes += 1
        self.bytes += len(data)

    def sendmsg(self, parts):
        self.writes += 1
        n = 0
        for p in parts:
            n += len(p)
        self.bytes += n
        return n


class Done(Exception):
    pass


def frame_bytes(frames):
    """The bytes of `frames` as the gateway writes them."""
    out = []
    for ftype, rid, payload in frames:
        if ftype == getattr(link, "REQUEST_FULL", None):
            head = payload[0].encode("latin-1")
            out.append(link.HEADER.pack(ftype, rid, 4 + len(head) + len(payload[1])) + link.U32.pack(len(head)) + head + payload[1])
        else:
            data = payload.encode("latin-1") if isinstance(payload, str) else payload
            out.append(link.HEADER.pack(ftype, rid, len(data)) + data)
    return b"".join(out)


class BytesSocket:
    """fd 3, as far as FrameReader reads it: each read gives the same batch's bytes whole."""

    def __init__(self, data):
        self.data = data

    def recv_into(self, buf, nbytes=0, flags=0):
        n = len(self.data)
        buf[:n] = self.data
        return n


class ParsingReader:
    """BatchReader's frames, parsed from their bytes by the shim's own FrameReader each time."""

    def __init__(self, frames, batches):
        data = frame_bytes(frames)
        self.reader = link.FrameReader(BytesSocket(data), size=max(256 * 1024, 2 * len(data)))
        self.left = batches

    def read_frames(self, block=True):
        if self.left == 0:
            raise link.LinkClosed()
        self.left -= 1
        return self.reader.read_frames()


class BatchReader:
    """fd 3's FrameReader, as far as the worker uses it: the same batch of hello REQUESTs,
    `batches` times, then the link's end."""

    def __init__(self, frames, batches):
        self.frames = frames
        self.left = batches

    def read_frames(self, block=True):
        if self.left == 0:
            raise link.LinkClosed()
        self.left -= 1
        return list(self.frames)


def _end():
    raise Done()


def main():
    fields = ["GET", "http", "127.0.0.1", "8080", "127.0.0.1", "5555", "", "/", "", "/", "HTTP/1.1", "",
              "HTTP_HOST", "127.0.0.1:8080", "HTTP_USER_AGENT", "wrk", "HTTP_ACCEPT", "*/*"]
    # str, as FrameReader.parse decodes a REQUEST's payload; ids as the gateway's, reused once answered.
    if os.environ.get("POST"):
        fields[0], fields[7], fields[9], fields[11] = "POST", "/echo", "/echo", "65536"
        fields += ["CONTENT_LENGTH", "65536", "CONTENT_TYPE", "application/octet-stream"]
        body = b"a" * 65536
        frames = []
        for rid in range(1, BATCH + 1):
            if os.environ["POST"] == "3":
                frames += [(link.REQUEST, rid, "\0".join(fields)), (link.REQUEST_BODY, rid, body), (link.REQUEST_END, rid, b"")]
            else:
                frames.append((link.REQUEST_FULL, rid, ("\0".join(fields), body)))
    else:
        if os.environ.get("STREAM"):
            fields[7], fields[9] = "/hello-gen", "/hello-gen"
        frames = [(link.REQUEST, rid + 1, "\0".join(fields)) for rid in range(BATCH)]
    out = CountingSocket()
    for _ in range(ROUNDS):
        worker = Worker(None, out, application, {"app": "bench_app:application", "threads": THREADS}, None)
        batches = (N + BATCH - 1) // BATCH
        worker.frames = (ParsingReader if os.environ.get("READ") else BatchReader)(frames, batches)
        worker._link_closed = _end
        started = time.process_time()
        try:
            worker._thread_main()
        except Done:
            pass
        spent = time.process_time() - started
        done = batches * BATCH
        assert not worker.tasks, "%d requests unanswered" % len(worker.tasks)
        assert worker.stats["run_by_reader"] == done, worker.stats
        print("%.2f µs of CPU per request (%d link writes, %d bytes out)" % (spent / done * 1e6, out.writes, out.bytes))


main()
