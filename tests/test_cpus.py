"""``--jobs`` defaults to the CPUs the process may use: the affinity mask, capped by a cgroup quota.

The cgroup files are written into a temporary folder laid out as ``/sys/fs/cgroup`` is (v2, or
v1's ``cpu/`` controller), with the values containers and CI runners have.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from generator.core.cpus import cgroup_cpu_quota, usable_cpus


def cgroup_v2(root: Path, cpu_max: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "cpu.max").write_text(cpu_max + "\n")
    return root


def cgroup_v1(root: Path, quota: int, period: int = 100_000) -> Path:
    (root / "cpu").mkdir(parents=True, exist_ok=True)
    (root / "cpu" / "cpu.cfs_quota_us").write_text(f"{quota}\n")
    (root / "cpu" / "cpu.cfs_period_us").write_text(f"{period}\n")
    return root


@pytest.mark.parametrize(
    ("cpu_max", "expected"),
    [("max 100000", None), ("200000 100000", 2.0), ("150000 100000", 1.5), ("50000 100000", 0.5)],
)
def test_a_cgroup_v2_quota_in_cpus(tmp_path: Path, cpu_max: str, expected: float | None) -> None:
    assert cgroup_cpu_quota(cgroup_v2(tmp_path, cpu_max)) == expected


@pytest.mark.parametrize(("quota", "expected"), [(-1, None), (400_000, 4.0), (25_000, 0.25)])
def test_a_cgroup_v1_quota_in_cpus(tmp_path: Path, quota: int, expected: float | None) -> None:
    assert cgroup_cpu_quota(cgroup_v1(tmp_path, quota)) == expected


def test_no_cgroup_or_an_unreadable_one_means_no_quota(tmp_path: Path) -> None:
    assert cgroup_cpu_quota(tmp_path / "absent") is None
    assert cgroup_cpu_quota(cgroup_v2(tmp_path / "garbled", "lots please")) is None


def test_the_default_is_the_affinity_mask_capped_by_the_quota_rounded_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    assert usable_cpus(cgroup_v2(tmp_path / "none", "max 100000")) == 64  # a 64-CPU node, no limit
    assert usable_cpus(cgroup_v2(tmp_path / "two", "200000 100000")) == 2  # docker --cpus 2
    assert usable_cpus(cgroup_v2(tmp_path / "half", "150000 100000")) == 2  # 1.5 CPUs: 2 workers
    assert usable_cpus(cgroup_v1(tmp_path / "tiny", 10_000)) == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)  # taskset -c 0-2
    assert usable_cpus(cgroup_v2(tmp_path / "wide", "800000 100000")) == 3


def test_the_command_line_default_of_jobs_is_the_usable_cpus() -> None:
    from generator.cli.main import _parser

    arguments = _parser().parse_args(["build"])
    assert arguments.jobs == usable_cpus()
