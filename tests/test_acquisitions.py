"""Acquisitions, not files: the items of one overpass make one frame, and `min_coverage`.

Grouping is checked on the real Earth Search Sentinel-2 items committed under tests/data/stac
(five tiles of one Sentinel-2B datatake seconds apart, and tiles of other days), the solar day
on both sides of the date line; `min_coverage` as a pure function and in a build of tiny COGs.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pystac
import pytest
from shapely.geometry import MultiPolygon, box

from generator.core.errors import RenderError
from generator.core.model import CollectionInfo, FramePlan, SourceItem, Style
from generator.core.specs import CollectionSpec, RenderSpec
from generator.engine.build import build
from generator.plan.acquisitions import region_longitude, solar_day
from generator.plan.coverage import apply_min_coverage
from generator.plan.frames import plan_frames
from generator.plan.schedule import time_steps
from generator.render.cache import animation_fingerprint
from generator.sources.regions import Region
from generator.sources.stac_common import source_item

from .conftest import NODATA, FakeItem, column_values, write_catalog, write_cog
from .test_engine import RENDERS

ITEMS = Path(__file__).parent / "data" / "stac" / "earth-search" / "items"
DATATAKE = ("S2B_24MUA_20250731_0_L2A", "S2B_24MUV_20250731_0_L2A", "S2B_24MVV_20250731_0_L2A",
            "S2B_24MWV_20250731_0_L2A", "S2B_24MXV_20250731_0_L2A")
AUTO = RenderSpec()


def earth_search(item_id: str) -> SourceItem:
    return source_item(pystac.Item.from_dict(json.loads((ITEMS / f"{item_id}.json").read_text())))


def steps(items: list[SourceItem], render: RenderSpec = AUTO, longitude: float = -39.0) -> list[FramePlan]:
    return time_steps(plan_frames(items, "red"), None, render, items, longitude)


def ids(frame: FramePlan) -> list[str]:
    return [item.item_id for item in frame.items]


# --- grouping ---------------------------------------------------------------------------------


def test_platform_comes_from_the_item_else_its_constellation() -> None:
    item = earth_search(DATATAKE[0])
    assert item.platform == "sentinel-2b"
    document = json.loads((ITEMS / f"{DATATAKE[0]}.json").read_text())
    del document["properties"]["platform"]
    assert source_item(pystac.Item.from_dict(document)).platform == "sentinel-2"


def test_five_tiles_of_one_pass_are_one_frame() -> None:
    tiles = [earth_search(item_id) for item_id in DATATAKE]
    assert len({tile.datetime for tile in tiles}) == 5  # five timestamps, seconds apart
    (frame,) = steps(tiles)
    earliest = min(tiles, key=lambda tile: tile.datetime)
    assert frame.kind == "data" and frame.datetime == earliest.datetime
    assert ids(frame) == [tile.id for tile in sorted(tiles, key=lambda tile: tile.datetime)]  # earliest wins


def test_cadence_none_keeps_one_frame_per_timestamp() -> None:
    tiles = [earth_search(item_id) for item_id in DATATAKE]
    assert len(steps(tiles, RenderSpec(cadence="none"))) == 5


def test_items_of_different_days_are_separate_frames() -> None:
    tiles = [earth_search(item_id) for item_id in DATATAKE]
    other_day = earth_search("S2A_13TDE_20231008_0_L2A")
    frames = steps([*tiles, other_day])
    assert [ids(frame) for frame in frames][0] == [other_day.id]
    assert len(frames) == 2 and sorted(ids(frames[1])) == sorted(DATATAKE)


def test_two_platforms_on_one_day_stay_two_frames() -> None:
    tiles = [earth_search(item_id) for item_id in DATATAKE[:2]]
    twin = replace(tiles[1], id="S2A_24MUV_20250731_0_L2A", platform="sentinel-2a",
                   datetime=tiles[1].datetime + timedelta(hours=1))
    frames = steps([*tiles, twin])
    assert [ids(frame) for frame in frames] == [list(DATATAKE[:2]), [twin.id]]


def test_explicit_monthly_cadence_mosaics_every_acquisition_of_the_month() -> None:
    tiles = [earth_search(item_id) for item_id in DATATAKE]
    later = replace(tiles[0], id="S2A_24MUA_20250715_0_L2A", platform="sentinel-2a",
                    datetime=datetime(2025, 7, 15, 13, 3, tzinfo=UTC))
    (frame,) = steps([*tiles, later], RenderSpec(cadence="monthly"))
    assert frame.datetime == later.datetime
    assert ids(frame)[0] == later.id and sorted(ids(frame)[1:]) == sorted(DATATAKE)


def pass_at(start: datetime, count: int = 2, gap: timedelta = timedelta(minutes=20)) -> list[SourceItem]:
    """A datatake of ``count`` tiles ``gap`` apart (based on a real Sentinel-2 item)."""
    real = earth_search(DATATAKE[0])
    return [replace(real, id=f"tile-{number}", datetime=start + number * gap) for number in range(count)]


def test_a_pass_across_utc_midnight_in_the_far_east_is_one_day() -> None:
    # Eastern Australia (153°E): 23:50 and 00:10 UTC are 10:02 and 10:22 local on 31 July.
    tiles = pass_at(datetime(2025, 7, 30, 23, 50, tzinfo=UTC))
    assert tiles[0].datetime.date() != tiles[1].datetime.date()
    assert solar_day(tiles[0].datetime, 153.0) == solar_day(tiles[1].datetime, 153.0) == date(2025, 7, 31)
    (frame,) = steps(tiles, longitude=153.0)
    assert ids(frame) == ["tile-0", "tile-1"]
    assert len(steps(tiles, longitude=0.0)) == 2  # at Greenwich the same times are two days


def test_one_utc_day_is_two_solar_days_in_the_far_west() -> None:
    # 170°W: 11:10 and 11:30 UTC on 31 July are 23:50 on 30 July and 00:10 on 31 July local.
    tiles = pass_at(datetime(2025, 7, 31, 11, 10, tzinfo=UTC))
    assert solar_day(tiles[0].datetime, -170.0) == date(2025, 7, 30)
    assert solar_day(tiles[1].datetime, -170.0) == date(2025, 7, 31)
    assert [ids(frame) for frame in steps(tiles, longitude=-170.0)] == [["tile-0"], ["tile-1"]]


def test_a_region_split_at_the_date_line_takes_its_own_longitude() -> None:
    fiji = MultiPolygon([box(177.0, -19.0, 180.0, -16.0), box(-180.0, -19.0, -179.0, -16.0)])
    assert fiji.centroid.x < 100  # the centroid lies half a world away
    assert abs(region_longitude(fiji)) > 177.0


# --- min_coverage -----------------------------------------------------------------------------


def monthly(*months: int) -> list[FramePlan]:
    items = [earth_search(DATATAKE[0])]
    return [FramePlan(datetime=datetime(2024, month, 1, tzinfo=UTC), items=tuple(plan_frames(items, "red")[0].items))
            for month in months]


def test_thin_steps_become_labelled_gaps_and_the_note_names_them() -> None:
    frames = [*monthly(1, 2), FramePlan(datetime(2024, 3, 1, tzinfo=UTC), (), "gap"), *monthly(4)]
    checked = apply_min_coverage(frames, [0.9, 0.04, 0.6], 0.5, "frame", "%Y-%m")
    assert [frame.kind for frame in checked.frames] == ["data", "gap", "gap", "data"]
    assert checked.frames[1].datetime == frames[1].datetime
    assert checked.note is not None and "2024-02 (4%)" in checked.note and "50%" in checked.note
    assert "2024-01" not in checked.note and "2024-04" not in checked.note


def test_thin_steps_are_dropped_with_gaps_skip() -> None:
    frames = monthly(1, 2, 3)
    checked = apply_min_coverage(frames, [0.2, 0.9, 0.1], 0.25, "skip", "%Y-%m")
    assert checked.frames == (frames[1],)
    assert checked.note is not None and "left out" in checked.note
    assert "2024-01 (20%)" in checked.note and "2024-03 (10%)" in checked.note


def test_no_min_coverage_or_no_thin_step_changes_nothing() -> None:
    frames = monthly(1, 2)
    assert apply_min_coverage(frames, [0.0, 0.001], 0.0, "frame", "%Y-%m").frames == tuple(frames)
    assert apply_min_coverage(frames, [0.5, 0.7], 0.5, "frame", "%Y-%m").note is None


def test_every_step_below_min_coverage_is_an_error_saying_so() -> None:
    with pytest.raises(RenderError, match="every time step.*min_coverage"):
        apply_min_coverage(monthly(1, 2), [0.1, 0.2], 0.5, "frame", "%Y-%m")


def test_min_coverage_changes_the_animation_fingerprint_but_not_the_list_position() -> None:
    region = Region(id="a", title="A", geometry=box(0, 0, 1, 1))
    spec = CollectionSpec(id="c", source="s", where="collections[0]")

    def fingerprint(collection: CollectionSpec) -> str:
        return animation_fingerprint(
            RenderSpec(), region, Style(rescale=(0, 1)), CollectionInfo(id="c", title="C"), monthly(1), "local", collection
        )

    assert fingerprint(spec) != fingerprint(replace(spec, min_coverage=0.5))
    assert fingerprint(spec) == fingerprint(replace(spec, where="collections[3]"))


# --- a build ----------------------------------------------------------------------------------


def coverage_site(folder: Path, extra: str) -> Path:
    """Monthly COGs over a region: Feb nearly empty; March two acquisitions, each half the region."""
    full = column_values(64)
    sparse = np.full((64, 64), NODATA, dtype="float32")
    sparse[10:14, 10:14] = 5.0
    west, east = full.copy(), full.copy()
    west[:, 32:] = NODATA
    east[:, :32] = NODATA
    layers = {"jan": ("2020-01-01", full), "feb": ("2020-02-01", sparse), "mar-a": ("2020-03-05", west),
              "mar-b": ("2020-03-20", east), "apr": ("2020-04-01", full)}
    items = [
        FakeItem(id=name, datetime=f"{day}T10:00:00Z", cog=write_cog(folder / "cogs" / f"{name}.tif", data),
                 properties={"platform": "sentinel-2a"})
        for name, (day, data) in layers.items()
    ]
    write_catalog(folder / "catalog", "c", items, renders=RENDERS)
    config = folder / "site_config.yml"
    config.write_text(
        "site: {title: Coverage}\n"
        "sources: {s: {catalog: catalog/catalog.json}}\n"
        f"collections: [{{id: c, source: s{extra}}}]\n"
        "regions:\n  - {id: a, bbox: [8, 8, 56, 56]}\n"
        "render: {size: 64, crs: 'EPSG:4326', cadence: monthly, gaps: GAPS}\n"
    )
    return config


def manifest_frames(output: Path) -> tuple[list[dict[str, object]], list[str]]:
    (animation,) = json.loads((output / "manifest.json").read_text())["animations"]
    return animation["frames"], animation["notes"]


@pytest.mark.parametrize("gaps", ["frame", "skip"])
def test_min_coverage_in_a_build(tmp_path: Path, gaps: str) -> None:
    config = coverage_site(tmp_path, "")
    config.write_text(config.read_text().replace("GAPS", gaps))
    plain = build(config, tmp_path / "output")
    frames, notes = manifest_frames(plain.output_dir)
    assert [frame["kind"] for frame in frames] == ["data"] * 4
    # both March acquisitions, newest first (the default composite for items without eo:cloud_cover)
    assert frames[2]["items"] == ["mar-b", "mar-a"]
    march = frames[2]["stats"]
    assert isinstance(march, dict) and march["valid_fraction"] == pytest.approx(1.0)  # mosaicked: no hole
    feb = frames[1]["stats"]
    assert isinstance(feb, dict) and feb["valid_fraction"] < 0.05
    assert not any("min_coverage" in note for note in notes)

    config.write_text(config.read_text().replace("source: s}", "source: s, min_coverage: 0.5}"))
    thinned = build(config, tmp_path / "output")
    (record,) = thinned.records
    assert record.status == "ok" and thinned.summary.cached == 0  # the setting changed the files
    frames, notes = manifest_frames(thinned.output_dir)
    (note,) = [note for note in notes if "min_coverage" in note]
    assert f"2020-02 ({100 * feb['valid_fraction']:.3g}%)" in note
    labels = [frame["label"] for frame in frames]
    if gaps == "frame":
        assert [frame["kind"] for frame in frames] == ["data", "gap", "data", "data"]
        assert labels[1] == "2020-02 (no data)" and frames[1]["items"] == []
    else:
        assert labels == ["2020-01", "2020-03", "2020-04"] and "left out" in note
    assert len(list((thinned.output_dir / record.files.page).parent.glob("frames/*.png"))) == len(frames)
    assert "(min_coverage)" in (thinned.output_dir / record.files.page).read_text()


def test_tiles_of_each_pass_make_one_mosaicked_frame_in_a_build(tmp_path: Path) -> None:
    full = column_values(64)
    items = []
    for month in (1, 2, 3):
        for number, (start, stop) in enumerate(((0, 24), (24, 44), (44, 64))):
            tile = np.full((64, 64), NODATA, dtype="float32")
            tile[:, start:stop] = full[:, start:stop]
            name = f"m{month}-t{number}"
            items.append(FakeItem(
                id=name, datetime=f"2020-{month:02d}-01T10:00:{5 * number:02d}Z",
                cog=write_cog(tmp_path / "cogs" / f"{name}.tif", tile), properties={"platform": "landsat-8"},
            ))
    write_catalog(tmp_path / "catalog", "c", items, renders=RENDERS)
    config = tmp_path / "site_config.yml"
    config.write_text(
        "site: {title: Tiles}\nsources: {s: {catalog: catalog/catalog.json}}\ncollections: [{id: c, source: s}]\n"
        "regions:\n  - {id: a, bbox: [8, 8, 56, 56]}\nrender: {size: 64, crs: 'EPSG:4326'}\n"
    )
    frames, _ = manifest_frames(build(config, tmp_path / "output").output_dir)
    # one frame per pass, its tiles newest first (the default composite without eo:cloud_cover)
    assert [frame["items"] for frame in frames] == [[f"m{month}-t{n}" for n in (2, 1, 0)] for month in (1, 2, 3)]
    for frame in frames:
        stats = frame["stats"]
        assert isinstance(stats, dict) and stats["valid_fraction"] == pytest.approx(1.0)  # no tile missing
