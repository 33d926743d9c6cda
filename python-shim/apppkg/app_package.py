"""AppPackage: one application package (SPEC 5.7), with the same description and sys.path the
gateway uses for it, read from the gateway itself and never from app.yaml directly."""

import os
import shlex
import subprocess
import sys

from . import gateway_cli
from .errors import CommandNeedsBackupDirectory, CommandNotFound, EmptyPath
from .loader import load_object
from .recorded import recorded_for


# The gateway's commands that give commands.backup and commands.restore their directory, and
# what else they do that running the hook alone would skip.
_NEEDS_BACKUP_DIRECTORY = {
    "backup": ("apppkg-gateway backup %s --to DIR", "checks DIR, dumps the app's database and Redis keys beside the hook's files and marks the backup"),
    "restore": ("apppkg-gateway restore %s --from DIR", "checks that DIR is a backup of this app and loads its database and Redis keys first"),
}


# Without the hook, what backs up or restores anyway (the gateway's hooklessBackupFix says the
# same): "add it to app.yaml" sent a user to write one that `backup --to` does not need.
_HOOKLESS_BACKUP = {
    "backup": "run `apppkg-gateway backup %s --to DIR`, which needs no hook: it copies the app's data directory into DIR/data (with its database and Redis keys, if it has services:); or add commands.backup to app.yaml",
    "restore": "run `apppkg-gateway restore %s --from DIR`, which needs no hook: it replaces the app's data directory with DIR/data (and loads its database and Redis keys, if it has services:); or add commands.restore to app.yaml",
}


def _refuse_empty(name, value):
    """An empty `value` was taken for none: `state_dir=os.environ.get("STATE", "")` of a script
    whose variable was unset described and ran the app under the default state root (as root,
    /var/lib/apppkg-gateway), and an empty `environment` read no file."""
    if value is not None and os.fspath(value) in ("", b""):
        raise EmptyPath(
            "AppPackage: %s: expected a path, found an empty one" % name,
            "give %s a path, or leave it out (None): an empty one, as a variable set to \"\" gives, is never taken for the default" % name,
        )


class AppPackage:
    """An app directory as the gateway sees it.

    Inside a process the gateway started for this very app, what the gateway recorded for it
    (APPPKG_DESCRIPTION); anywhere else, or when `environment` or `state_dir` is given, what
    `apppkg-gateway describe PATH --sys-path` prints for them.
    """

    def __init__(self, path, environment=None, state_dir=None):
        if os.fspath(path) in ("", b""):
            raise EmptyPath(
                "AppPackage: path: expected the app directory's path, found an empty one",
                "give the directory that holds app.yaml, e.g. AppPackage('/srv/apps/blog')",
            )
        _refuse_empty("environment", environment)
        _refuse_empty("state_dir", state_dir)
        # The gateway refuses it too (APPPKG_STATE_DIR_EMPTY), with status 2, which describe's
        # caller below takes for a gateway too old for --sys-path.
        if state_dir is None and os.environ.get("APPPKG_STATE_DIR") == "":
            raise EmptyPath(
                "AppPackage: APPPKG_STATE_DIR is set, to an empty value, which names no state root",
                "set it to the state root to use, pass state_dir=DIR, or unset it for the default: an empty value is never taken for the default",
            )
        self.path = os.path.abspath(os.fspath(path))
        self.environment = environment
        self.state_dir = state_dir
        record = recorded_for(self.path) if environment is None and state_dir is None else None
        if record is None:
            # A missing directory, or a file, too: the CLI says it (APPPKG_CALLER=python names
            # AppPackage), in the words `apppkg-gateway check` has for it.
            record = gateway_cli.describe(self.path, environment, state_dir)
        # The normalised description, exactly what `apppkg-gateway describe` prints.
        self.config = record["description"]
        # The program that runs the app's Python (the virtualenv's, when `pip:` is used).
        self.executable = record["executable"]
        # What the gateway puts first on sys.path, in order: the app directory, each of
        # `paths`, the virtualenv's site-packages (.pth files not yet expanded).
        self.sys_path = list(record["sysPath"])
        # Inside the app's processes: PATH and PYTHONPATH of its commands; else None (the
        # gateway's `run` sets up the environment).
        self._command_env = record["commandEnv"]

    @property
    def name(self):
        return self.config["name"]

    @property
    def version(self):
        """The NAME.VERSION directory suffix, or None."""
        return self.config["version"]

    def __repr__(self):
        return "<AppPackage %s %s at %s>" % (self.name, self.version or "(no version)", self.path)

    def load_object(self, ref):
        """Import `module:object` (dotted object allowed; default `application`) with the app's
        sys.path first, as the gateway's workers have it; the callable."""
        return load_object(ref, self.sys_path)

    def run_command(self, name):
        """Run `commands.NAME` in the app's environment (`/bin/sh -c`, in the app directory) as
        JavaScript's AppPackage.runCommand(NAME) does: test and check in development; install,
        update and uninstall as the gateway runs its hooks (production, as root the app's user).
        Its exit status (128+N when killed by signal N, as a shell says). backup and restore are
        refused: only the gateway's backup and restore commands give them their directory."""
        commands = self.config.get("commands") or {}
        command = commands.get(name)
        if command is None:
            have = ", ".join("commands.%s" % key for key in sorted(commands)) or "no commands"
            raise CommandNotFound(
                "app %r has no commands.%s in %s (it has %s)" % (self.name, name, self.config["file"], have),
                _HOOKLESS_BACKUP[name] % shlex.quote(self.path) if name in _HOOKLESS_BACKUP
                else "add it to app.yaml: `commands: {%s: SHELL COMMAND}`" % name,
            )
        # `apppkg-gateway run` has no way to give a hook APPPKG_BACKUP_DIR (ours is not passed on):
        # the hook would dump into, or load from, "" (the app directory).
        if name in _NEEDS_BACKUP_DIRECTORY:
            command_line, also = _NEEDS_BACKUP_DIRECTORY[name]
            raise CommandNeedsBackupDirectory(
                "run_command(%r) cannot give commands.%s its APPPKG_BACKUP_DIR: it would run with none, in %s" % (name, name, self.config["dir"]),
                "run `%s`, which also %s" % (command_line % shlex.quote(self.path), also),
            )
        # Our buffered output first, so that it and the command's come out in order.
        sys.stdout.flush()
        sys.stderr.flush()
        if self._command_env is None:
            # The gateway's own runCommand: its mode, user and test databases are the library's
            # (through `run -- sh -c`, an install hook ran in development, as the caller).
            status = gateway_cli.run_command(self.path, name, self.environment, self.state_dir)
        else:
            env = dict(os.environ)
            env.update(self._command_env)
            status = subprocess.call(["/bin/sh", "-c", command], cwd=self.config["dir"], env=env)
        return 128 - status if status < 0 else status
