"""Remote COGs: ``https://``-style hrefs from a Range-capable HTTP server and ``s3://`` hrefs from an
S3-compatible server, both on loopback, read by the local and the TiTiler renderers alike."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import shapely

from generator.core.errors import RenderError
from generator.core.model import Grid, ItemAsset, Style
from generator.render.access import RemoteAccess, href_for_gdal
from generator.render.grid import inside_mask, make_grid, output_crs, project
from generator.render.local import LocalRenderer
from generator.render.titiler import TitilerRenderer
from generator.sources.http import USER_AGENT, HttpSettings, make_session

from .conftest import column_values, write_cog
from .servers.range_http import RangeServer, serve_directory
from .servers.s3 import S3Server
from .servers.titiler import TitilerServer

STYLE = Style(rescale=(0, 64))


@pytest.fixture(scope="module")
def cog_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("served")
    write_cog(folder / "columns.tif", column_values(), west=0.0, north=64.0, res=1.0)
    return folder


@pytest.fixture(scope="module")
def http_server(cog_dir: Path) -> RangeServer:
    with serve_directory(cog_dir) as server:
        yield server


@pytest.fixture(scope="module")
def s3_href(loopback_s3: S3Server, cog_dir: Path) -> str:
    return loopback_s3.upload(cog_dir / "columns.tif", "no2/2024/columns.tif")


@pytest.fixture(scope="module")
def setting() -> tuple[Grid, shapely.Geometry, np.ndarray]:
    region = shapely.box(8.0, 10.0, 40.0, 50.0)
    crs = output_crs("auto", region)
    projected = project(region, crs)
    grid = make_grid(projected, crs, 64)
    return grid, projected, inside_mask(projected, grid)


def item(href: str) -> ItemAsset:
    return ItemAsset(item_id="columns", datetime=datetime(2024, 1, 1, tzinfo=UTC), href=href)


def test_hrefs_map_to_gdal_virtual_file_systems() -> None:
    assert href_for_gdal("https://example.org/a.tif") == "/vsicurl/https://example.org/a.tif"
    assert href_for_gdal("s3://bucket/key/a.tif") == "/vsis3/bucket/key/a.tif"
    assert href_for_gdal("file:///data/a.tif") == "/data/a.tif"
    assert href_for_gdal("/data/a.tif") == "/data/a.tif"


def test_s3_access_options() -> None:
    options = RemoteAccess(s3_unsigned=True, s3_endpoint="http://127.0.0.1:9000").gdal_options()
    assert options["AWS_NO_SIGN_REQUEST"] == "YES"
    assert options["AWS_S3_ENDPOINT"] == "127.0.0.1:9000"
    assert options["AWS_HTTPS"] == "NO" and options["AWS_VIRTUAL_HOSTING"] == "FALSE"
    assert "AWS_NO_SIGN_REQUEST" not in RemoteAccess().gdal_options()


def test_local_renderer_reads_over_http_with_ranges(
    http_server: RangeServer, cog_dir: Path, setting: tuple[Grid, shapely.Geometry, np.ndarray]
) -> None:
    grid, projected, inside = setting
    environ = dict(os.environ)
    http_server.requests.clear()
    remote = LocalRenderer(RemoteAccess(user_agent=USER_AGENT)).read(item(http_server.href("columns.tif")), grid, STYLE)
    local = LocalRenderer().read(item(str(cog_dir / "columns.tif")), grid, STYLE)
    assert remote.valid[inside].all()
    assert np.array_equal(remote.values[inside], local.values[inside])
    gets = [request for request in http_server.requests if request["method"] == "GET"]
    assert gets and all(request["range"] for request in gets)  # GDAL read ranges, not whole files
    assert all(request["user_agent"] == USER_AGENT for request in http_server.requests)
    assert dict(os.environ) == environ  # GDAL options lived in a rasterio.Env only


def test_a_remote_cog_whose_url_has_no_tif_extension_is_read_like_any_other(
    http_server: RangeServer, cog_dir: Path, setting: tuple[Grid, shapely.Geometry, np.ndarray]
) -> None:
    """Download URLs (``…/download/B04``) name no extension: GDAL must not take them for missing."""
    grid, _, _ = setting
    shutil.copy(cog_dir / "columns.tif", cog_dir / "download")
    renderer = LocalRenderer(RemoteAccess(user_agent=USER_AGENT))
    named = renderer.read(item(http_server.href("columns.tif")), grid, STYLE)
    unnamed = renderer.read(item(http_server.href("download")), grid, STYLE)
    np.testing.assert_array_equal(unnamed.values, named.values)
    assert "CPL_VSIL_CURL_ALLOWED_EXTENSIONS" in RemoteAccess().gdal_options("https://example.org/a.tif?sig=x")
    assert "CPL_VSIL_CURL_ALLOWED_EXTENSIONS" not in RemoteAccess().gdal_options("https://example.org/download/B04")


def test_local_renderer_reads_s3_unsigned(
    loopback_s3: S3Server, s3_href: str, cog_dir: Path, setting: tuple[Grid, shapely.Geometry, np.ndarray]
) -> None:
    grid, _, inside = setting
    environ = dict(os.environ)
    access = RemoteAccess(s3_unsigned=True, s3_endpoint=loopback_s3.endpoint)
    remote = LocalRenderer(access).read(item(s3_href), grid, STYLE)
    local = LocalRenderer().read(item(str(cog_dir / "columns.tif")), grid, STYLE)
    assert remote.valid[inside].all()
    assert np.array_equal(remote.values[inside], local.values[inside])
    assert dict(os.environ) == environ


def test_missing_remote_file_is_a_render_error(loopback_s3: S3Server, http_server: RangeServer, setting: tuple) -> None:
    grid = setting[0]
    access = RemoteAccess(s3_unsigned=True, s3_endpoint=loopback_s3.endpoint)
    with pytest.raises(RenderError, match="cannot read asset s3://"):
        LocalRenderer(access).read(item(loopback_s3.href("nothing/here.tif")), grid, STYLE)
    with pytest.raises(RenderError, match="cannot read asset http://"):
        LocalRenderer(access).read(item(http_server.href("nothing.tif")), grid, STYLE)


@pytest.mark.parametrize("where", ["http", "s3"])
def test_titiler_reads_remote_cogs_like_the_local_renderer(
    loopback_titiler: TitilerServer, loopback_s3: S3Server, http_server: RangeServer, s3_href: str,
    setting: tuple[Grid, shapely.Geometry, np.ndarray], where: str,
) -> None:
    grid, projected, inside = setting
    href = http_server.href("columns.tif") if where == "http" else s3_href
    access = RemoteAccess(s3_unsigned=True, s3_endpoint=loopback_s3.endpoint)
    local = LocalRenderer(access).read(item(href), grid, STYLE, projected)
    titiler = TitilerRenderer(loopback_titiler.url, make_session(HttpSettings(retries=0)))
    remote = titiler.read(item(href), grid, STYLE, projected)
    assert remote.valid[inside].all()
    assert np.array_equal(remote.values[inside], local.values[inside])


# --- remote reads overlapped -----------------------------------------------------------------


def _remote_site(folder: Path, hrefs: list[str] | list[Path], http: str = "") -> Path:
    from .conftest import FakeItem, write_catalog
    from .test_engine import RENDERS

    items = [FakeItem(id=f"m{month:02d}", datetime=f"2020-{month + 1:02d}-01T00:00:00Z", cog=href) for month, href in enumerate(hrefs)]
    write_catalog(folder / "catalog", "c", items, renders=RENDERS)
    config = folder / "site_config.yml"
    config.write_text(
        f"site: {{title: Remote}}\nsources: {{s: {{catalog: catalog/catalog.json{http}}}}}\n"
        "collections: [{id: c, source: s}]\nregions:\n  - {id: a, bbox: [8, 8, 56, 56]}\nrender: {size: 64}\n"
    )
    return config


def test_a_task_reads_remote_cogs_several_at_once_and_the_frames_do_not_change(tmp_path: Path) -> None:
    """Remote reads mostly wait on the network (here 30 ms an answer): a build's reads of them
    overlap, up to the source's ``http.max_cog_reads``, instead of queueing one behind the other;
    the STAC API's bound (``http.max_per_host``) does not hold them back."""
    from generator.engine.build import BuildOptions, build

    served = tmp_path / "served"
    paths = [write_cog(served / "a" / f"m{month}.tif", column_values(64) + month) for month in range(8)]
    shutil.copytree(served / "a", served / "b")  # GDAL caches what it read by URL: other URLs for the second build
    local = build(_remote_site(tmp_path / "local", paths), options=BuildOptions(jobs=1, use_cache=False))
    gif = "animations/c--a/c--a.gif"
    with serve_directory(served, delay=0.03) as server:
        hrefs = [server.href(f"a/{path.name}") for path in paths]
        remote = build(
            _remote_site(tmp_path / "remote", hrefs, http=", http: {max_per_host: 1}"), options=BuildOptions(jobs=1, use_cache=False)
        )
        overlapped = server.most_in_flight
        server.most_in_flight = 0
        hrefs = [server.href(f"b/{path.name}") for path in paths]
        one_by_one = build(
            _remote_site(tmp_path / "one", hrefs, http=", http: {max_cog_reads: 1}"), options=BuildOptions(jobs=1, use_cache=False)
        )
        assert server.most_in_flight == 1  # the bound holds
    assert [record.status for record in (*local.records, *remote.records, *one_by_one.records)] == ["ok"] * 3
    assert 4 < overlapped <= 8  # all 8 at once, beyond max_per_host, within the default max_cog_reads (16)
    for result in (remote, one_by_one):
        assert (result.output_dir / gif).read_bytes() == (local.output_dir / gif).read_bytes()


