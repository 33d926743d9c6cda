"""What `app:` was likely meant to name when it names a module or an object that is not there.

A typo in app.yaml (`app: main:ap`, `app: mian:app`) fails the import with Python's own words,
"module 'main' has no attribute 'ap'", whose fix would be a guess: the gateway's fix names the
`app:` to write instead. Only a name the import of `app:` itself missed is judged: a module the
app's code imports that is not installed, or an attribute its code reads, is no typo of `app:`.
"""

import difflib
import os
import sys


def meant_app(exc, spec, roots):
    """The `app:` spec with its misspelt module or object replaced by the closest one there, or
    None."""
    module_name, _, object_path = spec.partition(":")
    module_name = module_name.strip()
    object_path = object_path.strip()
    factory = "()" if object_path.endswith("()") else ""
    parts = (object_path[: len(object_path) - len(factory)] or "application").split(".")
    if isinstance(exc, ModuleNotFoundError):
        module = _meant_module(exc.name or "", module_name, roots)
        return None if module is None else "%s:%s" % (module, object_path or "application")
    if not isinstance(exc, AttributeError):
        return None
    obj = sys.modules.get(module_name)
    if obj is None:
        return None
    for i, part in enumerate(parts):
        if hasattr(obj, part):
            obj = getattr(obj, part)
            continue
        # Callables first: an app, a factory; a constant of a close name is not what was meant.
        names = [n for n in dir(obj) if not n.startswith("_") and callable(getattr(obj, n, None))]
        close = difflib.get_close_matches(part, names, n=1, cutoff=0.6)
        if not close:
            return None
        return "%s:%s%s" % (module_name, ".".join(parts[:i] + close + parts[i + 1:]), factory)
    return None  # every name is there: the AttributeError came from the app's own code


def _meant_module(missing, module_name, roots):
    """`module_name` with its missing component replaced by a close module beside it."""
    if missing != module_name and not module_name.startswith(missing + "."):
        return None  # the app's code imports a module that is not there: not a typo of `app:`
    parent, _, last = missing.rpartition(".")
    if parent:
        where = list(getattr(sys.modules.get(parent), "__path__", None) or [])
    else:
        where = list(roots)
    found = set()
    for directory in where:
        try:
            entries = os.listdir(directory)
        except OSError:
            continue
        for entry in entries:
            full = os.path.join(directory, entry)
            if entry.endswith(".py"):
                found.add(entry[:-3])
            elif os.path.isfile(os.path.join(full, "__init__.py")):
                found.add(entry)
    close = difflib.get_close_matches(last, sorted(found), n=1, cutoff=0.6)
    if not close:
        return None
    return ".".join(([parent] if parent else []) + close) + module_name[len(missing):]
