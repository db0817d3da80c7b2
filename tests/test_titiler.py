"""The TiTiler renderer against a real TiTiler on loopback: parity with the local renderer, the
region body (size limit, exact grid), server-side bounds (User-Agent, concurrency) and errors."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import requests
import shapely
from affine import Affine
from PIL import Image

from generator.core.errors import RenderError
from generator.core.model import FramePlan, Grid, ItemAsset, Style
from generator.overlays.painter import overlay_palette
from generator.render.frames import render_frame, render_frames
from generator.render.grid import inside_mask, make_grid, output_crs, project
from generator.render.local import LocalRenderer
from generator.render.palette import build_palette, to_indices
from generator.render.titiler import DEFAULT_MAX_BODY_BYTES, TitilerRenderer, region_body
from generator.sources.http import HttpSettings, make_session
from generator.sources.regions import region_outline

from .conftest import NODATA, write_cog
from .servers.titiler import TitilerServer

RESCALE = (0.0, 100.0)
# France and around, in lon/lat: the COGs below cover it.
WEST, NORTH, RES = -6.0, 52.0, 0.25
COLS, ROWS = 72, 48


@pytest.fixture(scope="module")
def france(test_geo: Path) -> shapely.Geometry:
    data = json.loads((test_geo / "france-metropole.geojson").read_text())
    return region_outline(data, "france-metropole.geojson")


def near_edge_values(seed: int, n_levels: int, shape: tuple[int, int] = (ROWS, COLS)) -> np.ndarray:
    """A smooth field whose values all sit within 2 % of a level edge, alternating below/above it.

    Neighbouring pixels differ by at most one level, so a renderer that samples a neighbouring
    source pixel is off by at most one level, never more; values on edges expose rounding drift.
    """
    rng = np.random.default_rng(seed)
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]]
    edge = ((rows + cols) // 3 + seed) % (n_levels - 2) + 1  # the level edge each pixel sits on
    width = (RESCALE[1] - RESCALE[0]) / n_levels
    offset = rng.choice([-0.02, -0.005, 0.005, 0.02], size=edge.shape) * width
    values = RESCALE[0] + edge * width + offset
    values[rng.random(values.shape) < 0.03] = NODATA  # scattered nodata pixels
    return values.astype("float32")


def make_frames(folder: Path, res: float) -> list[FramePlan]:
    n_levels = build_palette("viridis").n_levels
    shape = (round(ROWS * RES / res), round(COLS * RES / res))
    plans = []
    for number in range(3):
        values = near_edge_values(number, n_levels, shape)
        path = write_cog(folder / f"frame{number}.tif", values, west=WEST, north=NORTH, res=res)
        item = ItemAsset(item_id=f"frame{number}", datetime=datetime(2024, number + 1, 1, tzinfo=UTC), href=str(path))
        plans.append(FramePlan(datetime=item.datetime, items=(item,)))
    return plans


@pytest.fixture(scope="module")
def frames(tmp_path_factory: pytest.TempPathFactory) -> list[FramePlan]:
    """Source pixels coarser than the output's (the output over-samples them)."""
    return make_frames(tmp_path_factory.mktemp("titiler-cogs"), RES)


@pytest.fixture(scope="module")
def fine_frames(tmp_path_factory: pytest.TempPathFactory) -> list[FramePlan]:
    """Source pixels finer than the output's (overviews and decimation come into play)."""
    return make_frames(tmp_path_factory.mktemp("titiler-fine-cogs"), 0.05)


def prepared(region: shapely.Geometry, size: int, crs: str = "auto") -> tuple[Grid, shapely.Geometry, np.ndarray]:
    grid_crs = output_crs(crs, region)
    projected = project(region, grid_crs)
    grid = make_grid(projected, grid_crs, size)
    return grid, projected, inside_mask(projected, grid)


