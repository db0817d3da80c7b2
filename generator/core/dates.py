"""Parsing of dates, datetimes and intervals as they appear in the config and in STAC items.

Rules: a timestamp without a timezone is UTC; an interval is ``start/end`` with ``..`` (or an
empty side) for an open end; a bare date as the end of an interval covers that whole day.
Rolling windows use ISO 8601 durations: ``P24M/..`` (or just ``P24M``) is the last 24 months up
to now, ``2020-01/P1Y`` a year from a start, ``P1Y/2022-12-31`` a year up to an end.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_YEAR_MONTH = re.compile(r"^\d{4}-\d{2}$")
_YEAR = re.compile(r"^\d{4}$")
_DURATION = re.compile(
    r"^P(?!$)(?:(?P<years>\d+)Y)?(?:(?P<months>\d+)M)?(?:(?P<weeks>\d+)W)?(?:(?P<days>\d+)D)?"
    r"(?:T(?=\d)(?:(?P<hours>\d+)H)?(?:(?P<minutes>\d+)M)?(?:(?P<seconds>\d+)S)?)?$"
)


@dataclass(frozen=True)
class Duration:
    """An ISO 8601 duration: calendar months (years count 12) plus an exact time span."""

    months: int
    span: timedelta

    def before(self, moment: datetime) -> datetime:
        return add_months(moment, -self.months) - self.span

    def after(self, moment: datetime) -> datetime:
        return add_months(moment, self.months) + self.span


def parse_duration(text: str) -> Duration | None:
    """``P24M`` → Duration(24 months); ``None`` when ``text`` is not a duration."""
    match = _DURATION.match(text.strip().upper())
    if match is None:
        return None
    part = {name: int(value or 0) for name, value in match.groupdict().items()}
    span = timedelta(
        weeks=part["weeks"], days=part["days"], hours=part["hours"], minutes=part["minutes"], seconds=part["seconds"]
    )
    duration = Duration(months=12 * part["years"] + part["months"], span=span)
    if duration.months == 0 and not span:
        raise ValueError(f"duration {text!r} is zero")
    return duration


def add_months(moment: datetime, months: int) -> datetime:
    """Calendar arithmetic: the same day-of-month ``months`` later, clamped to the month's end."""
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    day = min(moment.day, calendar.monthrange(year, month + 1)[1])
    return moment.replace(year=year, month=month + 1, day=day)


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def parse_datetime(text: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 timestamp or a date; naive means UTC.

    Raises ``ValueError`` with the offending text.
    """
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        if _DATE_ONLY.match(cleaned):
            return datetime.combine(date.fromisoformat(cleaned), time(), tzinfo=UTC)
        return as_utc(datetime.fromisoformat(cleaned))
    except ValueError:
        raise ValueError(f"not a date or RFC 3339 datetime: {text!r}") from None


def _parse_bound(text: str, *, is_end: bool) -> datetime | None:
    cleaned = text.strip()
    if cleaned in ("", ".."):
        return None
    if is_end:
        # A date-like end covers its whole period, so "2022-12-31" includes 23:59 on that day.
        if _DATE_ONLY.match(cleaned):
            start = parse_datetime(cleaned)
            return start + timedelta(days=1) - timedelta(microseconds=1)
        if _YEAR_MONTH.match(cleaned):
            year, month = (int(part) for part in cleaned.split("-"))
            next_month = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
            return next_month - timedelta(microseconds=1)
        if _YEAR.match(cleaned):
            return datetime(int(cleaned) + 1, 1, 1, tzinfo=UTC) - timedelta(microseconds=1)
    else:
        if _YEAR_MONTH.match(cleaned):
            cleaned += "-01"
        elif _YEAR.match(cleaned):
            cleaned += "-01-01"
    return parse_datetime(cleaned)


@dataclass(frozen=True)
class Interval:
    """A closed time interval; ``None`` on a side means open."""

    start: datetime | None
    end: datetime | None

    def contains(self, moment: datetime) -> bool:
        return (self.start is None or moment >= self.start) and (
            self.end is None or moment <= self.end
        )

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return (self.end is None or start <= self.end) and (self.start is None or end >= self.start)


def parse_interval(text: str, now: datetime | None = None) -> Interval:
    """Parse ``start/end`` (either side may be ``..``), a single date/datetime, or a rolling window.

    A single date (``2021-06-01``), month (``2021-06``) or year covers that whole period. A
    duration on one side is measured from the other side; ``P24M/..`` or ``P24M`` alone ends at
    ``now`` (default: the current time), so a scheduled rebuild always shows the latest window.
    Raises ``ValueError`` naming the bad part.
    """
    if "/" in text:
        start_text, _, end_text = text.partition("/")
    else:
        start_text = end_text = text
    start_duration = parse_duration(start_text) if start_text.strip() not in ("", "..") else None
    end_duration = parse_duration(end_text) if end_text.strip() not in ("", "..") else None
    if start_duration is not None or end_duration is not None:
        return _duration_interval(text, start_text, end_text, start_duration, end_duration, now)
    start = _parse_bound(start_text, is_end=False)
    end = _parse_bound(end_text, is_end=True)
    if start is not None and end is not None and start > end:
        raise ValueError(f"interval {text!r} ends before it starts")
    return Interval(start, end)


def _duration_interval(
    text: str,
    start_text: str,
    end_text: str,
    start_duration: Duration | None,
    end_duration: Duration | None,
    now: datetime | None,
) -> Interval:
    if start_duration is not None and end_duration is not None and "/" in text:
        raise ValueError(f"interval {text!r} has a duration on both sides; give a date on one side")
    if start_duration is not None:
        # "P24M/..", "P24M" (no slash) and "P1Y/2022-12-31": a window ending at `now` or at the end.
        end = _parse_bound(end_text, is_end=True) if "/" in text else None
        if end is None:
            return Interval(start_duration.before(as_utc(now or datetime.now(UTC))), None)
        # Count back from the instant after the end, so "P1Y/2022-12-31" is exactly the year 2022.
        return Interval(start_duration.before(end + timedelta(microseconds=1)), end)
    assert end_duration is not None
    start = _parse_bound(start_text, is_end=False)
    if start is None:
        raise ValueError(
            f"interval {text!r}: a duration after '..' has nothing to count from; "
            f"use e.g. '{end_text.strip()}/..' for the last {end_text.strip()} up to now"
        )
    # "2020-01/P1Y" is the year starting 2020-01-01, excluding the next year's first instant.
    return Interval(start, end_duration.after(start) - timedelta(microseconds=1))


def iso_z(moment: datetime) -> str:
    """Format an aware datetime as ISO 8601 UTC with a trailing ``Z`` (no microseconds if zero)."""
    utc = as_utc(moment)
    text = utc.replace(tzinfo=None).isoformat()
    return text + "Z"
