"""What AppPackage raises. Every message says what happened, with the values, then on its own
line `fix:` and how to fix it, as the gateway's own errors do (docs/errors.md). Match on the
class, never on the text."""


class AppPackageError(Exception):
    """Base of every error of this library."""

    def __init__(self, message, fix):
        Exception.__init__(self, "%s\n  fix: %s" % (message, fix))
        self.what = message
        self.fix = fix


class GatewayNotFound(AppPackageError):
    """No apppkg-gateway command could be run to describe the app or run its command."""


class GatewayTooOld(GatewayNotFound):
    """run_command: the apppkg-gateway command found is older than this library (it has no
    `run --command`)."""


class DescriptionUnavailable(AppPackageError):
    """`apppkg-gateway describe` failed (a bad app.yaml, no interpreter fits `python:`...), or
    the description the gateway recorded for this process cannot be read."""


class ObjectNotFound(AppPackageError):
    """load_object: the module, or an attribute on the way to the object, does not exist."""


class ModuleConflict(AppPackageError):
    """load_object: this process already imported a module of that name from elsewhere (another
    app's, or the interpreter's own), so Python would hand that one back, not the app's."""


class NotCallable(AppPackageError):
    """load_object: the object exists but cannot be called (it is no WSGI app)."""


class EmptyPath(AppPackageError, ValueError):
    """AppPackage: `path`, `environment` or `state_dir` given as "" (a variable set empty), which
    was taken for none: the working directory, no file, the default state root; or, with no
    `state_dir`, APPPKG_STATE_DIR set to "" (the gateway refuses it too)."""


class CommandNotFound(AppPackageError):
    """run_command: the description has no `commands.NAME`."""


class CommandNeedsBackupDirectory(AppPackageError):
    """run_command: commands.backup and commands.restore need the backup directory, which only
    `apppkg-gateway backup --to` and `restore --from` give them."""
