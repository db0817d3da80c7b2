"""Parsing of dates, datetimes and intervals as they appear in the config and in STAC items.

Rules: a timestamp without a timezone is UTC; an interval is ``start/end`` with ``..`` (or an
empty side) for an open end; a bare date as the end of an interval covers that whole day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone

_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_YEAR_MONTH = re.compile(r"^\d{4}-\d{2}$")
_YEAR = re.compile(r"^\d{4}$")


def as_utc(value: datetime) -> datetime:
    """Return ``value`` as an aware UTC datetime (naive values are taken to be UTC)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def parse_datetime(text: str) -> datetime:
    """Parse an RFC 3339 / ISO 8601 timestamp or a date; naive means UTC.

    Raises ``ValueError`` with the offending text.
    """
    cleaned = text.strip()
    if cleaned.endswith(("Z", "z")):
        cleaned = cleaned[:-1] + "+00:00"
    try:
        if _DATE_ONLY.match(cleaned):
            return datetime.combine(date.fromisoformat(cleaned), time(), tzinfo=timezone.utc)
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
            next_month = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=timezone.utc)
            return next_month - timedelta(microseconds=1)
        if _YEAR.match(cleaned):
            return datetime(int(cleaned) + 1, 1, 1, tzinfo=timezone.utc) - timedelta(microseconds=1)
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


def parse_interval(text: str) -> Interval:
    """Parse ``start/end`` (either side may be ``..``), or a single date/datetime.

    A single date (``2021-06-01``), month (``2021-06``) or year covers that whole period.
    Raises ``ValueError`` naming the bad part.
    """
    if "/" in text:
        start_text, _, end_text = text.partition("/")
    else:
        start_text = end_text = text
    start = _parse_bound(start_text, is_end=False)
    end = _parse_bound(end_text, is_end=True)
    if start is not None and end is not None and start > end:
        raise ValueError(f"interval {text!r} ends before it starts")
    return Interval(start, end)


def iso_z(moment: datetime) -> str:
    """Format an aware datetime as ISO 8601 UTC with a trailing ``Z`` (no microseconds if zero)."""
    utc = as_utc(moment)
    text = utc.replace(tzinfo=None).isoformat()
    return text + "Z"
