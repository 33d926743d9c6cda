"""What the app started out of the gateway's reach, ended before the worker exits.

Once the worker has exited, the gateway ends what it left behind: its process group, and every
process whose environment carries the tree's mark (APPPKG_TREE; src/supervisor/process-group.ts),
SIGTERM then SIGKILL 3 s later. A child in a session of its own with its environment cleared
(subprocess.Popen(start_new_session=True, env={...})) is neither: the worker's exit hands it to
init, and it outlived the gateway (SPEC 4: no orphan processes, ever). While the worker runs, it
is the worker's child: such children, and what they started, get the same SIGTERM (and SIGCONT)
and grace before SIGKILL here, as the worker's last act. Linux only (/proc); elsewhere, nothing.
"""

import os
import signal
import time

TREE_MARK = "APPPKG_TREE"
# The gateway's own grace for what a worker leaves behind (LEFT_BEHIND_GRACE_MS, child.ts).
GRACE_SECONDS = 3.0
POLL_SECONDS = 0.05


def end_out_of_reach(mark):
    """SIGTERM (and SIGCONT) to this process's children that neither its group nor `mark` (the
    tree's APPPKG_TREE, as the worker started) reaches, and to what they started; SIGKILL to
    those still there after GRACE_SECONDS. Returns at once when there are none."""
    if not os.path.isdir("/proc/self/task"):
        return
    needle = ("%s=%s" % (TREE_MARK, mark)).encode() if mark else None
    group = os.getpgrp()
    roots = [pid for pid in _children(os.getpid()) if _out_of_reach(pid, group, needle)]
    if not roots:
        return
    # Read before any signal: a child that exits hands what it started to init.
    tree = {}
    for pid in roots + _descendants(roots):
        start = _start_time(pid)
        if start is not None:
            tree[pid] = start
    for signum in (signal.SIGTERM, signal.SIGCONT):
        _signal(tree, signum)
    deadline = time.monotonic() + GRACE_SECONDS
    while _running(tree) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    _signal(tree, signal.SIGKILL)


def _out_of_reach(pid, group, needle):
    if _state(pid) in (None, "Z"):
        return False  # exited (its environ reads empty), or gone
    try:
        if os.getpgid(pid) == group:
            return False
        with open("/proc/%d/environ" % pid, "rb") as f:
            environ = f.read()
    except OSError:
        return False  # gone meanwhile
    return needle is None or needle not in environ.split(b"\0")


def _children(pid):
    """`pid`'s children: each of its threads' /proc/PID/task/TID/children, or, on a kernel built
    without those files (CONFIG_PROC_CHILDREN), every process's parent."""
    if not os.path.exists("/proc/self/task/%d/children" % os.getpid()):
        return [child for child, parent in _parents() if parent == pid]
    found = []
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return found  # gone meanwhile
    for task in tasks:
        try:
            with open("/proc/%d/task/%s/children" % (pid, task)) as f:
                found.extend(int(child) for child in f.read().split())
        except OSError:
            pass  # the thread ended meanwhile
    return found


def _parents():
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat_fields(int(entry))
            if fields is not None:
                yield int(entry), int(fields[1])


def _descendants(pids):
    found = []
    for pid in pids:
        for child in _children(pid):
            found.append(child)
            found.extend(_descendants([child]))
    return found


def _stat_fields(pid):
    """/proc/PID/stat from field 3 (the state) on: the command name before it may hold spaces and ')'."""
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            stat = f.read()
    except OSError:
        return None
    return stat[stat.rfind(b")") + 2:].decode("latin-1").split(" ")


def _state(pid):
    fields = _stat_fields(pid)
    return fields[0] if fields else None


def _start_time(pid):
    fields = _stat_fields(pid)
    return fields[19] if fields and len(fields) > 19 else None


def _same(pid, start):
    """Whether `pid` is still the process that had start time `start` (not one that reused its pid), and has not exited."""
    fields = _stat_fields(pid)
    return fields is not None and len(fields) > 19 and fields[19] == start and fields[0] != "Z"


def _running(tree):
    return any(_same(pid, start) for pid, start in tree.items())


def _signal(tree, signum):
    for pid, start in tree.items():
        if _same(pid, start):
            try:
                os.kill(pid, signum)
            except OSError:
                pass  # gone meanwhile
