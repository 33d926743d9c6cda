"""apppkg: an application package as the apppkg-gateway sees it (SPEC 5.7).

    from apppkg import AppPackage
    app = AppPackage('/var/apps/app1.2012.02.11')
    wsgi_app = app.load_object(app.config['app'])
    app.run_command('test')

Stdlib only, CPython 3.6+ (the oldest an app may run on). Importable in every process the gateway starts for an app (its
python-shim/ directory is last on their sys.path) and pip-installable from python-shim/.
docs/python-library.md is the manual.
"""

import importlib
import sys

__version__ = "0.1.0"

# Name -> the module that defines it. Imported on first use (PEP 562), not here: every worker
# and every command of every app imports apppkg.paths at startup, which runs this file, and
# the library proper (subprocess, json, difflib) would cost each of them tens of milliseconds.
_EXPORTS = {
    "AppPackage": "app_package",
    "AppPackageError": "errors",
    "CommandNeedsBackupDirectory": "errors",
    "CommandNotFound": "errors",
    "DescriptionUnavailable": "errors",
    "EmptyPath": "errors",
    "GatewayNotFound": "errors",
    "GatewayTooOld": "errors",
    "ModuleConflict": "errors",
    "NotCallable": "errors",
    "ObjectNotFound": "errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError("module %r has no attribute %r" % (__name__, name))
    value = getattr(importlib.import_module("." + module, __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_EXPORTS))


# A module's own __getattr__ is Python 3.7's (PEP 562): on 3.6, where WSGI apps run too, it was
# never called and `from apppkg import AppPackage` an ImportError. A module's class may be
# replaced since 3.5, and a class's __getattr__ is asked for what the module lacks.
if sys.version_info < (3, 7):
    import types

    class _LazyModule(types.ModuleType):
        def __getattr__(self, name):
            return __getattr__(name)

        def __dir__(self):
            return __dir__()

    sys.modules[__name__].__class__ = _LazyModule