def test_the_build_processes_share_a_sources_bounds_and_local_files_are_read_one_by_one() -> None:
    from generator.core.model import FramePlan
    from generator.core.specs import HttpSpec, SourceSpec
    from generator.render.registry import make_renderer

    source = SourceSpec(name="s", where="site_config.yml: sources.s", catalog="catalog.json", http=HttpSpec(max_per_host=2, max_cog_reads=8))
    alone, two, many = (make_renderer("local", source, processes).renderer for processes in (1, 2, 16))
    assert [renderer.remote_reads for renderer in (alone, two, many)] == [8, 4, 1]  # type: ignore[attr-defined]
    default = SourceSpec(name="s", where="site_config.yml: sources.s", catalog="catalog.json")
    assert make_renderer("local", default, 4).renderer.remote_reads == 4  # type: ignore[attr-defined]  # 16 ÷ 4
    remote = FramePlan(datetime=datetime(2024, 1, 1, tzinfo=UTC), items=(item("https://example.org/a.tif"),))
    on_disk = FramePlan(datetime=datetime(2024, 1, 1, tzinfo=UTC), items=(item("/data/a.tif"),))
    assert alone.reads_at_once([remote] * 3) == 8 and alone.reads_at_once([on_disk] * 3) == 1  # type: ignore[attr-defined]


