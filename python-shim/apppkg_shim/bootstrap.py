"""From process start to a callable app: the config, sys.path, the import.

Config: one JSON object, from the APPPKG_SHIM_CONFIG environment variable (removed from
os.environ before the app is imported, so neither the app nor its subprocesses see it) or
from argv[2]: {protocol: the gateway's link.LINK_PROTOCOL, app: "module:object", kind: "wsgi" | "asgi", sysPath: [dirs in order],
threads, multiprocess, development, name, unsetEnv: [variables the gateway set for the
interpreter alone, taken out of os.environ as well], readyWithinMs: the gateway's start
deadline, counted from the spawn (ready_deadline.py), which an ASGI app's lifespan startup gives
up a little before, saying where it waits; stats: each worker prints its counters when it stops
(worker.py, asgi_stats.py); `check` alone: lifespanWithinMs, and hideModules:
top-level modules whose import fails, as on a host without them (hidden_modules.py)}. `kind` picks the worker: WSGI threads (worker.py)
or an ASGI event loop (asgi_worker.py); both speak the same link.

sys.path becomes what apppkg.paths makes it for every process of an app: each sysPath dir
through site.addsitedir, in order (so their .pth files are processed), then the interpreter's
own entries, then the shim's own directory last (`import apppkg` works, shadowing nothing).
"""

import faulthandler
import functools
import importlib
import json
import os
import signal
import socket
import sys
import types

from apppkg.paths import set_app_process_path

from .errors import (
    EXIT_APP_LOAD_FAILED,
    EXIT_STARTUP_FAILED,
    IMPORT_ERROR_MARKER,
    LINK_MISMATCH_MARKER,
    NOT_CALLABLE_MARKER,
    AppNotCallable,
    AppOtherKind,
    emit_marker,
    exit_now,
    import_error_details,
    log,
)
from .exit_watch import watch_exit
from . import link_taken
from .forked import guard_link
from .import_watch import watch_import
from .green_patch import PATCHED_MARKER, patch_found, snapshot
from .hidden_modules import hide as hide_modules
from .green_patch import message as patch_message
from .left_behind import TREE_MARK, end_out_of_reach
from .link import LINK_PROTOCOL

CONFIG_ENV = "APPPKG_SHIM_CONFIG"
# The link: frames from the gateway on fd 3, ours to it on fd 4 (docs/protocol.md §1).
LINK_IN_FD = 3
LINK_OUT_FD = 4
KINDS = ("wsgi", "asgi")


class ConfigError(Exception):
    pass


class LinkMismatch(ConfigError):
    """The gateway speaks another link protocol: its files were replaced while it ran."""

    def __init__(self, message, gateway_protocol):
        ConfigError.__init__(self, message)
        self.gateway_protocol = gateway_protocol


def _shim_dir():
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_config(argv):
    raw = argv[2] if len(argv) > 2 else os.environ.get(CONFIG_ENV)
    os.environ.pop(CONFIG_ENV, None)
    if not raw:
        raise ConfigError("no config: set %s or pass the JSON as the second argument" % CONFIG_ENV)
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise ConfigError("the config is not JSON: %s" % exc)
    # A config without one comes from a gateway older than the check.
    protocol = config.get("protocol") if isinstance(config, dict) else None
    if protocol is not None and protocol != LINK_PROTOCOL:
        raise LinkMismatch(
            "this Python shim (%s) speaks link protocol %s, the gateway that started it %s: apppkg-gateway's files"
            " were replaced while the gateway ran (upgraded in place?); restart the gateway"
            % (_shim_dir(), LINK_PROTOCOL, protocol),
            protocol,
        )
    if not isinstance(config, dict) or not isinstance(config.get("app"), str) or ":" not in config["app"]:
        raise ConfigError('config.app: expected "module:object", found %r' % (config.get("app") if isinstance(config, dict) else config,))
    # What the gateway set for the interpreter alone (malloc's tuning, read at exec).
    for name in config.get("unsetEnv") or ():
        os.environ.pop(name, None)
    config["kind"] = config.get("kind") or "wsgi"
    if config["kind"] not in KINDS:
        raise ConfigError('config.kind: expected "wsgi" or "asgi", found %r' % (config["kind"],))
    if config["kind"] == "asgi" and sys.version_info < (3, 7):
        # python: may pick a 3.6 (SPEC 1.3), where a WSGI worker runs; the ASGI one is built on
        # 3.7's asyncio (BufferedProtocol, contextvars) and would die of an AttributeError.
        raise ConfigError(
            "an ASGI app's worker needs Python 3.7 or later, and %s is %d.%d.%d: widen python: in app.yaml"
            ' to let the gateway pick a newer one (python: ">=3.7")' % ((sys.executable,) + tuple(sys.version_info[:3]))
        )
    paths = config.get("sysPath") or []
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
        raise ConfigError("config.sysPath: expected a list of directories, found %r" % (paths,))
    return config


