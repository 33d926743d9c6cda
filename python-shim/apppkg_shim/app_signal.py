"""The app's own SIGTERM or SIGINT handler, run once the worker has finished its requests.

An app that installs one at import (`signal.signal(signal.SIGTERM, shutdown)`, to close a pool
or flush a queue, as it would under `python app.py` or in a container) had it replaced by the
worker's, which the stop handshake needs: it never ran. Under gunicorn it replaces the worker's
and runs at the stop, cutting the requests in flight. Here the worker drains first, then calls
the app's handler on the main thread with the signal that stopped it; a SystemExit from it (the
usual `sys.exit(0)`) is the exit already under way, anything else it raises is logged.
"""

import signal

from .errors import format_exc, log


def run_app_handler(handler, signum):
    """Calls `handler` (what `signum` had before the worker took it) if the app set it."""
    if not callable(handler) or handler is signal.default_int_handler or _is_asyncio_noop(handler):
        return
    try:
        handler(signum, None)
    except SystemExit:
        pass
    except BaseException:
        log("the app's own %s handler, run after the worker's last request, failed:\n%s" % (
            signal.Signals(signum).name, format_exc()))


def _is_asyncio_noop(handler):
    # What asyncio's add_signal_handler leaves at the Python level: the loop runs the real one.
    return getattr(handler, "__name__", "") == "_sighandler_noop" and getattr(handler, "__module__", "").startswith("asyncio")
