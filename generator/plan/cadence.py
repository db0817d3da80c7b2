"""Honest time: a series' time step (cadence) and "no data" frames for the steps it misses.

This module owns calendar-aware stepping (a monthly step is one month, so Jan 31 → Feb 28 is one
step), the detection of a series' cadence from the configuration, from the STAC collection's
``dashboard:time_density`` or from the datetimes themselves, the grouping of frames that fall in
the same period, and the insertion of gap frames for missing periods. Pure logic, no I/O.

All periods are computed in UTC: a datetime is first converted with ``generator.core.dates.as_utc``.
"""

from __future__ import annotations

import calendar
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Literal, get_args

from generator.core.dates import as_utc
from generator.core.errors import ConfigError
from generator.core.model import FramePlan

Cadence = Literal["daily", "weekly", "monthly", "yearly"]

CADENCES: tuple[Cadence, ...] = get_args(Cadence)
# Values the configuration's ``render.cadence`` accepts.
CADENCE_CHOICES: tuple[str, ...] = (*CADENCES, "none", "auto")

# ``dashboard:time_density`` values (VEDA uses day/month/year) mapped to our cadences.
_TIME_DENSITY_CADENCES: dict[str, Cadence] = {
    "day": "daily",
    "week": "weekly",
    "month": "monthly",
    "year": "yearly",
}

# Detection tries the coarsest step first, so a yearly series is not reported as "every 12 months".
_DETECTION_ORDER: tuple[Cadence, ...] = ("yearly", "monthly", "weekly", "daily")
_MIN_DATES_TO_DETECT = 3


def is_month_end(moment: datetime) -> bool:
    """True when ``moment`` falls on the last day of its month."""
    return moment.day == calendar.monthrange(moment.year, moment.month)[1]


def _add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(month_index, 12)
    month += 1
    last_day = calendar.monthrange(year, month)[1]
    # A month-end series stays on month ends (Feb 28 → Mar 31); other days are clamped to the
    # target month's length (Jan 31 → Feb 28).
    day = last_day if is_month_end(moment) else min(moment.day, last_day)
    return moment.replace(year=year, month=month, day=day)


def add_steps(moment: datetime, cadence: Cadence, n: int) -> datetime:
    """``moment`` moved by ``n`` calendar steps of ``cadence`` (``n`` may be negative).

    Time of day and timezone are kept. Monthly and yearly steps use month arithmetic: a day
    that does not exist in the target month is clamped to its last day, and a month-end date
    stays a month-end date.
    """
    if cadence == "daily":
        return moment + timedelta(days=n)
    if cadence == "weekly":
        return moment + timedelta(weeks=n)
    if cadence == "monthly":
        return _add_months(moment, n)
    if cadence == "yearly":
        return _add_months(moment, 12 * n)
    raise ValueError(f"unknown cadence {cadence!r}; expected one of {', '.join(CADENCES)}")


def period_key(moment: datetime, cadence: Cadence) -> tuple[int, ...]:
    """The period (in UTC) that ``moment`` falls in, for grouping the items of one step.

    daily → (year, month, day); weekly → ISO (year, week), weeks starting on Monday;
    monthly → (year, month); yearly → (year,).
    """
    utc = as_utc(moment)
    if cadence == "daily":
        return (utc.year, utc.month, utc.day)
    if cadence == "weekly":
        iso = utc.isocalendar()
        return (iso.year, iso.week)
    if cadence == "monthly":
        return (utc.year, utc.month)
    if cadence == "yearly":
        return (utc.year,)
    raise ValueError(f"unknown cadence {cadence!r}; expected one of {', '.join(CADENCES)}")


def _period_index(moment: datetime, cadence: Cadence) -> int:
    """A running number of ``moment``'s period, so that consecutive periods differ by one."""
    utc = as_utc(moment)
    if cadence == "daily":
        return utc.toordinal()
    if cadence == "weekly":
        # Ordinal 1 (0001-01-01) is a Monday, so these weeks line up with ISO weeks.
        return (utc.toordinal() - 1) // 7
    if cadence == "monthly":
        return utc.year * 12 + utc.month - 1
    if cadence == "yearly":
        return utc.year
    raise ValueError(f"unknown cadence {cadence!r}; expected one of {', '.join(CADENCES)}")


def _whole_steps_between(earlier: datetime, later: datetime, cadence: Cadence) -> int | None:
    """How many whole ``cadence`` steps lead from ``earlier`` to ``later``; None if not whole.

    Checked in both directions because clamping is one-way: Jan 30 → Feb 28 is one month
    forwards, and Feb 28 → Mar 30 is one month backwards from Mar 30.
    """
    steps = _period_index(later, cadence) - _period_index(earlier, cadence)
    if steps < 1:
        return None
    if add_steps(earlier, cadence, steps) == later or add_steps(later, cadence, -steps) == earlier:
        return steps
    return None


def _one_step_is_most_common(step_counts: Sequence[int]) -> bool:
    counts = Counter(step_counts)
    single_steps = counts.get(1, 0)
    if single_steps == 0:
        return False
    largest_other = max((count for steps, count in counts.items() if steps != 1), default=0)
    if single_steps > largest_other:
        return True
    # A tie still counts when single steps are at least half the gaps (three dates, one hole),
    # but not for a spread of unrelated gaps such as 1, 3, 10 and 11 days.
    return single_steps == largest_other and 2 * single_steps >= len(step_counts)