def import_app(spec, kind="wsgi"):
    module_name, _, object_path = spec.partition(":")
    object_path = object_path.strip()
    # `module:create_app()`: an application factory, called once here (gunicorn's spelling).
    factory = object_path.endswith("()")
    if factory:
        object_path = object_path[:-2]
    module = importlib.import_module(module_name.strip())
    obj = module
    for part in (object_path or "application").split("."):
        obj = getattr(obj, part)
    if not callable(obj):
        if not factory and callable(getattr(obj, "wsgifunc", None)):
            # web.py's `app = web.application(urls, globals())`, as its tutorial has it: the WSGI
            # app is what its wsgifunc() returns (`application = app.wsgifunc()`).
            raise _not_callable(spec, kind, "a web.py application (%s), whose WSGI app is its wsgifunc()" % (_short_repr(obj),))
        raise _not_callable(spec, kind, "%s %s" % (type(obj).__name__, _short_repr(obj)))
    # Not called: its coroutine would only be dropped, with a "never awaited" warning on top.
    if factory and isinstance(obj, types.FunctionType) and obj.__code__.co_flags & _CO_COROUTINE:
        raise _async_factory(obj, spec, kind)
    if factory:
        made = obj()
        if not callable(made):
            raise _not_callable(spec, kind, "a factory that returned %s %s" % (type(made).__name__, _short_repr(made)))
        _refuse_other_kind(made, spec, kind)
        if kind == "wsgi":
            _refuse_wsgi_arity(made, spec)
        return made
    looks_like_factory = _factory_signature(obj, 3 if kind == "asgi" else 2)
    if looks_like_factory is not None and obj.__code__.co_flags & _CO_COROUTINE:
        raise _async_factory(obj, spec, kind)
    if looks_like_factory is not None:
        raise _not_callable(spec, kind, "function %s%s, an application factory: write `app: %s()` to serve the app it returns" % (
            obj.__name__, looks_like_factory, spec))
    _refuse_other_kind(obj, spec, kind)
    if kind == "wsgi":
        _refuse_wsgi_arity(obj, spec)
    if kind == "asgi" and _asgi2_form(obj):
        return Asgi2App(obj)
    if kind == "asgi" and isinstance(obj, types.FunctionType) and not obj.__code__.co_flags & _CO_COROUTINE:
        return _awaiting_result(obj, spec)
    return obj


class Asgi2App:
    """An ASGI 2 app (called with the scope, then its result with receive and send) as the
    ASGI 3 callable the worker calls, as uvicorn's ASGI2Middleware serves one: every request
    would otherwise fail with a TypeError that `check` never saw."""

    def __init__(self, app):
        self.app = app
        self.name = getattr(app, "__name__", type(app).__name__)

    async def __call__(self, scope, receive, send):
        instance = self.app(scope)
        await instance(receive, send)


