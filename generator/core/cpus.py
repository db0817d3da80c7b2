"""How many CPUs this process may use: the default of ``--jobs``.

``os.cpu_count()`` counts the machine's CPUs. In a container with a CPU limit (``docker run
--cpus 2``, a Kubernetes ``limits.cpu``, a CI runner's cgroup) or under ``taskset``, the process
gets fewer: one worker per machine CPU would then only share that quota, each with the memory of
a worker (a 64-CPU node, 2 allowed: 64 workers fighting for 2 CPUs). So the default is the CPUs
the affinity mask allows, capped by the cgroup's CPU quota (v2 ``cpu.max``, v1
``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``, as the container sees its own cgroup), rounded up.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def usable_cpus(cgroup: Path = CGROUP) -> int:
    """CPUs this process may use (at least 1)."""
    affinity = getattr(os, "sched_getaffinity", None)
    count = len(affinity(0)) if affinity is not None else os.cpu_count() or 1
    quota = cgroup_cpu_quota(cgroup)
    if quota is not None:
        count = min(count, math.ceil(quota))
    return max(1, count)


def cgroup_cpu_quota(cgroup: Path = CGROUP) -> float | None:
    """The CPU quota of the cgroup mounted at ``cgroup``, in CPUs; ``None`` when there is none
    (or it cannot be read: no cgroup file system, another OS)."""
    try:
        quota, _, period = (cgroup / "cpu.max").read_text().partition(" ")  # v2: "max 100000" or "200000 100000"
        if quota.strip() == "max":
            return None
        return _ratio(quota, period)
    except (OSError, ValueError):
        pass
    try:  # v1
        return _ratio((cgroup / "cpu" / "cpu.cfs_quota_us").read_text(), (cgroup / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None


def _ratio(quota: str, period: str) -> float | None:
    """``quota / period`` for a positive quota (v1 writes -1 for none)."""
    microseconds, per = int(quota.strip()), int(period.strip())
    return microseconds / per if microseconds > 0 and per > 0 else None
