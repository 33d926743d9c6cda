"""`check`'s second look at an import that loaded modules from Debian packages its `deb:` does
not account for: the same import with those modules hidden, as on a host without the packages.
An app that still imports loads them only when they are there (`try: import simplejson` /
`except ImportError`, as Bottle, WebOb and aiohttp do), and needs no `deb:` line for them."""

import sys


# Not an importlib.abc.MetaPathFinder: the import system asks only for find_spec, and on 3.11
# importing importlib.abc loads importlib.resources, pathlib, tempfile, typing and urllib (~30
# modules), which every worker paid at its start for what `check` alone uses.
class _HiddenFinder:
    def __init__(self, names):
        self.names = frozenset(names)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.partition(".")[0] in self.names:
            # What the import system raises on a host where no package gives the module.
            raise ModuleNotFoundError("No module named %r" % fullname, name=fullname)
        return None


def hide(names):
    """From now on, importing any of the top-level modules `names` (or theirs) fails."""
    if names:
        sys.meta_path.insert(0, _HiddenFinder(names))