def _awaiting_result(function, spec):
    """A plain `def` given as an ASGI 3 app, as an `async def` that checks what it returns. One
    returning the coroutine of an ASGI app (a wrapper) is served; one that forgot `async` ran to
    its end and returned None, which every request, and every websocket, failed with Python's
    "object NoneType can't be used in 'await' expression", naming neither the app nor the fix.
    It cannot be told from a wrapper before it is called."""
    import inspect

    async def app(scope, receive, send):
        result = function(scope, receive, send)
        if not inspect.isawaitable(result):
            raise TypeError("%s is a plain function (def) that returned %s, not an awaitable: an ASGI app is "
                            "`async def %s(scope, receive, send)`, awaiting receive() and send()" % (
                                spec, _short_repr(result), function.__name__))
        await result

    app.__wrapped__ = function  # asgi_scope._holds looks through it for the framework it calls
    return app


def _asgi2_form(obj):
    """Whether `obj` can only be an ASGI 2 app: a class without __await__ (uvicorn's test for
    its `--interface auto`), or a plain function that takes the scope alone. Narrower than
    uvicorn's, which takes any sync function for ASGI 2: one returning the coroutine of an
    ASGI 3 app is an ASGI 3 app."""
    import inspect

    if inspect.isclass(obj):
        return not hasattr(obj, "__await__")
    if not inspect.isfunction(obj) or inspect.iscoroutinefunction(obj):
        return False
    try:
        signature = inspect.signature(obj)
        signature.bind(None)
    except (TypeError, ValueError):
        return False
    try:
        signature.bind(None, None, None)
    except TypeError:
        return True
    return False


# co_flags bits (inspect's CO_COROUTINE and CO_VARARGS), read off the code object: inspect's
# own import is not paid at every worker's start for this.
_CO_VARARGS = 0x04
_CO_COROUTINE = 0x80


def _refuse_other_kind(app, spec, kind):
    """Refuse an app that is plainly the other kind than `kind`: an ASGI app under WSGI (its
    call an `async def`: Quart, Falcon's asgi.App, Starlette), whose call a WSGI worker turns
    into a coroutine never run, or a WSGI app under ASGI (its call takes environ and
    start_response alone: Flask, Bottle, Pyramid), which an ASGI worker's three arguments fail.
    Either imports and is callable, so every request would be a 500 (a TypeError) after a
    `check` that passed. Only a plain function or an object whose class defines `__call__` in
    Python is judged: a wrapper, a builtin, an ASGI 2 class may be either."""
    server = _serves_itself(app)
    if server is not None:
        exc = AppOtherKind(spec, "%s, %s app: neither WSGI nor ASGI, it is served by %s's own server" % (
            type(app).__name__, "an aiohttp" if server == "aiohttp" else "a Tornado", server), "command", kind)
        exc.server = server.lower()
        raise exc
    call = app if isinstance(app, types.FunctionType) else getattr(type(app), "__call__", None)
    code = getattr(call, "__code__", None)
    if code is None or isinstance(app, type):
        return
    if kind == "wsgi" and code.co_flags & _CO_COROUTINE:
        raise AppOtherKind(spec, _app_word(app, "asgi", "its __call__ is an async def"), "asgi", kind)
    own_args = code.co_argcount - (0 if call is app else 1)
    if kind == "asgi" and not code.co_flags & (_CO_COROUTINE | _CO_VARARGS) and own_args == 2 and not call.__defaults__:
        names = ", ".join(code.co_varnames[code.co_argcount - 2:code.co_argcount])
        refused = AppOtherKind(spec, _app_word(app, "wsgi", "its __call__ takes (%s)" % names), "wsgi", kind)
        refused.target = _asgi_beside(spec)
        raise refused


def _asgi_beside(spec):
    """`pkg.asgi:application` for a `pkg.wsgi:...` named under ASGI where pkg has an asgi module
    (a Django project has both): the user who wrote `asgi` likely meant that one. None otherwise."""
    module_name = spec.partition(":")[0].strip()
    package, _, last = module_name.rpartition(".")
    if last != "wsgi" or not package:
        return None
    import importlib.util

    try:
        found = importlib.util.find_spec(package + ".asgi")
    except (ImportError, ValueError):
        return None
    return None if found is None else package + ".asgi:application"


