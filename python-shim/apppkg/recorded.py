"""The description the gateway recorded for the app this process belongs to.

Every process the gateway starts for an app (workers, `processes`, hooks, `apppkg-gateway
run`) has APPPKG_DESCRIPTION: a JSON file in the app's generated run-helper directory
(src/environment/app-env.ts, writeRunHelpers), written from the very values the gateway runs
the app with. Reading it costs no subprocess, and it cannot disagree with the gateway:

    {"description": {... what `apppkg-gateway describe` prints ...},
     "executable": "/usr/bin/python3.11",
     "sysPath": ["/srv/apps/blog", "/srv/apps/blog/vendor"],
     "commandEnv": {"PATH": "...", "PYTHONPATH": "..."}}
"""

import json
import os

from .errors import DescriptionUnavailable

DESCRIPTION_ENV = "APPPKG_DESCRIPTION"
APP_DIR_ENV = "APPPKG_APP_DIR"


def recorded_for(path):
    """The recorded description when this process is one of the app at `path`; else None."""
    record_file = os.environ.get(DESCRIPTION_ENV)
    app_dir = os.environ.get(APP_DIR_ENV)
    if not record_file or not app_dir or os.path.realpath(path) != os.path.realpath(app_dir):
        return None
    try:
        with open(record_file, encoding="utf-8") as f:
            record = json.load(f)
    except (OSError, ValueError) as exc:
        raise DescriptionUnavailable(
            "%s=%s: cannot read the description the gateway recorded for this app: %s" % (DESCRIPTION_ENV, record_file, exc),
            "restart the app so that the gateway writes it again, or unset %s to ask the apppkg-gateway command" % DESCRIPTION_ENV,
        )
    missing = [key for key in ("description", "executable", "sysPath", "commandEnv") if key not in record]
    if missing:
        raise DescriptionUnavailable(
            "%s=%s: expected the keys description, executable, sysPath and commandEnv, found no %s" % (DESCRIPTION_ENV, record_file, ", ".join(missing)),
            "the gateway and this library come from different versions: use the apppkg of the gateway's python-shim/",
        )
    return record
