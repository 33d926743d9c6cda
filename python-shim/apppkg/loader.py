"""`module:object` to the object, as the gateway's workers import an app's `app:` (the object
may be dotted, `mod:site.wsgi`; it defaults to `application`), with the app's sys.path first."""

import difflib
import importlib
import importlib.machinery
import os
import sys

from .errors import ModuleConflict, NotCallable, ObjectNotFound
from .paths import prepend_site_dirs

DEFAULT_OBJECT = "application"
_MISSING = object()


def parse_ref(ref):
    """("module", ["dotted", "object"]) from "module:dotted.object"; ValueError otherwise."""
    if not isinstance(ref, str) or not ref.partition(":")[0].strip():
        raise ValueError('expected "module:object" (like "myapp.wsgi:application"), found %r' % (ref,))
    module_name, _, object_path = ref.partition(":")
    return module_name.strip(), (object_path.strip() or DEFAULT_OBJECT).split(".")


def load_object(ref, sys_path):
    """Put `sys_path` first (apppkg.paths), import the module, walk to the object, check that
    it can be called. Errors inside the app's own module propagate as they are: their
    traceback points at the app's line."""
    # `module:create_app()`: an application factory, called once (gunicorn's spelling).
    factory = isinstance(ref, str) and ref.rstrip().endswith("()")
    module_name, parts = parse_ref(ref.rstrip()[:-2] if factory else ref)
    front = prepend_site_dirs(sys_path)
    _refuse_shadowed(ref, module_name.split(".")[0], front)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        # Only when the missing module is the one asked for (or its package); a missing
        # import inside the app is the app's own traceback.
        if exc.name is None or not (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise
        raise ObjectNotFound(
            "%s: no module named %r on the app's sys.path %s" % (ref, exc.name, front),
            "check `app:` in app.yaml, and `paths:` when the module lives in a subdirectory",
        ) from exc
    obj = module
    where = "module %r" % module_name
    for i, part in enumerate(parts):
        found = getattr(obj, part, _MISSING)
        if found is _MISSING:
            close = difflib.get_close_matches(part, [n for n in dir(obj) if not n.startswith("__")], 1)
            raise ObjectNotFound(
                "%s: %s has no attribute %r" % (ref, where, part),
                ("did you mean %r? " % close[0] if close else "") + "name an object defined in that module: module:object",
            )
        obj = found
        where = "%s:%s (%s)" % (module_name, ".".join(parts[: i + 1]), type(obj).__name__)
    if not callable(obj):
        text = repr(obj)
        raise NotCallable(
            "%s is %s %s, expected a callable (a WSGI app)" % (ref, type(obj).__name__, text if len(text) <= 60 else text[:57] + "..."),
            "point `app:` at the WSGI callable itself, such as flask's app object or django's get_wsgi_application()",
        )
    if factory:
        made = obj()
        if not callable(made):
            text = repr(made)
            raise NotCallable(
                "%s returned %s %s, expected a callable (a WSGI app)" % (ref, type(made).__name__, text if len(text) <= 60 else text[:57] + "..."),
                "make the factory return the app object",
            )
        return made
    return obj


def _where(spec):
    """Where a module spec's code lives: its file, or a package's directories, or how it is built in."""
    if spec is None:
        return None
    if spec.origin not in (None, "namespace"):
        return os.path.realpath(spec.origin) if os.path.isabs(spec.origin) else spec.origin
    return tuple(os.path.realpath(p) for p in (spec.submodule_search_locations or ()))


def _refuse_shadowed(ref, top, front):
    """Python's import cache answers by name alone: a `top` already imported from elsewhere (a
    second app loaded in this process with a module of the same name, or an app module named
    like a stdlib one) would be returned in place of the app's own, without a word."""
    loaded = sys.modules.get(top)
    if loaded is None:
        return
    apps = importlib.machinery.PathFinder.find_spec(top, front)
    if apps is None:
        return
    loaded_at = _where(getattr(loaded, "__spec__", None)) or getattr(loaded, "__file__", None)
    apps_at = _where(apps)
    if loaded_at == apps_at:
        return
    def shown(where):
        return ", ".join(where) if isinstance(where, tuple) else str(where)
    raise ModuleConflict(
        "%s: module %r is already imported in this process from %s; the app's own is %s"
        % (ref, top, shown(loaded_at), shown(apps_at)),
        "load each app in a process of its own (multiprocessing, or `apppkg-gateway run PATH -- python ...`), "
        "or rename the app's module so that no other loaded module has its name",
    )