def _refuse_wsgi_arity(app, spec):
    """Refuse a WSGI app that cannot be called as a WSGI server calls it, `app(environ,
    start_response)` (PEP 3333): `def application(environ)`, or an ASGI app's `(scope, receive,
    send)` given as WSGI. It imported and is callable, so `check` passed and every request was a
    500 (a TypeError). Only what inspect can tell is refused: a signature it cannot read (a
    builtin, a C type) passes, `*args` binds anything, and a decorator's `__wrapped__` is not
    followed (werkzeug's `Request.application` wraps `def app(request)` in `def
    application(*args)`). A class is judged by what calling it takes, as PEP 3333 allows one."""
    call = app if isinstance(app, types.FunctionType) else getattr(type(app), "__call__", None)
    # The plain-function answer off the code object: inspect's import is not paid at every
    # worker's start for PEP 3333's own example, nor for a Flask or Django object.
    if isinstance(call, types.FunctionType) and not isinstance(app, type):
        if _binds_positionally(call, 2 if call is app else 3) is True:
            return
    # An object whose class's __call__ is no plain function (a staticmethod, another callable
    # object): inspect drops a first parameter that is not there to drop, or cannot say.
    if not isinstance(app, (type, types.FunctionType, types.MethodType, functools.partial)):
        if not isinstance(_defined_call(type(app)), types.FunctionType):
            return
    import inspect

    try:
        signature = inspect.signature(app, follow_wrapped=False)
    except (TypeError, ValueError):
        return
    try:
        signature.bind(None, None)
        return
    except TypeError:
        pass
    if isinstance(app, (type, types.FunctionType)):
        what = "%s %s%s" % ("class" if isinstance(app, type) else "function", app.__name__, signature)
    else:
        what = "a %s object called as %s" % (type(app).__name__, signature)
    try:
        signature.bind(None, None, None)
    except TypeError:
        raise AppNotCallable(spec, "%s, which cannot be called as a WSGI server calls an app, application(environ, start_response)" % (what,))
    raise AppOtherKind(spec, "%s, an ASGI app: it takes three arguments, as application(scope, receive, send)" % (what,), "asgi", "wsgi")


def _defined_call(cls):
    """The `__call__` as `cls` or the first class of its MRO defines it, not bound or unwrapped."""
    for klass in cls.__mro__:
        if "__call__" in klass.__dict__:
            return klass.__dict__["__call__"]
    return None


def _async_factory(function, spec, kind):
    """The refusal of an `async def` factory (aiohttp's `async def init_app()`): called, with or
    without the `()` of `app:`, it returns a coroutine, which neither worker can call. aiohttp's
    own worker awaits such a factory, so one in an app that loaded aiohttp's web is refused as an
    aiohttp app is, its command naming the function itself (`target`): gunicorn would call
    `init_app()` and hand aiohttp's worker the coroutine. Any other is refused as not callable,
    and the gateway's hint says to call it at import or make it a plain def."""
    import inspect

    try:
        signature = str(inspect.signature(function))
    except (TypeError, ValueError):
        signature = "(...)"
    found = "async function %s%s, %s async factory (it returns a coroutine, which a WSGI or ASGI worker cannot call%s)"
    if "aiohttp.web_app" in sys.modules:
        exc = AppOtherKind(spec, found % (function.__name__, signature, "an aiohttp app's", "; aiohttp's own server awaits it"), "command", kind)
        module_name, _, object_path = spec.partition(":")
        exc.target = "%s:%s" % (module_name.strip(), object_path.strip()[:-2] if object_path.strip().endswith("()") else object_path.strip())
        return exc
    return _not_callable(spec, kind, found % (function.__name__, signature, "an", ""))


# The `web.Application` classes that run under their own server, by module: each is callable
# (aiohttp's `__call__` returns itself, for gunicorn's worker; Tornado's takes Tornado's own
# request), so it imports as an app of either kind, and every request would be a 500.
_OWN_SERVERS = {"aiohttp.web_app": "aiohttp", "tornado.web": "Tornado"}


