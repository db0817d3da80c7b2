"""Cadence detection, calendar stepping, gap frames and same-period merging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from generator.core.errors import ConfigError
from generator.core.model import FramePlan, ItemAsset
from generator.plan.cadence import (
    add_steps,
    detect_cadence,
    fill_gaps,
    infer_cadence,
    merge_same_period,
    period_key,
)

UTC = UTC


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def data_frame(moment: datetime, *item_ids: str) -> FramePlan:
    ids = item_ids or (moment.strftime("scene-%Y%m%dT%H%M"),)
    items = tuple(ItemAsset(item_id=i, datetime=moment, href=f"{i}.tif") for i in ids)
    return FramePlan(datetime=moment, items=items)


def frame_summary(frames: list[FramePlan]) -> list[tuple[datetime, str, tuple[str, ...]]]:
    return [(f.datetime, f.kind, tuple(item.item_id for item in f.items)) for f in frames]


# --- add_steps -------------------------------------------------------------------------------


def test_month_step_from_january_31_lands_on_february_28() -> None:
    assert add_steps(utc(2021, 1, 31), "monthly", 1) == utc(2021, 2, 28)
    assert add_steps(utc(2020, 1, 31), "monthly", 1) == utc(2020, 2, 29)


def test_month_end_stays_month_end_and_mid_month_is_kept() -> None:
    assert add_steps(utc(2021, 2, 28), "monthly", 1) == utc(2021, 3, 31)
    assert add_steps(utc(2021, 4, 30), "monthly", 1) == utc(2021, 5, 31)
    assert add_steps(utc(2021, 1, 15, 10, 30), "monthly", 13) == utc(2022, 2, 15, 10, 30)
    assert add_steps(utc(2021, 3, 15), "monthly", -3) == utc(2020, 12, 15)


def test_daily_weekly_yearly_steps() -> None:
    assert add_steps(utc(2021, 12, 31), "daily", 1) == utc(2022, 1, 1)
    assert add_steps(utc(2021, 12, 27), "weekly", 2) == utc(2022, 1, 10)
    assert add_steps(utc(2020, 2, 29), "yearly", 1) == utc(2021, 2, 28)
    assert add_steps(utc(2019, 7, 1), "yearly", 3) == utc(2022, 7, 1)


def test_add_steps_keeps_timezone() -> None:
    moved = add_steps(utc(2021, 1, 1), "monthly", 1)
    assert moved.tzinfo is UTC


# --- period_key ------------------------------------------------------------------------------


def test_period_key_per_cadence() -> None:
    moment = utc(2021, 1, 3, 23)  # a Sunday: ISO week 53 of 2020
    assert period_key(moment, "daily") == (2021, 1, 3)
    assert period_key(moment, "weekly") == (2020, 53)
    assert period_key(moment, "monthly") == (2021, 1)
    assert period_key(moment, "yearly") == (2021,)


def test_period_key_uses_utc() -> None:
    # 00:30 on Feb 1 in Paris (UTC+1) is still January 31 in UTC.
    paris = timezone(timedelta(hours=1))
    moment = datetime(2021, 2, 1, 0, 30, tzinfo=paris)
    assert period_key(moment, "monthly") == (2021, 1)
    assert period_key(moment, "daily") == (2021, 1, 31)


# --- detection from datetimes ----------------------------------------------------------------


def test_monthly_series_with_a_missing_month_is_monthly() -> None:
    months = [1, 2, 3, 5, 6, 7]  # April missing
    assert infer_cadence([utc(2021, m, 1) for m in months]) == "monthly"


def test_mid_month_series_is_monthly() -> None:
    assert infer_cadence([utc(2021, m, 15, 10, 30) for m in range(1, 7)]) == "monthly"


def test_month_end_series_is_monthly() -> None:
    month_ends = [
        utc(2021, 1, 31), utc(2021, 2, 28), utc(2021, 3, 31), utc(2021, 4, 30), utc(2021, 5, 31)
    ]
    assert infer_cadence(month_ends) == "monthly"


def test_series_on_the_30th_through_february_is_monthly() -> None:
    dates = [utc(2021, 1, 30), utc(2021, 2, 28), utc(2021, 3, 30), utc(2021, 4, 30)]
    assert infer_cadence(dates) == "monthly"


def test_daily_weekly_yearly_series() -> None:
    daily = [utc(2021, 12, 30), utc(2021, 12, 31), utc(2022, 1, 1), utc(2022, 1, 3)]
    weekly = [utc(2021, 3, 3), utc(2021, 3, 10), utc(2021, 3, 17), utc(2021, 3, 31)]
    yearly = [utc(2018, 1, 1), utc(2019, 1, 1), utc(2020, 1, 1), utc(2022, 1, 1)]
    assert infer_cadence(daily) == "daily"
    assert infer_cadence(weekly) == "weekly"
    assert infer_cadence(yearly) == "yearly"


def test_unsorted_and_repeated_datetimes_are_fine() -> None:
    dates = [utc(2021, 3, 1), utc(2021, 1, 1), utc(2021, 2, 1), utc(2021, 1, 1)]
    assert infer_cadence(dates) == "monthly"


def test_irregular_series_has_no_cadence() -> None:
    start = utc(2021, 1, 1)
    offsets = [0, 1, 4, 14, 25]  # 1, 3, 10 and 11 days apart
    assert infer_cadence([start + timedelta(days=d) for d in offsets]) is None


def test_mixed_times_of_day_have_no_cadence() -> None:
    dates = [utc(2021, 1, 1, 10), utc(2021, 1, 2, 11), utc(2021, 1, 3, 9)]
    assert infer_cadence(dates) is None


def test_hourly_series_has_no_calendar_cadence() -> None:
    assert infer_cadence([utc(2021, 1, 1, hour) for hour in range(6)]) is None


def test_fewer_than_three_dates_has_no_cadence() -> None:
    assert infer_cadence([utc(2021, 1, 1), utc(2021, 2, 1)]) is None
    assert detect_cadence([utc(2021, 1, 1), utc(2021, 2, 1)]) is None


def test_datetimes_in_other_timezones_are_compared_in_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    dates = [datetime(2021, m, 1, 2, 0, tzinfo=plus_two) for m in (1, 2, 3, 4)]  # midnight UTC
    assert infer_cadence(dates) == "monthly"


# --- precedence ------------------------------------------------------------------------------


MONTHLY_DATES = [utc(2021, m, 1) for m in range(1, 7)]


def test_time_density_wins_over_detection_even_with_few_dates() -> None:
    assert detect_cadence(MONTHLY_DATES, time_density="year") == "yearly"
    assert detect_cadence([utc(2021, 1, 1)], time_density="month") == "monthly"
    assert detect_cadence([], time_density="day") == "daily"


def test_unknown_time_density_falls_back_to_detection() -> None:
    assert detect_cadence(MONTHLY_DATES, time_density="fortnight") == "monthly"


def test_override_wins_over_time_density() -> None:
    assert detect_cadence(MONTHLY_DATES, time_density="month", override="weekly") == "weekly"
    assert detect_cadence(MONTHLY_DATES, time_density="month", override="none") is None
    assert detect_cadence([utc(2021, 1, 1)], override="Yearly") == "yearly"


def test_override_auto_defers_to_time_density_then_detection() -> None:
    assert detect_cadence(MONTHLY_DATES, time_density="day", override="auto") == "daily"
    assert detect_cadence(MONTHLY_DATES, override="auto") == "monthly"


def test_unknown_override_is_a_config_error_listing_the_choices() -> None:
    with pytest.raises(ConfigError, match="monthly") as caught:
        detect_cadence(MONTHLY_DATES, override="fortnightly")
    assert "fortnightly" in str(caught.value)


# --- fill_gaps -------------------------------------------------------------------------------


def test_missing_months_become_gap_frames() -> None:
    frames = [data_frame(utc(2021, m, 1), f"m{m}") for m in (1, 2, 5)]
    assert frame_summary(fill_gaps(frames, "monthly")) == [
        (utc(2021, 1, 1), "data", ("m1",)),
        (utc(2021, 2, 1), "data", ("m2",)),
        (utc(2021, 3, 1), "gap", ()),
        (utc(2021, 4, 1), "gap", ()),
        (utc(2021, 5, 1), "data", ("m5",)),
    ]


def test_gap_after_month_end_is_a_month_end() -> None:
    frames = [data_frame(utc(2021, 1, 31), "jan"), data_frame(utc(2021, 3, 31), "mar")]
    assert frame_summary(fill_gaps(frames, "monthly")) == [
        (utc(2021, 1, 31), "data", ("jan",)),
        (utc(2021, 2, 28), "gap", ()),
        (utc(2021, 3, 31), "data", ("mar",)),
    ]


def test_daily_weekly_yearly_gaps_across_year_end() -> None:
    daily = fill_gaps([data_frame(utc(2021, 12, 30, 10)), data_frame(utc(2022, 1, 2, 10))], "daily")
    assert [f.datetime for f in daily if f.kind == "gap"] == [
        utc(2021, 12, 31, 10), utc(2022, 1, 1, 10)
    ]

    weekly = fill_gaps([data_frame(utc(2021, 12, 22)), data_frame(utc(2022, 1, 5))], "weekly")
    assert [f.datetime for f in weekly if f.kind == "gap"] == [utc(2021, 12, 29)]

    yearly = fill_gaps([data_frame(utc(2018, 7, 1)), data_frame(utc(2021, 7, 1))], "yearly")
    assert [f.datetime for f in yearly if f.kind == "gap"] == [utc(2019, 7, 1), utc(2020, 7, 1)]


def test_fill_gaps_sorts_frames_and_leaves_complete_series_alone() -> None:
    frames = [data_frame(utc(2021, m, 1), f"m{m}") for m in (3, 1, 2)]
    filled = fill_gaps(frames, "monthly")
    assert [f.items[0].item_id for f in filled] == ["m1", "m2", "m3"]
    assert all(f.kind == "data" for f in filled)


def test_frames_in_the_same_period_are_not_gaps_and_not_merged() -> None:
    frames = [
        data_frame(utc(2021, 1, 3), "a"), data_frame(utc(2021, 1, 20), "b"), data_frame(utc(2021, 3, 3), "c")
    ]
    assert frame_summary(fill_gaps(frames, "monthly")) == [
        (utc(2021, 1, 3), "data", ("a",)),
        (utc(2021, 1, 20), "data", ("b",)),
        (utc(2021, 2, 20), "gap", ()),
        (utc(2021, 3, 3), "data", ("c",)),
    ]


def test_no_cadence_returns_frames_unchanged() -> None:
    frames = [data_frame(utc(2021, 1, 1)), data_frame(utc(2021, 6, 1))]
    assert fill_gaps(frames, None) == frames
    assert merge_same_period(frames, None) == frames


def test_gap_frames_are_aware_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    frames = [data_frame(datetime(2021, 1, 1, 2, tzinfo=plus_two)), data_frame(utc(2021, 3, 1))]
    gaps = [f for f in fill_gaps(frames, "monthly") if f.kind == "gap"]
    assert [g.datetime for g in gaps] == [utc(2021, 2, 1)]
    assert gaps[0].datetime.utcoffset() == timedelta(0)


# --- merge_same_period -----------------------------------------------------------------------


def test_frames_of_one_month_merge_earliest_items_first() -> None:
    frames = [
        data_frame(utc(2021, 1, 20), "late-jan"),
        data_frame(utc(2021, 1, 5), "early-jan-1", "early-jan-2"),
        data_frame(utc(2021, 2, 10), "feb"),
    ]
    assert frame_summary(merge_same_period(frames, "monthly")) == [
        (utc(2021, 1, 5), "data", ("early-jan-1", "early-jan-2", "late-jan")),
        (utc(2021, 2, 10), "data", ("feb",)),
    ]


def test_merge_then_fill_gives_one_frame_per_month() -> None:
    frames = [
        data_frame(utc(2021, 1, 5), "a"), data_frame(utc(2021, 1, 25), "b"), data_frame(utc(2021, 3, 5), "c")
    ]
    result = fill_gaps(merge_same_period(frames, "monthly"), "monthly")
    assert frame_summary(result) == [
        (utc(2021, 1, 5), "data", ("a", "b")),
        (utc(2021, 2, 5), "gap", ()),
        (utc(2021, 3, 5), "data", ("c",)),
    ]


def test_merge_by_week_uses_monday_start() -> None:
    sunday, monday = utc(2021, 3, 7), utc(2021, 3, 8)
    saturday = utc(2021, 3, 6)
    frames = [data_frame(saturday, "sat"), data_frame(sunday, "sun"), data_frame(monday, "mon")]
    merged = merge_same_period(frames, "weekly")
    assert frame_summary(merged) == [
        (saturday, "data", ("sat", "sun")),
        (monday, "data", ("mon",)),
    ]