def test_the_command_silences_rasterios_spurious_warning_and_nothing_else() -> None:
    import warnings

    from rasterio.errors import NotGeoreferencedWarning

    from generator.core.quirks import silence_spurious_warnings

    message = "Dataset has no geotransform, gcps, or rpcs. The identity matrix will be returned."
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        silence_spurious_warnings()
        warnings.warn_explicit(message, NotGeoreferencedWarning, "warp.py", 387, module="rasterio.warp")
        warnings.warn_explicit(message, NotGeoreferencedWarning, "reader.py", 1, module="someone.else")
        warnings.warn_explicit("another warning", NotGeoreferencedWarning, "warp.py", 388, module="rasterio.warp")
    assert [(str(w.message), w.filename) for w in caught] == [(message, "reader.py"), ("another warning", "warp.py")]


def test_true_colour_from_a_remote_catalog_reads_its_frames_several_at_once(tmp_path: Path) -> None:
    """The true-colour palette pass (three remote assets a frame) overlaps its frames' reads too,
    and the files are those of the same catalog read from disk."""
    from generator.engine.build import BuildOptions, build

    from .test_truecolor import write_config, write_rgb_catalog

    write_rgb_catalog(tmp_path / "served" / "catalog")
    shutil.copytree(tmp_path / "served" / "catalog", tmp_path / "catalog")
    local = build(write_config(tmp_path, "asset: [red, green, blue]"), tmp_path / "local", options=BuildOptions(jobs=1, use_cache=False))
    with serve_directory(tmp_path / "served", delay=0.03) as server:
        config = write_config(tmp_path, "asset: [red, green, blue]")
        config.write_text(config.read_text().replace(str(tmp_path / "catalog" / "catalog.json"), server.href("catalog/catalog.json")))
        remote = build(config, tmp_path / "remote", options=BuildOptions(jobs=1, use_cache=False))
        assert server.most_in_flight >= 2
    assert [record.status for record in (*local.records, *remote.records)] == ["ok", "ok"]
    gif = "animations/rgb--all/rgb--all.gif"
    assert (remote.output_dir / gif).read_bytes() == (local.output_dir / gif).read_bytes()