def renderer_for(server: TitilerServer, **options: object) -> TitilerRenderer:
    return TitilerRenderer(server.url, make_session(HttpSettings(retries=0)), **options)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "resampling", "size"),
    [
        ("frames", "nearest", 160), ("frames", "bilinear", 160), ("fine_frames", "nearest", 96),
        ("fine_frames", "average", 96), ("fine_frames", "bilinear", 96), ("fine_frames", "cubic", 96),
    ],
)
def test_parity_with_the_local_renderer(
    loopback_titiler: TitilerServer, france: shapely.Geometry, request: pytest.FixtureRequest,
    source: str, resampling: str, size: int,
) -> None:
    frames: list[FramePlan] = request.getfixturevalue(source)
    grid, projected, inside = prepared(france, size)
    style = Style(rescale=RESCALE, resampling=resampling)
    palette = build_palette("viridis")
    titiler = renderer_for(loopback_titiler)
    for frame in frames:
        local = render_frame(frame, grid, style, LocalRenderer(), projected)
        remote = render_frame(frame, grid, style, titiler, projected)
        local_idx = to_indices(local.values, local.valid & inside, RESCALE, palette)
        remote_idx = to_indices(remote.values, remote.valid & inside, RESCALE, palette)
        local_clear = local_idx == palette.transparent
        remote_clear = remote_idx == palette.transparent
        assert (local_clear == remote_clear).mean() >= 0.999
        both = ~local_clear & ~remote_clear
        assert both.sum() > 0.5 * inside.sum()  # the frame really shows data
        same = (local_idx[both] == remote_idx[both]).mean()
        assert same >= 0.995, f"{frame.datetime:%Y-%m}: {same:.4%} same level"
        assert np.abs(local_idx[both].astype(int) - remote_idx[both].astype(int)).max() <= 1


def test_the_grid_is_reproduced_exactly(loopback_titiler: TitilerServer, tmp_path: Path) -> None:
    """A value that encodes each source pixel's position comes back in the same output pixel."""
    rows, cols = np.mgrid[0:ROWS, 0:COLS]
    path = write_cog(tmp_path / "ids.tif", (rows * 1000 + cols).astype("float32"), west=WEST, north=NORTH, res=RES, nodata=-1)
    region = shapely.box(-1.3, 43.1, 7.9, 49.7)
    grid, projected, inside = prepared(region, 96)
    item = ItemAsset(item_id="ids", datetime=datetime(2024, 1, 1, tzinfo=UTC), href=str(path))
    style = Style(rescale=(0, 50_000))
    local = LocalRenderer().read(item, grid, style, projected)
    remote = renderer_for(loopback_titiler).read(item, grid, style, projected)
    assert remote.values.shape == grid.shape
    assert (local.values[inside] == remote.values[inside]).mean() >= 0.999


def test_france_goes_in_a_small_body_and_the_clip_is_unchanged(
    loopback_titiler: TitilerServer, frames: list[FramePlan], france: shapely.Geometry, test_geo: Path
) -> None:
    assert (test_geo / "france-metropole.geojson").stat().st_size > 64_000
    grid, projected, inside = prepared(france, 512)
    body = region_body(projected, grid)
    assert len(body.data) <= DEFAULT_MAX_BODY_BYTES
    assert body.tolerance_px <= 1.0  # simplified below about a pixel, not replaced by a rectangle
    feature = json.loads(body.data)
    assert feature["type"] == "Feature" and feature["geometry"]["type"] == "MultiPolygon"
    sent = shapely.geometry.shape(feature["geometry"])
    # The outline sent covers every pixel of the region (TiTiler's mask never eats into it) …
    assert inside_mask(sent, grid)[inside].all()
    # … and hugs it: it adds no more than a thin seam of pixels.
    assert (inside_mask(sent, grid) & ~inside).sum() <= 0.01 * inside.size

    loopback_titiler.reset()
    style = Style(rescale=RESCALE)
    titiler = renderer_for(loopback_titiler)
    remote = render_frame(frames[0], grid, style, titiler, projected)
    local = render_frame(frames[0], grid, style, LocalRenderer(), projected)
    stats = loopback_titiler.stats()
    assert stats["body_sizes"] and max(stats["body_sizes"]) <= DEFAULT_MAX_BODY_BYTES
    clipped_remote, clipped_local = remote.valid & inside, local.valid & inside
    assert (clipped_remote != clipped_local).mean() <= 0.001


