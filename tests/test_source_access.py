"""Access to protected assets: a source's headers on COG reads, Planetary Computer signing at read
time (a token endpoint and a token-checking store on loopback), requester-pays S3 (moto behind a
guard that enforces it), and the hint a refused read gives."""

from __future__ import annotations

import multiprocessing
import os
import pickle
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import shapely

from generator.config.loading import parse_config
from generator.core.errors import ConfigError, RenderError, SourceError
from generator.core.model import Grid, ItemAsset, Style
from generator.core.specs import SourceSpec
from generator.plan.specs import source_spec
from generator.render.access import RemoteAccess
from generator.render.grid import inside_mask, make_grid, output_crs, project
from generator.render.local import LocalRenderer
from generator.render.registry import make_renderer
from generator.sources import signing
from generator.sources.http import HttpSettings
from generator.sources.signing import PLANETARY_COMPUTER_SIGN_URL, HrefSigner, blob_container

from .conftest import column_values, write_cog
from .servers.guarded import guard
from .servers.range_http import RangeServer, serve_directory
from .servers.s3 import S3Server
from .servers.sas_tokens import token_server
from .servers.titiler import TitilerServer

STYLE = Style(rescale=(0, 64))
BLOB = "landsateuwest/landsat-c2/level-2/columns.tif"  # ACCOUNT/CONTAINER/blob, emulator style


@pytest.fixture(scope="module")
def cog_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("protected")
    write_cog(folder / "columns.tif", column_values(), west=0.0, north=64.0, res=1.0)
    write_cog(folder / BLOB, column_values(), west=0.0, north=64.0, res=1.0)
    return folder


@pytest.fixture(scope="module")
def files(cog_dir: Path) -> RangeServer:
    with serve_directory(cog_dir) as server:
        yield server


@pytest.fixture(scope="module")
def setting() -> tuple[Grid, np.ndarray]:
    region = shapely.box(8.0, 10.0, 40.0, 50.0)
    crs = output_crs("auto", region)
    projected = project(region, crs)
    grid = make_grid(projected, crs, 64)
    return grid, inside_mask(projected, grid)


@pytest.fixture(autouse=True)
def fresh_tokens() -> None:
    signing.forget_tokens()


def item(href: str) -> ItemAsset:
    return ItemAsset(item_id="columns", datetime=datetime(2024, 1, 1, tzinfo=UTC), href=href)


def expected(cog_dir: Path, grid: Grid) -> np.ndarray:
    return LocalRenderer().read(item(str(cog_dir / "columns.tif")), grid, STYLE).values


def source(**fields: object) -> SourceSpec:
    return SourceSpec(name="pc", where="site_config.yml: sources.pc", api="https://stac.example/api", **fields)  # type: ignore[arg-type]


# --- headers on COG reads ---------------------------------------------------------------------


def test_source_headers_go_with_every_cog_read(files: RangeServer, cog_dir: Path, setting: tuple[Grid, np.ndarray]) -> None:
    grid, inside = setting
    environ = dict(os.environ)
    with guard(files.url, require_headers={"X-Api-Key": "k-123", "Authorization": "Bearer b,1"}) as store:
        renderer = make_renderer("local", source(headers={"X-Api-Key": "k-123", "Authorization": "Bearer b,1"})).renderer
        data = renderer.read(item(store.href("columns.tif")), grid, STYLE)
        assert store.requests and not store.refused()
        assert all(request["headers"]["x-api-key"] == "k-123" for request in store.requests)
    assert data.valid[inside].all()
    assert np.array_equal(data.values[inside], expected(cog_dir, grid)[inside])
    assert dict(os.environ) == environ  # the headers lived in the read's rasterio.Env only
    assert "k-123" not in repr(renderer.access)