def _serves_itself(app):
    """The name of the server that serves `app` ("aiohttp", "Tornado") when it is such an
    Application, else None. Judged by its classes' names: neither framework is imported for an
    app that does not use it."""
    for cls in type(app).__mro__:
        if cls.__name__ == "Application" and cls.__module__ in _OWN_SERVERS:
            return _OWN_SERVERS[cls.__module__]
    return None


def _app_word(app, kind, why):
    article = "an ASGI" if kind == "asgi" else "a WSGI"
    if isinstance(app, types.FunctionType):
        return "function %s, %s app: %s" % (app.__name__, article, why.replace("its __call__", "it"))
    return "%s, %s app: %s" % (type(app).__name__, article, why)


def _not_callable(spec, kind, found):
    exc = AppNotCallable(spec, found)
    if kind == "asgi":
        exc.args = ("%s is %s, expected an ASGI callable" % (spec, found),)
    return exc


def _factory_signature(obj, arity):
    """The signature of a plain function that cannot take the app's `arity` arguments but can
    be called with none (Flask's `create_app(test_config=None)`): every request would fail
    with a TypeError, so the version is refused at import instead. None otherwise."""
    if not isinstance(obj, types.FunctionType):
        return None
    # Read off the code object for a function inspect would read the same way: a WSGI app that
    # is a plain function (PEP 3333's own example) paid inspect's import at every start, which
    # the worker does not otherwise load (asyncio does load it, for an ASGI worker).
    takes_app_call = _binds_positionally(obj, arity)
    if takes_app_call is True or (takes_app_call is False and _binds_positionally(obj, 0) is False):
        return None
    import inspect

    try:
        signature = inspect.signature(obj)
        signature.bind(*([None] * arity))
        return None
    except TypeError:
        pass
    except ValueError:
        return None
    try:
        signature.bind()
    except TypeError:
        return None
    return str(signature)


def _binds_positionally(function, count):
    """Whether plain `function` can be called with `count` positional arguments, as
    inspect.signature(function).bind(*[None] * count) tells; None when only inspect can tell:
    a function with attributes of its own may carry a signature from elsewhere (a decorator's
    `__wrapped__`, `__signature__`, partialmethod's)."""
    if function.__dict__:
        return None
    code = function.__code__
    positional = code.co_argcount
    required = positional - len(function.__defaults__ or ())
    keyword_only = code.co_varnames[positional:positional + code.co_kwonlyargcount]
    keyword_defaults = function.__kwdefaults__ or {}
    if any(name not in keyword_defaults for name in keyword_only):
        return False
    return required <= count and (count <= positional or bool(code.co_flags & _CO_VARARGS))


def _short_repr(obj):
    text = repr(obj)
    return text if len(text) <= 60 else text[:57] + "..."


def load_app(config):
    """Import the app, or report why not (marker line on stderr) and return None."""
    spec = config["app"]
    if config["kind"] == "wsgi":
        # As gunicorn's arbiter sets it in its process environment: frameworks read it there to
        # tell a server from their own development one, web.py turning its debug mode (a page
        # with the source and locals of every exception, modules reloaded per request) off.
        from .environ import SERVER_SOFTWARE

        os.environ.setdefault("SERVER_SOFTWARE", SERVER_SOFTWARE)
    before = snapshot()
    try:
        app = import_app(spec, config["kind"])
        patched = patch_found(before, spec, config["kind"], config.get("sysPath") or [])
        if patched is None:
            return app
        # Refused before any of the worker's threads start: they would hang on the patched ones.
        log(patch_message(patched))
        emit_marker(PATCHED_MARKER, patched)
    except AppNotCallable as exc:
        log(str(exc))
        details = {"app": spec, "found": exc.found, "message": str(exc)}
        if exc.kind is not None:
            details["kind"] = exc.kind
            details["declared"] = config["kind"]
        if exc.target is not None:
            details["target"] = exc.target
        if exc.server is not None:
            details["server"] = exc.server
        emit_marker(NOT_CALLABLE_MARKER, details)
    except BaseException as exc:  # SystemExit and KeyboardInterrupt in module code too
        # The traceback goes in the marker alone: the gateway writes it into the app log, and
        # shows each distinct one once where the workers of a start all print the same.
        emit_marker(IMPORT_ERROR_MARKER, import_error_details(exc, spec, config.get("sysPath") or []))
    return None


