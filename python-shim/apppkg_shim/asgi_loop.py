"""Which event loop an ASGI worker runs: uvloop when the app's interpreter can import it, else
asyncio's own (docs/protocol.md §8). APPPKG_ASGI_LOOP=asyncio refuses uvloop; =uvloop
requires it (exit 3 without it, rather than quietly measuring the wrong loop).

The loop is made and set as the current one *before* the app is imported: on Python 3.8 and
3.9, asyncio.Lock(), Queue() and Event() made at import time bind to the current loop, and
would belong to another loop than the one that runs the app's requests.
"""

import asyncio
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from .bootstrap import ConfigError

LOOP_ENV = "APPPKG_ASGI_LOOP"
_CHOICES = ("", "auto", "asyncio", "uvloop")


def install_loop(threads):
    """A new loop, current for this thread, its default executor (the app's
    run_in_executor(None, ...)) `threads` threads wide.
    Returns (loop, "asyncio" | "uvloop", the executor)."""
    choice = os.environ.get(LOOP_ENV, "").strip().lower()
    if choice not in _CHOICES:
        raise ConfigError("%s: expected asyncio or uvloop (or unset), found %r" % (LOOP_ENV, os.environ[LOOP_ENV]))
    loop, name = None, "asyncio"
    if choice != "asyncio":
        try:
            import uvloop
        except ImportError as exc:
            if choice == "uvloop":
                raise ConfigError("%s=uvloop, but %s cannot import uvloop (%s)" % (LOOP_ENV, sys.executable, exc))
        else:
            loop, name = uvloop.new_event_loop(), "uvloop"
    if loop is None:
        loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    executor = ThreadPoolExecutor(max_workers=max(1, threads), thread_name_prefix="apppkg-asgi")
    loop.set_default_executor(executor)
    return loop, name, executor
