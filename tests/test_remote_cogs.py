"""Remote COGs: ``https://``-style hrefs from a Range-capable HTTP server and ``s3://`` hrefs from an
S3-compatible server, both on loopback, read by the local and the TiTiler renderers alike."""

from __future__ import annotations

import os
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