def check(config):
    """`check`: import and verify the app (an ASGI app: run its lifespan startup and shutdown,
    bounded by config.lifespanWithinMs); one JSON line on stdout; exit 0 or 4."""
    asgi = config["kind"] == "asgi"
    if asgi:
        loop = _install_asgi_loop(config)[0]  # the app's import sees what it sees in a worker
    # What the interpreter and the shim loaded (Ubuntu's sitecustomize loads apport's hook from
    # dist-packages) is not the app's: only what its import adds is judged against its deb:.
    before = set(sys.modules)
    hidden = config.get("hideModules") or []
    hide_modules(hidden)
    app = load_app(config)
    lifespan = None
    ignored = None
    # With modules hidden, whether the app imports is all that is asked: its startup ran before.
    if app is not None and asgi and not hidden:
        from .asgi_lifespan import ignored_lifespan, run_for_check

        ignored = ignored_lifespan(app)
        lifespan = run_for_check(app, config["app"], loop, (config.get("lifespanWithinMs") or 5000) / 1000.0)
    if app is None or (asgi and lifespan is None and not hidden):
        print(json.dumps({"ok": False, "app": config["app"]}))
        exit_now(EXIT_APP_LOAD_FAILED)
    print(json.dumps({
        "ok": True,
        "app": config["app"],
        "type": "ASGI 2 %s" % app.name if isinstance(app, Asgi2App) else type(app).__name__,
        "python": "%d.%d.%d" % sys.version_info[:3],
        "executable": sys.executable,
        "sysPath": sys.path,
        "lifespan": lifespan,
        "distPackages": _dist_packages_loaded(before),
        "treeMounts": _tree_mounts(app),
        "lifespanIgnored": ignored,
    }))
    # A thread the app started (a background loop at import that is no daemon, one its ASGI
    # startup left running or still waits in) must not hold check's exit: Python joins it
    # first, and check failed saying the import did not finish within its deadline.
    exit_now(0)


def _tree_mounts(app):
    """The paths a `cherrypy.tree` mounts its apps at ("" for /), None for any other app. The
    tree routes on SCRIPT_NAME + PATH_INFO, the whole path, as if it were at the server's root:
    under a mount it finds no app there and answers every request 404, which check foretells."""
    cls = type(app)
    if cls.__name__ != "Tree" or cls.__module__ != "cherrypy._cptree":
        return None
    apps = getattr(app, "apps", None)
    return sorted(apps) if isinstance(apps, dict) else None


def _dist_packages_loaded(before):
    """[[top-level name, file]] for each top-level module whose modules the app loaded from a
    dist-packages directory (where Debian's packages put theirs; a namespace package is named by
    its first submodule's file). The gateway asks dpkg whose they are: one that app.yaml's deb:
    does not account for makes check warn."""
    found = {}
    for name in sorted(set(sys.modules) - before):
        top = name.partition(".")[0]
        module = sys.modules.get(name)
        where = getattr(module, "__file__", None)
        if top not in found and isinstance(where, str) and "dist-packages" in where.split(os.sep):
            found[top] = where
    return sorted([name, where] for name, where in found.items())


def open_link():
    """(incoming, outgoing): the two sockets of the link."""
    socks = []
    for fd in (LINK_IN_FD, LINK_OUT_FD):
        try:
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            raise ConfigError("fd %d is not the gateway's socket (%s); the gateway starts `serve` itself" % (fd, exc))
        sock.setblocking(True)
        # Subprocesses of the app must not hold the link open after we exit.
        os.set_inheritable(fd, False)
        socks.append(sock)
    # Nor its forks (a pool made at import included), which exec does not close it for.
    guard_link(socks)
    link_taken.remember(socks)
    return socks


# Where the kernel does not end a worker with the gateway, it checks its parent this often.
PARENT_CHECK_SECONDS = 1.0


