"""What one local read may cost is capped from the file's metadata, before GDAL reads anything:
a huge file without overviews fails its animation fast and clearly, normal COGs read as before."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import rasterio
from rasterio.transform import from_origin

from generator.cli.main import main
from generator.core.errors import RenderError
from generator.core.model import Grid, ItemAsset, Style
from generator.render.limits import ReadLimits
from generator.render.local import LocalRenderer

from .conftest import FakeItem, column_values, write_catalog, write_cog
from .servers.range_http import serve_directory

RENDERS = {"dashboard": {"rescale": [[0, 64]]}}


def write_sparse(path: Path, size: int = 200_000) -> Path:
    """A ``size`` × ``size`` tiled GeoTIFF over 64° × 64° with no data block written and no overviews:
    about a megabyte on disk, 40 billion pixels to GDAL."""
    path.parent.mkdir(parents=True, exist_ok=True)
    profile = dict(
        driver="GTiff", width=size, height=size, count=1, dtype="float32", crs="EPSG:4326",
        transform=from_origin(0.0, 64.0, 64.0 / size, 64.0 / size), nodata=-9999.0,
        tiled=True, blockxsize=512, blockysize=512, compress="deflate", sparse_ok=True,
    )
    with rasterio.open(path, "w", **profile):
        pass
    return path


def item(href: str) -> ItemAsset:
    return ItemAsset(item_id="i1", datetime=datetime(2020, 1, 1, tzinfo=UTC), href=href)


GRID = Grid(crs="EPSG:4326", transform=from_origin(0.0, 64.0, 1.0, 1.0), width=64, height=64)


def site(folder: Path, huge_source: str = "") -> Path:
    huge = write_sparse(folder / "cogs" / "huge.tif")
    cog = write_cog(folder / "cogs" / "a.tif", column_values(64))
    write_catalog(folder / "huge", "huge", [FakeItem("i1", "2020-01-01T00:00:00Z", huge)], renders=RENDERS)
    write_catalog(folder / "good", "good", [FakeItem("i1", "2020-01-01T00:00:00Z", cog)], renders=RENDERS)
    config = folder / "site_config.yml"
    config.write_text(
        "site: {title: Limits}\n"
        f"sources: {{h: {{catalog: huge/catalog.json{huge_source}}}, g: {{catalog: good/catalog.json}}}}\n"
        "collections: [{id: huge, source: h}, {id: good, source: g}]\n"
        "regions: [{id: a, bbox: [8, 8, 56, 56]}]\n"
        "render: {size: 256}\n"
    )
    return config


def test_a_huge_sparse_file_fails_its_animation_fast_and_a_cog_still_renders(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = site(tmp_path)
    assert (tmp_path / "cogs" / "huge.tif").stat().st_size < 5_000_000
    started = time.monotonic()
    assert main(["build", "--config", str(config)]) == 1
    assert time.monotonic() - started < 20  # without the cap: minutes and gigabytes
    err = capsys.readouterr().err
    assert "huge.tif: one read would touch" in err
    assert "× " in err and "at full resolution" in err and "add overviews" in err
    assert "raise sources.h.max_read_pixels in the config" in err
    assert "unexpected" not in err
    assert (tmp_path / "output" / "animations" / "good--a").is_dir()
    report = json.loads((tmp_path / "output" / "build-report.json").read_text())
    assert (report["built"], report["failed"]) == (1, 1)
    assert not list((tmp_path / "output" / "animations" / "huge--a").glob("*.gif"))


def test_the_caps_are_config_keys(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = site(tmp_path)
    text = config.read_text()
    config.write_text(text.replace("g: {catalog: good/catalog.json}", "g: {catalog: good/catalog.json, max_read_pixels: 100}"))
    assert main(["build", "--config", str(config)]) == 1
    assert "raise sources.g.max_read_pixels" in capsys.readouterr().err
    config.write_text(text.replace("g: {catalog: good/catalog.json}", "g: {catalog: good/catalog.json, max_read_bytes: 1024}"))
    assert main(["build", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "over the limit of 1.0 KiB" in err and "raise sources.g.max_read_bytes" in err
    config.write_text(text.replace("g: {catalog: good/catalog.json}", "g: {catalog: good/catalog.json, max_read_pixels: 0}"))
    assert main(["validate", "--offline", "--config", str(config)]) == 2
    assert "sources.g.max_read_pixels: Input should be greater than or equal to 1" in capsys.readouterr().err


def test_the_cost_counts_the_window_at_the_overview_read(tmp_path: Path) -> None:
    cog = write_cog(tmp_path / "a.tif", column_values(64))  # 64 × 64, overviews down to 32 × 32
    # A 16 × 16 frame of the whole file reads the 32 × 32 overview (1024 pixels), not the 4096.
    whole = Grid(crs="EPSG:4326", transform=from_origin(0.0, 64.0, 4.0, 4.0), width=16, height=16)
    LocalRenderer(limits=ReadLimits(max_pixels=1024)).read(item(str(cog)), whole, Style(rescale=(0, 64)))
    with pytest.raises(RenderError, match=r"1,024 source pixels \(32 × 32 at its 1/2 overview"):
        LocalRenderer(limits=ReadLimits(max_pixels=1023)).read(item(str(cog)), whole, Style(rescale=(0, 64)))
    # A frame of a quarter of the file at full resolution reads only that window.
    quarter = Grid(crs="EPSG:4326", transform=from_origin(0.0, 64.0, 1.0, 1.0), width=32, height=32)
    LocalRenderer(limits=ReadLimits(max_pixels=32 * 32)).read(item(str(cog)), quarter, Style(rescale=(0, 64)))


def test_a_remote_asset_is_named_without_its_secrets(tmp_path: Path) -> None:
    write_sparse(tmp_path / "huge.tif")
    with serve_directory(tmp_path) as server:
        href = server.href("huge.tif") + "?token=s3cret"
        started = time.monotonic()
        with pytest.raises(RenderError) as raised:
            LocalRenderer().read(item(href), GRID, Style(rescale=(0, 64)))
        assert time.monotonic() - started < 20
    message = str(raised.value)
    assert "s3cret" not in message and server.href("huge.tif") + ":" in message
    assert "40,000,000,000 source pixels (200,000 × 200,000 at full resolution, 1 band(s))" in message
