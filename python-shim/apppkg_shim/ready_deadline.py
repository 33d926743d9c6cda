"""When the gateway's start deadline comes, on this process's monotonic clock.

The gateway sends the deadline as a duration (config readyWithinMs), not as an instant of the
wall clock: a step of the host's clock (NTP after a VM resumes, an admin's `date -s`) between the
spawn and the ASGI lifespan startup moved a wall-clock deadline with it, forward to give the
startup no time at all (the version refused as if it hung), back to give it an hour. The
duration counts from the spawn, as the gateway's does: the interpreter's own start is part of
it. The kernel keeps when this process began on the boot clock (/proc/self/stat's starttime),
which no step of the wall clock moves either.
"""

import os
import time


def _age_seconds():
    """How long ago this process began, by the boot clock; 0.0 where that cannot be read."""
    try:
        with open("/proc/self/stat", "rb") as stat:
            text = stat.read()
        # starttime is the 22nd field; counted after the name, which may hold spaces and ')'.
        start_ticks = int(text[text.rindex(b")") + 2:].split()[19])
        return time.clock_gettime(time.CLOCK_BOOTTIME) - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return 0.0


def ready_deadline(config):
    """(the deadline on time.monotonic(), the whole bound in seconds), or None when the gateway
    gave no deadline."""
    ready_ms = config.get("readyWithinMs")
    if not ready_ms:
        return None
    bound = ready_ms / 1000.0
    age = _age_seconds()
    # An age outside the bound is a clock we misread (the gateway kills at the bound): a deadline
    # counted from now comes after the gateway's, which then alone says the start was too slow.
    if not 0.0 <= age <= bound:
        age = 0.0
    return time.monotonic() - age + bound, bound
