"""apppkg: an application package as the apppkg-gateway sees it (SPEC 5.7).

    from apppkg import AppPackage
    app = AppPackage('/var/apps/app1.2012.02.11')
    wsgi_app = app.load_object(app.config['app'])
    app.run_command('test')

Stdlib only, CPython 3.9+. Importable in every process the gateway starts for an app (its
python-shim/ directory is last on their sys.path) and pip-installable from python-shim/.
docs/python-library.md is the manual.
"""

import importlib

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