def test_headers_from_the_environment_reach_cog_reads(
    files: RangeServer, setting: tuple[Grid, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STORE_KEY", "from-env")
    with guard(files.url, require_headers={"X-Api-Key": "from-env"}) as store:
        renderer = make_renderer("local", source(headers={"X-Api-Key": "${STORE_KEY}"})).renderer
        assert renderer.read(item(store.href("columns.tif")), setting[0], STYLE).valid.any()


def test_a_header_value_with_a_line_break_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STORE_KEY", "k\r\nX-Injected: 1")
    with pytest.raises(ConfigError, match=r"sources\.pc\.headers\.X-Api-Key: .*line break") as caught:
        make_renderer("local", source(headers={"X-Api-Key": "${STORE_KEY}"}))
    assert "Injected" not in str(caught.value)


def test_a_refused_read_says_which_setting_is_missing(files: RangeServer, setting: tuple[Grid, np.ndarray]) -> None:
    with guard(files.url, require_headers={"X-Api-Key": "k-123"}) as store:
        renderer = make_renderer("local", source()).renderer
        with pytest.raises(RenderError, match=r"403.*set it in `sources\.pc\.headers`"):
            renderer.read(item(store.href("columns.tif")), setting[0], STYLE)
        wrong = make_renderer("local", source(headers={"X-Api-Key": "nope"})).renderer
        with pytest.raises(RenderError, match=r"check the values of `sources\.pc\.headers`") as caught:
            wrong.read(item(store.href("columns.tif")), setting[0], STYLE)
        assert "nope" not in str(caught.value)


# --- Planetary Computer signing ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("href", "container"),
    [
        ("https://landsateuwest.blob.core.windows.net/landsat-c2/level-2/a.TIF", ("landsateuwest", "landsat-c2")),
        ("https://ACCT.blob.core.windows.net/c/a.tif?sv=1&sig=x", ("acct", "c")),
        ("http://127.0.0.1:10000/devstoreaccount1/c/a.tif", ("devstoreaccount1", "c")),
        ("https://acct.blob.core.windows.net/only-container", None),
        ("https://sentinel-cogs.s3.us-west-2.amazonaws.com/a/B04.tif", None),
        ("s3://bucket/a.tif", None),
        ("/data/a.tif", None),
    ],
)
def test_blob_container(href: str, container: tuple[str, str] | None) -> None:
    assert blob_container(href) == container


def test_signing_reads_with_a_fresh_token_cached_per_container(
    files: RangeServer, cog_dir: Path, setting: tuple[Grid, np.ndarray]
) -> None:
    grid, inside = setting
    with token_server() as tokens, guard(files.url, tokens=tokens.accepted) as store:
        renderer = make_renderer("local", source(sign="planetary-computer", sign_url=tokens.sign_url)).renderer
        href = store.href(BLOB)
        first = renderer.read(item(href), grid, STYLE)
        second = renderer.read(item(href), grid, STYLE)
        assert tokens.issued() == 1  # one token for both reads
        assert tokens.requests[0]["path"].endswith("/landsateuwest/landsat-c2")
        assert store.requests and not store.refused()
        assert all(request["query"] in tokens.accepted for request in store.requests)
    for data in (first, second):
        assert np.array_equal(data.values[inside], expected(cog_dir, grid)[inside])


def test_tokens_are_renewed_before_they_expire(files: RangeServer) -> None:
    with token_server(lifetime=120) as tokens:
        lasting = HrefSigner(sign_url=tokens.sign_url, refresh_margin=0)
        href = files.href(BLOB)
        first = lasting.sign(href)
        assert lasting.sign(href) == first and tokens.issued() == 1
        cautious = HrefSigner(sign_url=tokens.sign_url, refresh_margin=300)  # 120 s left is too little
        renewed = cautious.sign(href)
        assert tokens.issued() == 2 and renewed != first and renewed.split("?", 1)[1] in tokens.accepted
        other = lasting.sign(files.href("landsateuwest/other/x.tif"))
        assert "sig=" in other and tokens.requests[-1]["path"].endswith("/landsateuwest/other")


def test_an_expired_presigned_href_is_signed_afresh_and_other_queries_kept() -> None:
    with token_server() as tokens:
        signer = HrefSigner(sign_url=tokens.sign_url, refresh_margin=0)
        stale = signer.sign("https://acct.blob.core.windows.net/c/a.tif?se=2020-01-01&sig=OLD")
        assert "OLD" not in stale and stale.split("?", 1)[1] in tokens.accepted
        versioned = signer.sign("https://acct.blob.core.windows.net/c/a.tif?versionid=7")
        assert versioned.startswith("https://acct.blob.core.windows.net/c/a.tif?versionid=7&st=")
        assert signer.sign("https://example.org/a.tif") == "https://example.org/a.tif"


def test_titiler_gets_signed_hrefs(
    files: RangeServer, cog_dir: Path, setting: tuple[Grid, np.ndarray], loopback_titiler: TitilerServer
) -> None:
    grid, inside = setting
    with token_server() as tokens, guard(files.url, tokens=tokens.accepted) as store:
        spec = source(sign="planetary-computer", sign_url=tokens.sign_url, raster_api=loopback_titiler.url)
        renderer = make_renderer("titiler", spec).renderer
        data = renderer.read(item(store.href(BLOB)), grid, STYLE)
        assert store.requests and not store.refused() and tokens.issued() == 1
    assert np.array_equal(data.values[inside], expected(cog_dir, grid)[inside])


def test_unsigned_blob_reads_hint_at_sign(files: RangeServer, setting: tuple[Grid, np.ndarray]) -> None:
    with token_server() as tokens, guard(files.url, tokens=tokens.accepted) as store:
        renderer = make_renderer("local", source()).renderer
        with pytest.raises(RenderError, match=r"403.*need `sources\.pc\.sign: planetary-computer`"):
            renderer.read(item(store.href(BLOB)), setting[0], STYLE)


def test_the_token_endpoint_gets_the_source_headers_and_its_refusal_is_explained(files: RangeServer) -> None:
    with token_server(require_headers={"Ocp-Apim-Subscription-Key": "sub"}) as tokens:
        refused = HrefSigner(sign_url=tokens.sign_url, where="sources.pc")
        with pytest.raises(SourceError, match=r"sources\.pc\.sign: token endpoint .* 401.*set it in sources\.pc\.headers"):
            refused.sign(files.href(BLOB))
        keyed = HrefSigner(sign_url=tokens.sign_url, http=HttpSettings(headers={"Ocp-Apim-Subscription-Key": "sub"}))
        assert "sig=" in keyed.sign(files.href(BLOB))
    with token_server(status=503) as down:
        with pytest.raises(SourceError, match=r"no token|503"):
            HrefSigner(sign_url=down.sign_url, http=HttpSettings(retries=0)).sign(files.href(BLOB))


def _read_in_worker(renderer: LocalRenderer, href: str, grid: Grid) -> tuple[np.ndarray, int]:
    data = renderer.read(item(href), grid, STYLE)
    return data.values, signing.fetched


def test_signing_works_in_worker_processes(files: RangeServer, cog_dir: Path, setting: tuple[Grid, np.ndarray]) -> None:
    grid, inside = setting
    with token_server() as tokens, guard(files.url, tokens=tokens.accepted) as store:
        renderer = make_renderer("local", source(sign="planetary-computer", sign_url=tokens.sign_url)).renderer
        assert pickle.loads(pickle.dumps(renderer)).signer == renderer.signer  # settings only
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            runs = [pool.submit(_read_in_worker, renderer, store.href(BLOB), grid).result() for _ in range(2)]
        assert [fetched for _, fetched in runs] == [1, 1]  # the worker's own token cache
        assert tokens.issued() == 1 and not store.refused()
    for values, _ in runs:
        assert np.array_equal(values[inside], expected(cog_dir, grid)[inside])


def test_signed_reads_overlapped_on_reader_threads_share_one_token(
    files: RangeServer, cog_dir: Path, setting: tuple[Grid, np.ndarray]
) -> None:
    """Remote reads of one task overlap (``render.frames.read_overlapped``); the readers wait for
    the one token request of their container instead of each asking for one."""
    from generator.core.model import FramePlan
    from generator.render.frames import read_overlapped, reads_at_once, render_frame

    grid, inside = setting
    with token_server() as tokens, guard(files.url, tokens=tokens.accepted) as store:
        renderer = LocalRenderer(signer=HrefSigner(sign_url=tokens.sign_url, where="sources.pc"), remote_reads=4)
        frames = [FramePlan(datetime=datetime(2024, 1, day, tzinfo=UTC), items=(item(store.href(BLOB)),)) for day in (1, 2, 3, 4)]
        assert reads_at_once(renderer, frames) == 4
        read = read_overlapped(lambda frame: render_frame(frame, grid, STYLE, renderer), frames, 4)
        assert tokens.issued() == 1 and not store.refused()
    for data in read:
        assert np.array_equal(data.values[inside], expected(cog_dir, grid)[inside])


# --- requester pays ---------------------------------------------------------------------------


def test_requester_pays_buckets(
    loopback_s3: S3Server, cog_dir: Path, setting: tuple[Grid, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    grid, inside = setting
    client = loopback_s3.client()
    client.create_bucket(Bucket="payer-bucket")
    client.put_bucket_request_payment(Bucket="payer-bucket", RequestPaymentConfiguration={"Payer": "Requester"})
    for key in ("c/columns.tif", "c/unpaid.tif"):  # GDAL caches what it read: another key for the refusal
        client.upload_file(str(cog_dir / "columns.tif"), "payer-bucket", key)
    # credentials come from the environment, as for a real requester-pays bucket
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    # moto stores the bucket's payment setting; the guard enforces it as S3 does
    with guard(loopback_s3.endpoint, require_headers={"x-amz-request-payer": "requester"}) as s3:
        paying = RemoteAccess(s3_endpoint=s3.url, s3_region="us-east-1", s3_requester_pays=True)
        assert paying.gdal_options()["AWS_REQUEST_PAYER"] == "requester"
        data = LocalRenderer(paying).read(item("s3://payer-bucket/c/columns.tif"), grid, STYLE)
        assert np.array_equal(data.values[inside], expected(cog_dir, grid)[inside])
        assert s3.requests and not s3.refused()
        plain = LocalRenderer(RemoteAccess(s3_endpoint=s3.url, s3_region="us-east-1"))
        with pytest.raises(RenderError, match=r"s3\.requester_pays: true") as caught:
            plain.read(item("s3://payer-bucket/c/unpaid.tif"), grid, STYLE)
        assert "s3.unsigned: true" in str(caught.value)  # both S3 settings are named


def test_workers_read_s3_with_the_environments_credentials_though_their_rasterio_has_no_boto3(
    loopback_s3: S3Server, cog_dir: Path, setting: tuple[Grid, np.ndarray]
) -> None:
    """The fork server imports rasterio without boto3 (``engine.preload``): a worker's reads of
    ``s3://`` assets are still signed, by GDAL, with the credentials of the environment."""
    import subprocess
    import sys

    grid, inside = setting
    loopback_s3.client().upload_file(str(cog_dir / "columns.tif"), loopback_s3.bucket, "signed/columns.tif")
    with guard(loopback_s3.endpoint) as s3:
        script = (
            "import multiprocessing, pickle, sys\n"
            "from concurrent.futures import ProcessPoolExecutor\n"
            "from generator.engine.executors import FORK_SERVER_PRELOAD\n"
            "from generator.render.access import RemoteAccess\n"
            "from generator.render.local import LocalRenderer\n"
            "item, grid, style = pickle.loads(sys.stdin.buffer.read())\n"
            "context = multiprocessing.get_context('forkserver')\n"
            "context.set_forkserver_preload(FORK_SERVER_PRELOAD)\n"
            "with ProcessPoolExecutor(1, mp_context=context) as pool:\n"
            "    no_boto3 = pool.submit(eval, \"__import__('rasterio.session').session.boto3 is None\").result()\n"
            f"    renderer = LocalRenderer(RemoteAccess(s3_endpoint={s3.url!r}, s3_region='us-east-1'))\n"
            "    data = pool.submit(renderer.read, item, grid, style).result()\n"
            "sys.stdout.buffer.write(pickle.dumps((no_boto3, data.values)))\n"
        )
        environment = {**os.environ, "AWS_ACCESS_KEY_ID": "reader-key", "AWS_SECRET_ACCESS_KEY": "reader-secret"}
        request = pickle.dumps((item(f"s3://{loopback_s3.bucket}/signed/columns.tif"), grid, STYLE))
        ran = subprocess.run(
            [sys.executable, "-c", script], input=request, capture_output=True, env=environment, timeout=120, check=True
        )
        no_boto3, values = pickle.loads(ran.stdout)
        signatures = [str(request["headers"].get("authorization", "")) for request in s3.requests]  # type: ignore[union-attr]
    assert no_boto3
    assert np.array_equal(values[inside], expected(cog_dir, grid)[inside])
    assert signatures and all(signature.startswith("AWS4-HMAC-SHA256 Credential=reader-key/") for signature in signatures)


# --- config -----------------------------------------------------------------------------------

CONFIG = """
site: {{title: t}}
sources:
  pc:
    api: https://planetarycomputer.microsoft.com/api/stac/v1
{extra}
collections:
  - {{id: landsat-c2-l2, source: pc, asset: lwir11, datetime: 2024-01/2024-03}}
regions:
  - {{id: box, title: Box, bbox: [1, 2, 3, 4]}}
"""


def test_config_keys_reach_the_source_spec(tmp_path: Path) -> None:
    extra = "    sign: planetary-computer\n    sign_url: http://127.0.0.1:1/token\n    s3: {requester_pays: true}"
    config = parse_config(CONFIG.format(extra=extra), tmp_path / "site_config.yml")
    spec = source_spec("pc", config.model.sources["pc"], config)
    assert (spec.sign, spec.sign_url, spec.s3.requester_pays) == ("planetary-computer", "http://127.0.0.1:1/token", True)
    default = parse_config(CONFIG.format(extra="    sign: planetary-computer"), tmp_path / "site_config.yml")
    signer = make_renderer("local", source_spec("pc", default.model.sources["pc"], default)).renderer.signer
    assert signer is not None and signer.sign_url == PLANETARY_COMPUTER_SIGN_URL


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("    sign_url: https://example.org/token", "`sign_url` goes with `sign: planetary-computer`"),
        ("    sign: azure", "planetary-computer"),
        ("    s3: {requester_pays: true, unsigned: true}", "drop `unsigned: true`"),
    ],
)
def test_config_errors(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config(CONFIG.format(extra=extra), tmp_path / "site_config.yml")


# --- the examples -----------------------------------------------------------------------------

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", ["earth-search-true-colour.yml", "planetary-computer-landsat.yml"])
def test_the_real_world_examples_validate_offline(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    from generator.cli.main import main

    assert main(["validate", "--offline", "--config", str(REPO / "examples" / name)]) == 0
    assert "is valid (1 animations)" in capsys.readouterr().out


def test_the_planetary_computer_example_signs_its_source() -> None:
    from generator.config.loading import load_config

    text = (REPO / "examples" / "planetary-computer-landsat.yml").read_text()
    assert "sign: planetary-computer" in text and "asset: lwir11" in text
    config = load_config(REPO / "examples" / "planetary-computer-landsat.yml")
    assert config.model.sources["pc"].sign == "planetary-computer"
