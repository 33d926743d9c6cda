"""The apppkg-gateway command, for a process the gateway did not start: `describe --sys-path`
gives the description and sys.path (Python has no YAML parser in its stdlib, and app.yaml is
read one way only: by the gateway), `run --command` runs one of the app's commands as the
gateway's library does.

Which command: $APPPKG_GATEWAY (a path), else bin/apppkg-gateway of the npm package when this
module was loaded from that package's python-shim/, else the one whose python-shim/ the
installed wheel was built from, else `apppkg-gateway` on PATH.
"""

import json
import os
import shutil
import signal
import subprocess
import sys

from .errors import DescriptionUnavailable, GatewayNotFound, GatewayTooOld

GATEWAY_ENV = "APPPKG_GATEWAY"
# `describe --sys-path` probes the host's interpreters (seconds on a busy host); two minutes means hung.
DESCRIBE_TIMEOUT_S = 120
_SHIM_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Output read as text: capture_output= and text= are 3.7's spellings, and the library runs on 3.6.
_CAPTURED = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "universal_newlines": True}


def find_gateway():
    """The command to run, or GatewayNotFound naming every place looked at."""
    named = os.environ.get(GATEWAY_ENV)
    if named:
        return named
    tried = ["$%s (not set)" % GATEWAY_ENV]
    # python-shim/ beside bin/ is the npm package's layout; a pip-installed apppkg has neither.
    if os.path.isfile(os.path.join(_SHIM_DIR, "apppkg_shim_main.py")):
        beside = os.path.join(os.path.dirname(_SHIM_DIR), "bin", "apppkg-gateway")
        if os.access(beside, os.X_OK):
            return beside
        tried.append("%s (not there)" % beside)
    try:
        from ._built_from import GATEWAY as built_from
    except ImportError:  # loaded from the source tree, not an installed wheel
        built_from = None
    if built_from:
        if os.access(built_from, os.X_OK):
            return built_from
        tried.append("%s (built from there; gone)" % built_from)
    on_path = shutil.which("apppkg-gateway")
    if on_path:
        return on_path
    tried.append("apppkg-gateway on PATH (not found)")
    raise GatewayNotFound(
        "cannot find the apppkg-gateway command: tried %s" % ", ".join(tried),
        "install apppkg-gateway (npm install -g apppkg-gateway), or set %s to its path" % GATEWAY_ENV,
    )


def _caller_env():
    """The environment the CLI runs in: ours, and APPPKG_CALLER=python, so that its errors (which
    reach our caller: run_command passes its stderr on) name `state_dir=` and `environment=`, the
    arguments our caller gave, not the flags we passed for them. No command it runs sees it."""
    env = dict(os.environ)
    env["APPPKG_CALLER"] = "python"
    return env


def describe(path, environment=None, state_dir=None):
    """{"description", "executable", "sysPath", "commandEnv": None} from `describe --sys-path`."""
    argv = [find_gateway(), "describe", path, "--sys-path"] + _app_options(environment, state_dir)
    try:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, timeout=DESCRIBE_TIMEOUT_S, env=_caller_env(), **_CAPTURED)
    except OSError as exc:
        raise _cannot_run(argv[0], exc)
    except subprocess.TimeoutExpired:
        raise DescriptionUnavailable(
            "`%s` did not finish within %d s" % (" ".join(argv), DESCRIBE_TIMEOUT_S),
            "run that command yourself to see where it hangs",
        )
    if done.returncode != 0:
        said = "\n".join("    " + line for line in done.stderr.strip().splitlines()) or "    (nothing on stderr)"
        fix = "the gateway's own message above says what to change"
        if done.returncode == 2:
            fix = "a usage error: an apppkg-gateway older than this library has no --sys-path; upgrade it or point %s at a newer one" % GATEWAY_ENV
        raise DescriptionUnavailable("`%s` failed with status %d:\n%s" % (" ".join(argv), done.returncode, said), fix)
    try:
        printed = json.loads(done.stdout)
        executable = printed.pop("executable")
        sys_path = printed.pop("sysPath")
    except (ValueError, KeyError, AttributeError):
        raise DescriptionUnavailable(
            "`%s` printed no description with executable and sysPath: %r" % (" ".join(argv), done.stdout[:200]),
            "point %s at an apppkg-gateway as new as this library" % GATEWAY_ENV,
        )
    return {"description": printed, "executable": executable, "sysPath": sys_path, "commandEnv": None}


def run_command(path, name, environment=None, state_dir=None):
    """`apppkg-gateway run PATH --command NAME`, which is JavaScript's AppPackage.runCommand(NAME):
    its exit status (the command's)."""
    gateway = find_gateway()
    try:
        status = subprocess.call(
            [gateway, "run", path] + _app_options(environment, state_dir) + ["--command", name],
            env=_caller_env(),
            preexec_fn=_ends_with_us(),
        )
    except OSError as exc:
        raise _cannot_run(gateway, exc)
    # 2 is also a usage error of the CLI; a gateway from before `run --command` says only
    # "unknown option --command", which reads as this library's mistake. Asked only then, since
    # the command's own status may be 2 as well.
    if status == 2 and not _knows_run_command(gateway):
        raise GatewayTooOld(
            "%s has no `run --command` (it is older than this library), so it could not run commands.%s" % (gateway, name),
            "upgrade apppkg-gateway (npm install -g apppkg-gateway), or set %s to a newer one" % GATEWAY_ENV,
        )
    return status


def _ends_with_us():
    """For run_command's CLI: the kernel sends it SIGTERM when this process dies, which it passes
    to the command's process tree before it exits, as `run` does with a SIGTERM of its own. Killed
    while it waited (a supervisor's SIGTERM, which Python does not catch; SIGKILL), this process
    left the CLI to init and the app's command running, where JavaScript's runCommand takes its
    command along. None where there is no prctl (not Linux): the CLI is then left as before."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (ImportError, OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm():
        # In the child between fork and exec: nothing here may take a lock another thread holds.
        prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG; it outlives the exec
        # Died before the prctl: the kernel sends nothing for a parent already gone.
        if os.getppid() != parent:
            os._exit(128 + signal.SIGTERM)

    return arm


def _knows_run_command(gateway):
    try:
        done = subprocess.run([gateway, "run", "--help"], stdin=subprocess.DEVNULL, timeout=DESCRIBE_TIMEOUT_S, **_CAPTURED)
    except (OSError, subprocess.TimeoutExpired):
        return True  # nothing to tell: the first call's own message stands
    return "--command" in done.stdout


def _app_options(environment, state_dir):
    options = []
    if environment is not None:
        options += ["--environment", os.fspath(environment)]
    if state_dir is not None:
        options += ["--state-dir", os.fspath(state_dir)]
    return options


def _cannot_run(gateway, exc):
    return GatewayNotFound(
        "cannot run the apppkg-gateway command %s: %s" % (gateway, exc),
        "install apppkg-gateway (npm install -g apppkg-gateway), or set %s to its path" % GATEWAY_ENV,
    )
