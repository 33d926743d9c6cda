"""The ASGI `http` and `websocket` scopes, built from a REQUEST (or WS_CONNECT) frame.

The frame's fields are those of the WSGI environ (environ.py, docs/protocol.md §3): latin-1
strings whose chars are the request's bytes. ASGI wants the path decoded (percent-decoding
is done by Node; the bytes are UTF-8, a byte that is not becomes U+FFFD, as uvicorn's
unquote() makes it), the raw path and the query as bytes, and the headers back as lowercase
byte names: HTTP_ACCEPT_LANGUAGE is exactly accept-language because a client's header name
containing "_" never comes as a CGI name; Node sends it as ":" and the name lowercased
(":api_key"), passed on as it is (src/proxy/request-route.ts asgiName).
"""

import functools
import sys
import types

from .environ import FIXED_FIELDS

# The fields of a REQUEST frame, in order (environ.py reads the same).
METHOD, SCHEME, SERVER_NAME, SERVER_PORT, REMOTE_ADDR, REMOTE_PORT = 0, 1, 2, 3, 4, 5
SCRIPT_NAME, PATH_INFO, QUERY_STRING, REQUEST_URI, PROTOCOL, BODY = 6, 7, 8, 9, 10, 11

class _HeaderNames(dict):
    """CGI name (latin-1 bytes, as a REQUEST frame has it) -> ASGI header name, learnt as met
    (up to 4096 names: a client making up names does not grow it for ever)."""

    def __missing__(self, cgi_name):
        name = _header_name(cgi_name.decode("latin-1"))
        if len(self) < 4096:
            self[cgi_name] = name
        return name


_header_names = _HeaderNames()
_SPECIAL_NAMES = {"CONTENT_TYPE": b"content-type", "CONTENT_LENGTH": b"content-length"}


class MalformedFrame(Exception):
    """A REQUEST frame with too few fields: Node and the shim disagree on the protocol."""


def _header_name(cgi_name):
    name = _SPECIAL_NAMES.get(cgi_name)
    if name is None:
        if cgi_name.startswith(":"):
            name = cgi_name[1:].encode("latin-1")
        else:
            bare = cgi_name[5:] if cgi_name.startswith("HTTP_") else cgi_name
            name = bare.replace("_", "-").lower().encode("latin-1")
    return name


def _url_path(chars):
    # The latin-1 chars are the decoded URL's bytes; ASGI's path is those bytes as UTF-8. Not
    # surrogateescape: a lone surrogate in the path fails the app's first encode (FastAPI
    # answered /items/%FF with a 500, where uvicorn gives the route U+FFFD); raw_path has the bytes.
    if chars.isascii():
        return chars
    return chars.encode("latin-1").decode("utf-8", "replace")


class _Learnt(dict):
    """A small pure function's answers, kept for the arguments met (a request's ports, its
    protocol: a few per connection); up to `limit` of them, computed afresh past that."""

    def __init__(self, compute, limit):
        super().__init__()
        self.compute = compute
        self.limit = limit

    def __missing__(self, key):
        value = self.compute(key)
        if len(self) < self.limit:
            self[key] = value
        return value


def _port(text):
    return int(text) if text.isdigit() else None


_HTTP_VERSIONS = {"HTTP/1.1": "1.1", "HTTP/1.0": "1.0", "HTTP/2.0": "2"}


def _http_version(protocol):
    version = _HTTP_VERSIONS.get(protocol)
    if version is None:
        version = protocol[5:] if protocol.startswith("HTTP/") else "1.1"
    return version


_ports = _Learnt(_port, 70000)  # every TCP port, and a unix socket's ""
_http_versions = _Learnt(_http_version, 64)


def split_fields(payload):
    """The fixed fields, then (when the request has any) its CGI pairs as one string: they are
    split as bytes by header_pairs, which wants them so."""
    fields = payload.split("\0", FIXED_FIELDS)
    if len(fields) < FIXED_FIELDS:
        raise MalformedFrame("malformed REQUEST frame (%d fields)" % len(fields))
    return fields


# Request heads already split: the CGI pairs' text -> its headers as a tuple of pairs. A client
# sends the same head again and again (a browser's, a load balancer's check, a bench's); each
# request gets a list of its own (the app may change it), of the same immutable pairs. A bounded
# number of small heads, emptied when full: a head that never repeats (a changing cookie) keeps
# none long.
_kept_headers = {}
KEPT_HEADERS = 256
KEPT_HEADERS_CHARS = 1024


def header_pairs(fields):
    """The CGI pairs as ASGI headers: (lowercase name, value) bytes, repeated ones apart."""
    if len(fields) == FIXED_FIELDS:
        return []
    text = fields[FIXED_FIELDS]
    kept = _kept_headers.get(text)
    if kept is not None:
        return list(kept)
    # One encode and one split for all of them, zip making the pairs: no Python per header.
    raw = text.encode("latin-1").split(b"\0")
    headers = list(zip(map(_header_names.__getitem__, raw[::2]), raw[1::2]))
    if len(text) <= KEPT_HEADERS_CHARS:
        if len(_kept_headers) >= KEPT_HEADERS:
            _kept_headers.clear()
        _kept_headers[text] = tuple(headers)
    return headers