def test_a_forked_process_reads_overlapped_on_threads_of_its_own(tmp_path: Path) -> None:
    """A program that forks after a build (multiprocessing's ``fork``) gets working reader threads."""
    import multiprocessing

    from generator.render.frames import read_overlapped

    assert read_overlapped(abs, [-1, -2, -3], 3) == [1, 2, 3]  # the parent's reader threads exist now
    with multiprocessing.get_context("fork").Pool(1) as pool:
        assert pool.apply(read_overlapped, (abs, [-4, -5, -6], 3)) == [4, 5, 6]


def test_a_mosaics_remote_tiles_are_read_several_at_once_after_the_first_alone(
    tmp_path: Path, setting: tuple[Grid, shapely.Geometry, np.ndarray]
) -> None:
    """A frame of 8 remote strips (a mosaic across a region) reads them a few at once, combined in
    the same order as one by one; a frame whose first item covers the grid reads that one only."""
    from generator.core.model import FramePlan
    from generator.render.frames import read_overlapped, render_frame

    grid, projected, _ = setting
    strips = [
        write_cog(tmp_path / f"strip{number}.tif", column_values()[:, :8] + 8 * number, west=8.0 * number)
        for number in range(8)
    ]
    write_cog(tmp_path / "whole.tif", column_values(64))
    when = datetime(2024, 1, 1, tzinfo=UTC)
    with serve_directory(tmp_path, delay=0.03) as server:
        mosaic = FramePlan(datetime=when, items=tuple(item(server.href(path.name)) for path in strips))
        overlapped = render_frame(mosaic, grid, STYLE, LocalRenderer(remote_reads=4), projected)
        most = server.most_in_flight
        server.most_in_flight = 0
        one_by_one = render_frame(
            FramePlan(datetime=when, items=tuple(item(server.href(path.name) + "?again") for path in strips)),
            grid, STYLE, LocalRenderer(), projected,
        )
        assert server.most_in_flight == 1
        covered = FramePlan(datetime=when, items=(item(server.href("whole.tif")), *mosaic.items[:3]))
        before = len(server.requests)
        render_frame(covered, grid, STYLE, LocalRenderer(remote_reads=4), projected)
        read = {str(request["path"]).split("?")[0] for request in server.requests[before:]}
        # Frames read at once, each a mosaic: still no more than the bound in flight.
        server.most_in_flight = 0
        mosaics = [
            FramePlan(datetime=when, items=tuple(item(server.href(path.name) + f"?frame{frame}") for path in strips))
            for frame in range(4)
        ]
        renderer = LocalRenderer(remote_reads=4)
        read_overlapped(lambda frame: render_frame(frame, grid, STYLE, renderer, projected), mosaics, 4)
        assert server.most_in_flight <= 4
    assert 2 <= most <= 4
    assert np.array_equal(overlapped.valid, one_by_one.valid) and overlapped.valid.sum() > 0
    assert np.array_equal(overlapped.values[overlapped.valid], one_by_one.values[one_by_one.valid])
    assert read == {"/whole.tif"}  # the first item filled the grid: the others were not read
