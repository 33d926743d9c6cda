"""The variable an import failed to find in the environment (`os.environ["SECRET_KEY"]`).

A settings module that reads its secret so, in an app whose app.yaml lists no `settings:`, fails
with a bare KeyError: the gateway's fix names the variable and the `settings:` line to write.
"""

import os


def missing_environ_key(exc):
    """The name whose os.environ lookup raised `exc`, or None for any other KeyError."""
    if not isinstance(exc, KeyError) or len(exc.args) != 1 or not isinstance(exc.args[0], str):
        return None
    tb = exc.__traceback__
    if tb is None:
        return None
    while tb.tb_next is not None:
        tb = tb.tb_next
    code = tb.tb_frame.f_code
    # The lookup's own frame: os._Environ.__getitem__ ("<frozen os>" where the module is frozen, 3.11).
    if code.co_name != "__getitem__" or tb.tb_frame.f_locals.get("self") is not os.environ:
        return None
    return exc.args[0]