# How `path` is given (reads_full_path): the rest after the mount, as SPEC 5.1 says; the mount
# and the rest, as the ASGI spec's WSGI section and uvicorn 0.26+ give it; or that with the
# mount itself as the mount and "/".
REST, FULL, FULL_SLASHED = 0, 1, 2


def reads_full_path(app, scope_type="http"):
    """How the app's framework takes `path` in a scope of `scope_type`: with `root_path` in it for those that strip it off
    themselves, as the ASGI spec's WSGI section ("PATH_INFO can be derived by stripping
    root_path from path") and uvicorn 0.26+ have it.

    SPEC 5.1 gives `path` as the rest after the mount, which is what Starlette before 0.35
    (Debian's 0.26) routes on, and what a raw app gets. Starlette 0.35 and later (every FastAPI
    since 0.109) strips `root_path` itself to route, and builds `request.url`, and so every
    redirect it makes, from `path` alone: given the rest, its URLs lose the mount. It brought
    `_utils.get_route_path` in with that change, which tells the two apart once the app is
    imported.

    Django's ASGIHandler (every Django with one, 3.0 on) strips `root_path` off `path` whenever
    `path` starts with it: given the rest, /blog/blog/post reached its view as /post, and
    /blog/blogpost as `post`, which no URL matches. Its mount itself goes as the mount and "/",
    the "/" its WSGI side reads an empty PATH_INFO as. The same goes for Django's handler inside
    the middleware apps wrap it in (_holds): Django strips all the same there.

    Quart (every version, Debian's 0.18 included) routes on `path` split at `root_path`, as
    Hypercorn, its own server, gives it both: given the rest, the split finds no mount and every
    route under a mount, websockets too, answered 404.

    Django Channels' ProtocolTypeRouter hands each scope type to an app of its own, Django's
    handler for `http` and most often a URLRouter for `websocket`, so each type is judged by its
    own app. A URLRouter routes first: Channels 4.0 (Debian's) routes on `path` as it is, the
    rest, and given the mount every websocket under a mount was "No route found" (a 500);
    Channels 4.1 and later take `root_path` off `path` themselves and refuse a `path` without it.

    python-socketio's ASGIApp (engineio's, every version to this day) answers `path`s that
    begin with its `/socket.io/` as they come and hands the others to `other_asgi_app`, most
    often Django's handler: given the mount, every Socket.IO request under a mount went to
    Django, a 404. It routes first, so it gets the rest, and the app behind it too: Django and
    Starlette (whose routes strip `root_path` only when `path` has it) route the rest all the
    same. Not Quart, which finds no route in the rest: it keeps the mount, and Socket.IO in
    front of it finds none under a mount, as under uvicorn 0.26 and later."""
    routing = sys.modules.get("channels.routing")
    if routing is not None:
        protocols = _find(app, routing.ProtocolTypeRouter)
        if protocols is not None:
            mapping = object.__getattribute__(protocols, "__dict__").get("application_mapping")
            if isinstance(mapping, dict):
                app = mapping.get(scope_type, app)
        if _find(app, routing.URLRouter) is not None:
            return FULL if _strips_root_path(routing.URLRouter) else REST
    quart = sys.modules.get("quart.app")
    if quart is not None and _holds(app, quart.Quart):
        return FULL
    engineio = sys.modules.get("engineio.async_drivers.asgi")
    if engineio is not None and _holds(app, engineio.ASGIApp):
        return REST
    handlers = sys.modules.get("django.core.handlers.asgi")
    if handlers is not None and _holds(app, handlers.ASGIHandler):
        return FULL_SLASHED
    utils = sys.modules.get("starlette._utils")
    return FULL if utils is not None and hasattr(utils, "get_route_path") else REST


# What a look for Django's handler inside an app's wrappers goes through at most: a Sentry-style
# middleware is one step, a function closing over one that holds the handler three.
_HOLD_DEPTH = 6
_HOLD_OBJECTS = 512
_LEAVES = (str, bytes, bytearray, int, float, complex, type, types.ModuleType, types.CodeType)


def _strips_root_path(router_class):
    # Channels 4.1 brought the root_path handling in without a marker to test; its __call__
    # reads "root_path", 4.0's does not.
    code = getattr(router_class.__call__, "__code__", None)
    return code is not None and "root_path" in code.co_consts


def _holds(app, handler_class):
    return _find(app, handler_class) is not None