def _fits(moments: Sequence[datetime], cadence: Cadence) -> bool:
    step_counts: list[int] = []
    for earlier, later in pairwise(moments):
        steps = _whole_steps_between(earlier, later, cadence)
        if steps is None:
            return False
        step_counts.append(steps)
    return _one_step_is_most_common(step_counts)


def infer_cadence(datetimes: Sequence[datetime]) -> Cadence | None:
    """The calendar step of a series, from its datetimes alone; None when irregular or too short.

    A cadence is accepted when every gap between consecutive (sorted, unique, UTC) datetimes is
    a whole number of its steps, time of day included, and a single step is the most common gap.
    """
    moments = sorted({as_utc(moment) for moment in datetimes})
    if len(moments) < _MIN_DATES_TO_DETECT:
        return None
    for cadence in _DETECTION_ORDER:
        if _fits(moments, cadence):
            return cadence
    return None


def parse_cadence_setting(value: str) -> Cadence | Literal["none", "auto"]:
    """Validate a ``render.cadence`` setting (case-insensitive)."""
    cleaned = value.strip().lower()
    if cleaned not in CADENCE_CHOICES:
        raise ConfigError(
            f"render.cadence: {value!r} is not a cadence; use one of {', '.join(CADENCE_CHOICES)}"
        )
    return cleaned  # type: ignore[return-value]


def cadence_from_time_density(time_density: str | None) -> Cadence | None:
    """Our cadence for a STAC ``dashboard:time_density`` value; None when absent or unknown."""
    if time_density is None:
        return None
    cleaned = time_density.strip().lower()
    if cleaned in CADENCES:
        return cleaned
    return _TIME_DENSITY_CADENCES.get(cleaned)


def detect_cadence(
    datetimes: Sequence[datetime],
    *,
    time_density: str | None = None,
    override: str | None = None,
) -> Cadence | None:
    """The cadence to animate a series with, or None for "just show the frames as they come".

    Precedence: ``override`` (the config's ``render.cadence``; "none" → None, "auto" → go on
    detecting), then the collection's ``dashboard:time_density`` when it is a known value,
    then ``infer_cadence`` on the datetimes. Raises ``ConfigError`` for an unknown override.
    """
    if override is not None:
        setting = parse_cadence_setting(override)
        if setting == "none":
            return None
        if setting != "auto":
            return setting
    declared = cadence_from_time_density(time_density)
    if declared is not None:
        return declared
    return infer_cadence(datetimes)


def _sorted_by_time(frames: Sequence[FramePlan]) -> list[FramePlan]:
    # Stable sort: frames at the same instant keep the order they were planned in.
    return sorted(frames, key=lambda frame: as_utc(frame.datetime))


def fill_gaps(frames: Sequence[FramePlan], cadence: Cadence | None) -> list[FramePlan]:
    """``frames`` in time order with a gap frame (``kind="gap"``, no items) for every missing step.

    A step is missing when no frame falls in its period (see ``period_key``) between the first
    and the last frame. A gap frame's datetime is the preceding frame's datetime moved by whole
    steps, so gaps line up with the series. Several frames in one period are left as they are;
    ``merge_same_period`` combines them. With no cadence the frames are returned unchanged.
    """
    if cadence is None or len(frames) < 2:
        return list(frames)
    ordered = _sorted_by_time(frames)
    filled: list[FramePlan] = [ordered[0]]
    for previous, current in pairwise(ordered):
        anchor = as_utc(previous.datetime)
        steps_apart = _period_index(current.datetime, cadence) - _period_index(anchor, cadence)
        for step in range(1, steps_apart):
            gap_moment = add_steps(anchor, cadence, step)
            filled.append(FramePlan(datetime=gap_moment, items=(), kind="gap"))
        filled.append(current)
    return filled


def _merge_group(group: Sequence[FramePlan]) -> FramePlan:
    if len(group) == 1:
        return group[0]
    items = tuple(item for frame in group for item in frame.items)
    return FramePlan(datetime=group[0].datetime, items=items, kind="data" if items else "gap")


def merge_same_period(frames: Sequence[FramePlan], cadence: Cadence | None) -> list[FramePlan]:
    """Combine frames whose datetimes fall in the same ``cadence`` period into one frame.

    The merged frame takes the earliest datetime and the items of all its frames, earlier
    frames' items first; ``plan.composite`` then ranks them (the renderer keeps the first valid
    pixel, so the first-ranked item wins where they overlap).
    With no cadence the frames are returned unchanged.
    """
    if cadence is None:
        return list(frames)
    groups: list[list[FramePlan]] = []
    last_key: tuple[int, ...] | None = None
    for frame in _sorted_by_time(frames):
        key = period_key(frame.datetime, cadence)
        if groups and key == last_key:
            groups[-1].append(frame)
        else:
            groups.append([frame])
            last_key = key
    return [_merge_group(group) for group in groups]
