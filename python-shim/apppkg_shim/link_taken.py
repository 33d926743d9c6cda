"""Whether the app took the worker's link from it: closed fd 3 or 4 (os.closerange(3, ...), as a
daemonising helper or a "close every descriptor" loop does) or put a file of its own at their
numbers. From inside the shim that looks like the gateway gone, where a worker exits 0 without a
word; the gateway then took the exit for a process gone to the background, and the app's log
never said what the app had done."""

import os

# (fd, st_dev, st_ino) of each link socket as the worker began.
_sockets = []


def remember(socks):
    for sock in socks:
        fd = sock.fileno()
        st = os.fstat(fd)
        _sockets.append((fd, st.st_dev, st.st_ino))


def taken():
    """What the app did to the link (a sentence for the log), or None: it is still ours."""
    lost = []
    for fd, dev, ino in _sockets:
        try:
            st = os.fstat(fd)
        except OSError:
            lost.append("fd %d closed" % fd)
            continue
        if (st.st_dev, st.st_ino) != (dev, ino):
            lost.append("fd %d reused for another file" % fd)
    if not lost:
        return None
    return ("the app closed the link to the gateway (%s): a worker's fds 3 and 4 are its link, and"
            " os.closerange(3, ...) or a loop closing every descriptor closes them too; close only"
            " what the app opened (subprocess closes the rest in its child by itself). The worker"
            " exits and another one starts" % ", ".join(lost))