def _find(app, handler_class):
    """The instance of `handler_class` that `app` is, or that a plain ASGI wrapper holds (None
    when there is none): a
    middleware object holding the app it wraps (Sentry's SentryAsgiMiddleware, WhiteNoise-style
    static servers, Starlette's own middleware), a function calling it by a global name or a
    closure, a functools.partial, a bound method. A Django app is most often served so, and
    Django strips `root_path` off `path` all the same inside it.

    It reads what the objects hold (their __dict__, closures, the globals a function's code
    names) and never their attributes, so no property or lazy object (Django's settings) runs.
    It does not go into Starlette's routers: an app that routes before Django decides the
    `path` itself, and Starlette before 0.35 routes on the rest."""
    stops = tuple(
        cls for module, name in (("starlette.routing", "BaseRoute"), ("starlette.routing", "Router"),
                                 ("starlette.applications", "Starlette"))
        for cls in [getattr(sys.modules.get(module), name, None)] if isinstance(cls, type))
    seen = set()
    todo = [(app, 0)]
    try:
        while todo and len(seen) < _HOLD_OBJECTS:
            obj, depth = todo.pop()
            # type(), never isinstance: that reads __class__, which sets a lazy object up.
            kind = type(obj)
            if id(obj) in seen or obj is None or issubclass(kind, _LEAVES):
                continue
            seen.add(id(obj))
            if issubclass(kind, handler_class):
                return obj
            if depth < _HOLD_DEPTH and not issubclass(kind, stops):
                todo.extend((held, depth + 1) for held in _held_by(obj, kind))
    except Exception:  # an object that will not be read is no wrapper we know
        return None
    return None


def _held_by(obj, kind):
    if issubclass(kind, types.FunctionType):
        held = [cell.cell_contents for cell in obj.__closure__ or () if _cell_full(cell)]
        names = obj.__globals__
        held.extend(names[name] for name in obj.__code__.co_names if name in names)
        held.append(obj.__dict__.get("__wrapped__"))
        return held
    if issubclass(kind, types.MethodType):
        return [obj.__self__, obj.__func__]
    if issubclass(kind, functools.partial):
        return [obj.func, *obj.args, *obj.keywords.values()]
    if issubclass(kind, dict):
        return list(obj.values())
    if issubclass(kind, (list, tuple, set, frozenset)):
        return list(obj)
    if issubclass(kind, types.BuiltinFunctionType):
        return []
    try:
        return list(object.__getattribute__(obj, "__dict__").values())
    except AttributeError:  # __slots__ only
        return []


def _cell_full(cell):
    try:
        cell.cell_contents
    except ValueError:  # a name the closure has not bound yet
        return False
    return True


def http_scope(fields, state, full_path=REST):
    remote_addr = fields[REMOTE_ADDR]
    headers = header_pairs(fields)
    if fields[BODY] == "chunked":
        # The CGI pairs leave out hop-by-hop fields; an ASGI app reads the headers as sent (as
        # under uvicorn), and this one says a body comes without a length.
        headers.append((b"transfer-encoding", b"chunked"))
    root_path = fields[SCRIPT_NAME]
    if not root_path.isascii():
        root_path = _url_path(root_path)
    path = fields[PATH_INFO]
    if not path.isascii():
        path = _url_path(path)
    # The mount itself without its slash (/blog): "" is no path to an ASGI app (Django's
    # resolver 404s it, where its WSGIRequest reads an empty PATH_INFO as "/").
    if full_path != FULL:
        path = path or "/"
    if full_path != REST:
        path = root_path + path
    ports = _ports
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": _http_versions[fields[PROTOCOL]],
        "method": fields[METHOD],
        "scheme": fields[SCHEME],
        "path": path,
        "raw_path": fields[REQUEST_URI].partition("?")[0].encode("latin-1"),
        "query_string": fields[QUERY_STRING].encode("latin-1"),
        "root_path": root_path,
        "headers": headers,
        # A client a trusted proxy names has no port known: 0, as uvicorn --proxy-headers gives
        # it (the spec's port is an int; None would drop the address apps log and limit by).
        "client": (remote_addr, ports[fields[REMOTE_PORT]] or 0) if remote_addr else None,
        # Over a unix socket Node sends its path and no port: [path, None], the ASGI spec's form.
        "server": (fields[SERVER_NAME], ports[fields[SERVER_PORT]]),
        # Shallow, as ASGI's lifespan state asks: what a request adds is its own, the objects
        # the app put there at startup are shared.
        "state": dict(state),
    }


_WEBSOCKET_ASGI = {"version": "3.0", "spec_version": "2.5"}


def websocket_scope(fields, state, full_path=REST):
    scope = http_scope(fields, state, full_path)
    scope["type"] = "websocket"
    # 2.4's send() raising an OSError once closed and 2.5's `reason` in websocket.disconnect both
    # hold here (asgi_websocket.py); an http exchange's send() after the client left returns
    # quietly, as uvicorn's does since it took that back (uvicorn #2276), so the http scope says 2.3.
    scope["asgi"] = _WEBSOCKET_ASGI.copy()
    # The handshake is always a GET: the ASGI websocket scope has no `method` (uvicorn's has
    # none), and an app or middleware that tells scopes apart by it must not take this for HTTP.
    del scope["method"]
    scope["scheme"] = "wss" if fields[SCHEME] == "https" else "ws"
    subprotocols = []
    for name, value in scope["headers"]:
        if name == b"sec-websocket-protocol":
            subprotocols.extend(p.strip() for p in value.decode("latin-1").split(",") if p.strip())
    scope["subprotocols"] = subprotocols
    # The denial response: the app may answer the handshake with an HTTP response.
    scope["extensions"] = {"websocket.http.response": {}}
    return scope