def die_with_gateway():
    """Ask the kernel for SIGKILL when the gateway dies. The closed link ends a running
    worker anyway, but a stopped one (SIGSTOP, a debugger) never reads it, and SIGKILL is the
    one signal a stopped process obeys. Linux only; elsewhere the link is all there is. (A
    gateway gone before this call left the link closed: the worker ends on its first read.)"""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (ImportError, OSError, AttributeError):
        return


def parent_check_seconds():
    """How often a serving worker must see for itself whether its parent changed: None when
    the kernel still kills it with the gateway (die_with_gateway), which a change of the
    effective uid or gid clears, as an app's import may make. An idle worker then has no timer
    at all."""
    if not sys.platform.startswith("linux"):
        return PARENT_CHECK_SECONDS
    try:
        import ctypes

        PR_GET_PDEATHSIG = 2
        armed = ctypes.c_int(0)
        if ctypes.CDLL(None, use_errno=True).prctl(PR_GET_PDEATHSIG, ctypes.byref(armed), 0, 0, 0) != 0:
            return PARENT_CHECK_SECONDS
    except (ImportError, OSError, AttributeError):
        return PARENT_CHECK_SECONDS
    return None if armed.value == signal.SIGKILL else PARENT_CHECK_SECONDS


def _install_asgi_loop(config):
    # Before the import: asyncio objects an app makes at import time bind to the current loop
    # on Python 3.8 and 3.9 (asgi_loop.py).
    from .asgi_loop import install_loop

    return install_loop(int(config.get("threads") or 1))


def serve(config):
    die_with_gateway()
    # A crash in C code (a segfault in an extension) then leaves the Python stack of every thread
    # in the app's log, and in a development 502's body, instead of nothing.
    faulthandler.enable()
    incoming, outgoing = open_link()
    # The tree's mark as the gateway gave it: the app may change its own environment.
    mark = os.environ.get(TREE_MARK)
    try:
        code = _serve_app(config, incoming, outgoing)
    finally:
        end_out_of_reach(mark)
    if code == EXIT_APP_LOAD_FAILED:
        # A thread the import started before it failed, no daemon, would hold the exit that
        # tells the gateway: it waited for its start deadline, and said the worker was not ready.
        exit_now(code)
    watch_exit()
    return code


def _serve_app(config, incoming, outgoing):
    if config["kind"] == "asgi":
        loop, loop_name, executor = _install_asgi_loop(config)
        app = _load_watched(config)
        if app is None:
            return EXIT_APP_LOAD_FAILED
        from .asgi_worker import AsgiWorker

        return AsgiWorker(incoming, outgoing, app, config, loop, loop_name, executor, parent_check_seconds()).serve()
    app = _load_watched(config)
    if app is None:
        return EXIT_APP_LOAD_FAILED
    from .worker import Worker

    return Worker(incoming, outgoing, app, config, parent_check_seconds()).serve()


def _load_watched(config):
    # The import alone: an ASGI app's lifespan startup reports its own deadline.
    disarm = watch_import(config)
    try:
        return load_app(config)
    finally:
        if disarm is not None:
            disarm()


def main(argv, shim_dir):
    command = argv[1] if len(argv) > 1 else ""
    if command not in ("serve", "check"):
        sys.stderr.write("usage: apppkg_shim_main.py serve|check [CONFIG_JSON]\n")
        return EXIT_STARTUP_FAILED
    try:
        config = load_config(argv)
        set_app_process_path(config.get("sysPath") or [], shim_dir)
        return serve(config) if command == "serve" else check(config)
    except ConfigError as exc:
        log(str(exc))
        # Exit 3 alone reads as the shim's own failure, which `check` would show; this one
        # needs the gateway restarted, and the gateway's status says so from the marker.
        if isinstance(exc, LinkMismatch):
            emit_marker(LINK_MISMATCH_MARKER, {"shim": LINK_PROTOCOL, "gateway": exc.gateway_protocol, "dir": _shim_dir()})
        return EXIT_STARTUP_FAILED
