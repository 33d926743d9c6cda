"""The ASGI worker's counters for tuning (config `stats`: APPPKG_SHIM_STATS=1 in the gateway's
environment), as the WSGI worker keeps its own (worker.py): one `stats {...}` line in the app's
log when the worker stops (asgi_worker.py).

Counted by a subclass of the link's protocol that the worker takes only when asked: with the
flag off the worker runs LinkProtocol itself, and no request pays for a counter, nor for a test
of whether to count one.
"""

import json

from . import link
from .asgi_link import LinkProtocol
from .errors import log

_REQUESTS = frozenset((link.REQUEST, link.REQUEST_FULL))


def new_stats():
    # reads: fd 3's reads (each a batch of frames); writes: the batches sent on fd 4 (one
    # write or writelines each); paused: how often Node stopped reading what the worker sent.
    return dict.fromkeys(("reads", "frames", "requests", "websockets", "writes", "paused"), 0)


def say_stats(stats):
    log("stats " + json.dumps(stats))


class CountingLinkProtocol(LinkProtocol):
    """LinkProtocol that counts its reads, frames and writes into `stats`."""

    def __init__(self, loop, on_frames, on_lost, stats):
        super().__init__(loop, self._count_frames, on_lost)
        self.stats = stats
        self._dispatch = on_frames

    def buffer_updated(self, nbytes):
        self.stats["reads"] += 1
        super().buffer_updated(nbytes)

    def _count_frames(self, frames):
        stats = self.stats
        stats["frames"] += len(frames)
        for ftype, _, _ in frames:
            if ftype in _REQUESTS:
                stats["requests"] += 1
            elif ftype == link.WS_CONNECT:
                stats["websockets"] += 1
        self._dispatch(frames)

    def flush(self):
        if self._out:
            self.stats["writes"] += 1
        super().flush()

    def pause_writing(self):
        self.stats["paused"] += 1
        super().pause_writing()