def test_user_agent_and_per_host_concurrency_bound(
    loopback_titiler: TitilerServer, frames: list[FramePlan], france: shapely.Geometry
) -> None:
    grid, projected, _ = prepared(france, 64)
    style = Style(rescale=RESCALE)
    many = [frames[number % len(frames)] for number in range(12)]
    for bound in (1, 3):
        loopback_titiler.reset()
        session = make_session(HttpSettings(retries=0, max_per_host=bound))
        titiler = TitilerRenderer(loopback_titiler.url, session, concurrency=bound)
        rendered = list(render_frames(many, grid, style, titiler, projected))
        assert len(rendered) == len(many)
        stats = loopback_titiler.stats()
        assert len(stats["user_agents"]) == len(many)
        assert all(agent.startswith("eo-timelapse-generator/") for agent in stats["user_agents"])
        assert stats["max_in_flight"] <= bound
        if bound > 1:
            assert stats["max_in_flight"] > 1  # the bound was reached, not just respected by luck
    # Frames come back in order: the read-ahead does not reorder them.
    sequential = [render_frame(frame, grid, style, renderer_for(loopback_titiler), projected) for frame in many[:4]]
    ahead = list(render_frames(many[:4], grid, style, renderer_for(loopback_titiler), projected, workers=3))
    for one, other in zip(sequential, ahead, strict=True):
        assert np.array_equal(one.valid, other.valid)


def test_titiler_rejects_feature_collections(loopback_titiler: TitilerServer, frames: list[FramePlan]) -> None:
    """Why the region goes as one Feature: a FeatureCollection body is refused (422)."""
    collection = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(shapely.box(0, 44, 5, 48))}
    ]}
    response = requests.post(
        f"{loopback_titiler.url}/cog/feature", params={"url": frames[0].items[0].href, "format": "npy"},
        json=collection, timeout=30,
    )
    assert response.status_code == 422


def test_errors_name_the_item_and_the_server(loopback_titiler: TitilerServer, tmp_path: Path) -> None:
    grid, projected, _ = prepared(shapely.box(0, 44, 5, 48), 32)
    missing = ItemAsset(item_id="gone", datetime=datetime(2024, 1, 1, tzinfo=UTC), href=str(tmp_path / "gone.tif"))
    with pytest.raises(RenderError, match=r"'gone'.*TiTiler .*answered (4|5)\d\d"):
        renderer_for(loopback_titiler).read(missing, grid, Style(rescale=RESCALE), projected)
    closed = TitilerRenderer("http://127.0.0.1:9", make_session(HttpSettings(retries=0)))
    with pytest.raises(RenderError, match="did not answer"):
        closed.read(missing, grid, Style(rescale=RESCALE), projected)


def test_the_renderer_travels_to_worker_processes(loopback_titiler: TitilerServer, frames: list[FramePlan]) -> None:
    import pickle

    grid, projected, inside = prepared(shapely.box(0, 44, 5, 48), 32)
    original = renderer_for(loopback_titiler)
    copy = pickle.loads(pickle.dumps(original))
    first = original.read(frames[0].items[0], grid, Style(rescale=RESCALE), projected)
    second = copy.read(frames[0].items[0], grid, Style(rescale=RESCALE), projected)
    assert np.array_equal(first.values[inside], second.values[inside], equal_nan=True)
    assert np.array_equal(first.valid, second.valid)


def test_an_outline_too_large_for_any_simplification_falls_back_to_the_frame(france: shapely.Geometry) -> None:
    grid, projected, _ = prepared(france, 512)
    body = region_body(projected, grid, max_bytes=400)
    assert len(body.data) <= 400
    geometry = json.loads(body.data)["geometry"]
    assert shapely.hausdorff_distance(shapely.geometry.shape(geometry), shapely.box(*grid.bounds)) < grid.transform.a * 0.01
    assert geometry["bbox"] == list(grid.bounds)


def test_answers_on_other_bounds_are_refused() -> None:
    from generator.render.titiler import check_bounds

    grid = Grid(crs="EPSG:4326", transform=Affine(0.5, 0, 0, 0, -0.5, 10), width=20, height=20)
    check_bounds("0.0,0.0,10.0,10.0", grid, "http://raster")  # the grid's own bounds
    check_bounds(None, grid, "http://raster")
    with pytest.raises(RenderError, match="does not honour a geometry's bbox"):
        check_bounds("0.5,0.0,9.5,10.0", grid, "http://raster")


def test_an_npy_answer_holding_objects_is_refused_not_loaded(tmp_path: Path) -> None:
    """An answer's bytes never run code: object arrays (which numpy would unpickle) are refused."""
    import io

    from generator.render.titiler import parse_npy

    class CreatesAFile:
        def __reduce__(self) -> tuple[object, ...]:
            return (open, (str(tmp_path / "loaded"), "w"))

    buffer = io.BytesIO()
    np.save(buffer, np.array([CreatesAFile()], dtype=object), allow_pickle=True)
    grid = Grid(crs="EPSG:4326", transform=Affine(1, 0, 0, 0, -1, 1), width=1, height=1)
    item = ItemAsset("x", datetime(2024, 1, 1, tzinfo=UTC), "/x.tif")
    with pytest.raises(RenderError, match="unreadable"):
        parse_npy(buffer.getvalue(), grid, item)
    assert not (tmp_path / "loaded").exists()


def test_a_gallery_built_through_titiler_matches_the_local_build(tmp_path, loopback_titiler):
    """`render.renderer: titiler` end to end: same frames as the local renderer, listed the same."""
    from generator.engine.build import BuildOptions, build

    from .conftest import FakeItem, column_values, write_catalog

    items = [
        FakeItem(id=f"t{n}", datetime=f"2021-0{n + 1}-01T00:00:00Z", cog=write_cog(tmp_path / f"t{n}.tif", column_values(64) + 4 * n))
        for n in range(3)
    ]
    write_catalog(tmp_path / "catalog", "t", items, renders={"d": {"rescale": [[0, 72]], "colormap_name": "viridis"}})
    config = tmp_path / "site_config.yml"
    base = (
        "site: {title: Parity}\n"
        f"sources: {{s: {{catalog: catalog/catalog.json, raster_api: '{loopback_titiler.url}'}}}}\n"
        "collections: [{id: t, source: s}]\n"
        "regions: [{id: r, bbox: [6, 6, 58, 58]}]\n"
    )
    config.write_text(base + "render: {size: 96, overlays: {date: false, title: false, legend: false, attribution: false}}\n")
    local = build(config, tmp_path / "local", options=BuildOptions(use_cache=False))
    config.write_text(
        base + "render: {size: 96, renderer: titiler, overlays: {date: false, title: false, legend: false, attribution: false}}\n"
    )
    remote = build(config, tmp_path / "remote", options=BuildOptions(use_cache=False))
    assert [r.status for r in remote.records] == ["ok"]
    transparent = overlay_palette("viridis").transparent
    for path in remote.records[0].files.frames:
        with Image.open(local.output_dir / path) as a, Image.open(remote.output_dir / path) as b:
            ours, theirs = np.asarray(a).astype(int), np.asarray(b).astype(int)
        assert ours.shape == theirs.shape
        assert ((ours == transparent) == (theirs == transparent)).mean() >= 0.999
        both = (ours != transparent) & (theirs != transparent)
        assert (ours[both] == theirs[both]).mean() >= 0.995
        assert np.abs(ours[both] - theirs[both]).max() <= 1
