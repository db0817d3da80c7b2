"""Which asset an animation reads, and several animations of one STAC collection.

Real metadata: the Earth Search Sentinel-2 L2A collection (its ``item_assets``) and one of its
items (``tests/data/stac/earth-search``), with the hrefs of the assets read pointing at tiny COGs
made here and the footprint moved over them. Sentinel-2 items have some twenty assets with role
``data``: without ``asset:`` nothing may be guessed. Covers ``collections[].stac_collection``
(two entries of one STAC collection built side by side, one search), ``animations[].style``, and
the asset named by ``list``, the animation page, the manifest and ``provenance.json``.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from PIL import Image

from generator.cli.main import main
from generator.core.dates import Interval
from generator.core.errors import ConfigError
from generator.core.model import AssetDescription, AssetRef, SourceItem
from generator.engine.build import build
from generator.plan.assets import choose_assets
from generator.plan.schedule import SearchCache, plan_animation
from generator.plan.site import load_site
from generator.sources.catalog import StaticCatalogSource
from generator.sources.regions import load_regions

from .conftest import write_cog

EARTH_SEARCH = Path(__file__).parent / "data" / "stac" / "earth-search"
COLLECTION = json.loads((EARTH_SEARCH / "collection-sentinel-2-l2a.json").read_text())
ITEM = json.loads((EARTH_SEARCH / "items" / "S2B_24MWV_20250731_0_L2A.json").read_text())
FOOTPRINT = [0.0, 0.0, 64.0, 64.0]  # where the COGs are (write_cog's default lon/lat grid)
DATES = ("2025-07-01T10:00:00Z", "2025-07-11T10:00:00Z", "2025-07-21T10:00:00Z", "2025-07-31T10:00:00Z")
COLS = np.tile(np.arange(64, dtype="float32"), (64, 1))
VALUES = {"red": 10.0 + COLS, "nir": 73.0 - COLS}  # left to right: red rises, nir falls


@pytest.fixture(scope="module")
def cogs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("s2-cogs")
    return {key: write_cog(folder / f"{key}.tif", values) for key, values in VALUES.items()}


def write_s2_catalog(root: Path, cogs: dict[str, Path], *, item_assets: dict[str, Any] | None = None,
                     item_keys: list[str] | None = None) -> Path:
    """A static catalog of the Earth Search collection with one item per date; ``item_assets``
    replaces the collection's, ``item_keys`` keeps only those assets of the items."""
    root.mkdir(parents=True, exist_ok=True)
    collection = copy.deepcopy(COLLECTION)
    if item_assets is not None:
        collection["item_assets"] = item_assets
    collection["links"] = [{"rel": "root", "href": "./collection.json", "type": "application/json"}]
    west, south, east, north = FOOTPRINT
    for number, moment in enumerate(DATES):
        item = copy.deepcopy(ITEM)
        item["id"] = f"S2B_TEST_{number}"
        item["properties"]["datetime"] = moment
        item["geometry"] = shapely.geometry.mapping(shapely.box(west, south, east, north))
        item["bbox"] = FOOTPRINT
        item["links"] = [{"rel": "collection", "href": "./collection.json", "type": "application/json"}]
        if item_keys is not None:
            item["assets"] = {key: item["assets"][key] for key in item_keys}
        for key, path in cogs.items():
            if key in item["assets"]:
                item["assets"][key]["href"] = str(path)
        (root / f"{item['id']}.json").write_text(json.dumps(item))
        collection["links"].append({"rel": "item", "href": f"./{item['id']}.json", "type": "application/geo+json"})
    (root / "collection.json").write_text(json.dumps(collection))
    return root / "collection.json"


def write_config(folder: Path, collections: str, animations: str = "") -> Path:
    config = folder / "site_config.yml"
    config.write_text(
        "site: {title: Sentinel-2}\n"
        "sources: {s2: {catalog: catalog/collection.json}}\n"
        f"collections:\n{collections}"
        "regions:\n  - {id: box, bbox: [10, 10, 50, 50]}\n"
        f"{animations}"
        "render: {size: 64, overlays: {date: false, borders: false, context: [], legend: false}}\n"
    )
    return config


RAW = "style: {rescale: [10, 73], scale: raw}"  # the COGs' own values (Earth Search scales reflectance)


# --- no silent guess ------------------------------------------------------------------------------


def test_several_data_assets_without_asset_is_a_config_error_listing_them(
    tmp_path: Path, cogs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    write_s2_catalog(tmp_path / "catalog", cogs)
    config = write_config(tmp_path, f"  - {{id: sentinel-2-l2a, source: s2, {RAW}}}\n")
    for command in (["list"], ["validate"], ["validate", "--offline"]):
        assert main([*command, "--config", str(config)]) == 2, command
        err = capsys.readouterr().err
        (line,) = [line for line in err.splitlines() if "data assets" in line]
        assert str(config) in line and "collections[0]" in line and "set `asset:`" in line
        # Every candidate is named with its title, and preview pictures are not candidates.
        assert "red (Red" in line and "nir (NIR" in line and "aot (Aerosol optical thickness (AOT))" in line
        assert "visual" not in line.replace("visual-jp2", "") and "thumbnail" not in line
    # Built anyway, the animation fails with the same reason instead of showing aerosol thickness,
    # and the build's exit code says the config needs fixing.
    result = build(config, tmp_path / "out")
    (record,) = result.records
    assert record.status == "failed" and "data assets" in (record.error or "")
    assert result.config_failures == [record.id]
    assert main(["build", "--config", str(config), "--output", str(tmp_path / "out2"), "--jobs", "1"]) == 2
    assert "the config needs fixing for: sentinel-2-l2a--box" in capsys.readouterr().err


def test_one_data_asset_is_used_and_named(tmp_path: Path, cogs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # Items with one `data` asset beside preview pictures and metadata: no `asset:` needed.
    write_s2_catalog(tmp_path / "catalog", cogs, item_keys=["red", "visual", "thumbnail", "granule_metadata"])
    config = write_config(tmp_path, f"  - {{id: sentinel-2-l2a, source: s2, {RAW}}}\n")
    assert main(["list", "--config", str(config)]) == 0
    assert "sentinel-2-l2a--box: 4 items → 4 frames" in (out := capsys.readouterr().out) and "asset red," in out


def test_the_choice_rules() -> None:
    described = {
        "red": AssetDescription("Red", ("data",)), "nir": AssetDescription("NIR", ("data",)),
        "visual": AssetDescription("True colour", ("visual", "data")),
    }
    where = dict(collection="s2", where="collections[0]", found_in="its item_assets")
    assert choose_assets("nir", (), described, **where) == ("nir",)
    assert choose_assets(None, ("swir", "nir"), described, **where) == ("nir",)  # the render's asset the items have
    with pytest.raises(ConfigError, match=r"2 data assets in its item_assets .*red \(Red\), nir \(NIR\)"):
        choose_assets(None, ("swir",), described, **where)
    with pytest.raises(ConfigError, match=r"collections\[0\]\.asset: collection 's2' has no asset 'lwir11'"):
        choose_assets("lwir11", (), described, **where)
    # Without any role `data`, the only cloud-optimized GeoTIFF is the data.
    cog = "image/tiff; application=geotiff; profile=cloud-optimized"
    assert choose_assets(None, (), {"b": AssetRef("b.tif", (), cog), "p": AssetRef("p.png", ())}, **where) == ("b",)


# --- validate: item_assets offline, the first item online ---------------------------------------


def test_validate_offline_checks_asset_against_item_assets(
    tmp_path: Path, cogs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    write_s2_catalog(tmp_path / "catalog", cogs)
    config = write_config(tmp_path, f"  - {{id: sentinel-2-l2a, source: s2, asset: red, {RAW}}}\n")
    assert main(["validate", "--offline", "--config", str(config)]) == 0
    assert "collection sentinel-2-l2a: asset red (checked against its item_assets)" in capsys.readouterr().out
    config.write_text(config.read_text().replace("asset: red", "asset: lwir11"))  # a Landsat key
    assert main(["validate", "--offline", "--config", str(config)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {config}: collections[0].asset: collection 'sentinel-2-l2a' has no asset 'lwir11'")
    assert "in its item_assets" in line and "red (Red (band 4) - 10m)" in line and "set `asset:` to one of them" in line


def test_online_the_first_item_wins_over_item_assets(
    tmp_path: Path, cogs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    # The collection documents one data asset (`B04`), its items have `red` and `nir`.
    item_assets = {"B04": {"title": "Band 4", "roles": ["data"]}, "thumbnail": {"roles": ["thumbnail"]}}
    write_s2_catalog(tmp_path / "catalog", cogs, item_assets=item_assets, item_keys=["red", "nir", "thumbnail"])
    config = write_config(tmp_path, f"  - {{id: sentinel-2-l2a, source: s2, asset: red, {RAW}}}\n")
    assert main(["validate", "--offline", "--config", str(config)]) == 2
    assert "has no asset 'red' in its item_assets" in capsys.readouterr().err
    assert main(["validate", "--config", str(config)]) == 0  # the items have it: they win
    assert "asset red (checked against its first item 'S2B_TEST_0')" in capsys.readouterr().out

    config.write_text(config.read_text().replace("asset: red, ", ""))
    assert main(["validate", "--offline", "--config", str(config)]) == 0  # item_assets: only B04
    assert "asset B04 (checked against its item_assets)" in capsys.readouterr().out
    assert main(["validate", "--config", str(config)]) == 2  # the items: red and nir
    line = capsys.readouterr().err
    assert "2 data assets in its first item 'S2B_TEST_0'" in line and "red (Red - 10m), nir (NIR 1 - 10m)" in line


def test_validate_reports_an_unknown_colormap_offline(tmp_path: Path, cogs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    write_s2_catalog(tmp_path / "catalog", cogs)
    config = write_config(
        tmp_path, "  - {id: sentinel-2-l2a, source: s2, asset: red, style: {rescale: [0, 1], colormap: viridos}}\n",
        "animations:\n  - {collection: sentinel-2-l2a, region: box, style: {colormap: magmo}}\n",
    )
    assert main(["validate", "--offline", "--config", str(config)]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert f"{config}: collections[0].style.colormap" in lines[0] and "did you mean viridis" in lines[0]
    assert f"{config}: animations[0].style.colormap" in lines[1] and "did you mean magma" in lines[1]


# --- one STAC collection, several configured collections ----------------------------------------


def test_stac_collection_feeds_two_collections_built_side_by_side(
    tmp_path: Path, cogs: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    write_s2_catalog(tmp_path / "catalog", cogs)
    config = write_config(
        tmp_path,
        f"  - {{id: s2-red, stac_collection: sentinel-2-l2a, source: s2, asset: red, {RAW}}}\n"
        f"  - {{id: s2-nir, stac_collection: sentinel-2-l2a, source: s2, asset: nir, {RAW}}}\n",
    )
    assert main(["validate", "--offline", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "collection s2-red: asset red (checked against its item_assets)" in out
    assert "collection s2-nir: asset nir (checked against its item_assets)" in out
    result = build(config, tmp_path / "out")
    records = {record.collection_id: record for record in result.records}
    assert set(records) == {"s2-red", "s2-nir"} and all(r.status == "ok" for r in records.values())
    for key, record in (("red", records["s2-red"]), ("nir", records["s2-nir"])):
        assert record.assets == (key,)
        assert {item.href for frame in record.frames for item in frame.items} == {str(cogs[key])}
        assert len(record.frames) == 4
    # The pixels: red rises from west to east, nir falls (palette indices of the last frame).
    red, nir = (np.asarray(Image.open(tmp_path / "out" / records[c].files.frames[-1])) for c in ("s2-red", "s2-nir"))
    row = red.shape[0] // 2
    assert red[row, 10] < red[row, -10] and nir[row, 10] > nir[row, -10]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    entries = {entry["collection"]: entry for entry in manifest["animations"]}
    assert entries["s2-red"]["assets"] == ["red"] and entries["s2-nir"]["assets"] == ["nir"]
    assert entries["s2-red"]["stac_collection"] == entries["s2-nir"]["stac_collection"] == "sentinel-2-l2a"
    provenance = json.loads((tmp_path / "out" / entries["s2-nir"]["provenance"]).read_text())
    assert provenance["animation"]["assets"] == ["nir"] and provenance["animation"]["stac_collection"] == "sentinel-2-l2a"
    # The page names the asset (with its title from item_assets) and the STAC collection.
    page = (tmp_path / "out" / records["s2-nir"].files.page).read_text()
    assert "<dt>Asset</dt>" in page and "<code>nir</code> (NIR 1 (band 8) - 10m)" in page
    assert "<dt>STAC collection</dt><dd><code>sentinel-2-l2a</code></dd>" in page


def test_a_duplicate_collection_id_points_at_stac_collection(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(
        tmp_path,
        "  - {id: sentinel-2-l2a, source: s2, asset: red}\n  - {id: sentinel-2-l2a, source: s2, asset: nir}\n",
    )
    assert main(["validate", "--offline", "--config", str(config)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "collections[1].id: duplicate collection id 'sentinel-2-l2a'" in line and "same `stac_collection`" in line


class CountingSource(StaticCatalogSource):
    """A static catalog that counts its searches."""

    searches = 0

    def items(self, collection_id: str, interval: Interval | None, region: Any) -> list[SourceItem]:
        type(self).searches += 1
        return super().items(collection_id, interval, region)


def test_animations_of_one_stac_collection_share_a_search(tmp_path: Path, cogs: dict[str, Path]) -> None:
    href = write_s2_catalog(tmp_path / "catalog", cogs)
    config = write_config(
        tmp_path,
        f"  - {{id: s2-red, stac_collection: sentinel-2-l2a, source: s2, asset: red, {RAW}}}\n"
        f"  - {{id: s2-nir, stac_collection: sentinel-2-l2a, source: s2, asset: nir, {RAW}}}\n"
        f"  - {{id: s2-late, stac_collection: sentinel-2-l2a, source: s2, asset: nir, datetime: 2025-07-20/.., {RAW}}}\n",
    )
    site = load_site(config)
    regions = load_regions(site.regions)
    source = CountingSource(name="s2", href=str(href))
    searches = SearchCache(None, 0)
    plans = {
        spec.id: plan_animation(spec, regions[spec.region.id], source, site.sources["s2"], searches)
        for spec in site.animations
    }
    assert CountingSource.searches == 2  # red and nir: one search; another datetime: its own
    assert [len(plans[name].frames) for name in ("s2-red--box", "s2-nir--box", "s2-late--box")] == [4, 4, 2]
    assert [plans[name].assets for name in ("s2-red--box", "s2-nir--box")] == [("red",), ("nir",)]


# --- animations[].style -----------------------------------------------------------------------------


def test_animation_style_overrides_only_that_animation(tmp_path: Path, cogs: dict[str, Path]) -> None:
    write_s2_catalog(tmp_path / "catalog", cogs)
    config = write_config(
        tmp_path,
        "  - {id: s2, stac_collection: sentinel-2-l2a, source: s2, asset: red,"
        " style: {rescale: [10, 73], scale: raw, colormap: viridis, units: DN}}\n",
        "animations:\n"
        "  - {id: plain, collection: s2, region: box}\n"
        "  - {id: magma, collection: s2, region: box, style: {colormap: magma}}\n"
        "  - {id: narrow, collection: s2, region: box, style: {rescale: [30, 50]}}\n",
    )
    records = {record.id: record for record in build(config, tmp_path / "out").records}
    assert all(record.status == "ok" for record in records.values())
    plain, magma, narrow = (records[name].style for name in ("plain", "magma", "narrow"))
    assert plain is not None and magma is not None and narrow is not None
    assert (plain.colormap, magma.colormap, narrow.colormap) == ("viridis", "magma", "viridis")
    assert plain.rescale == magma.rescale == (10.0, 73.0) and narrow.rescale == (30.0, 50.0)
    assert plain.units == magma.units == narrow.units == "DN" and not plain.unscale and not narrow.unscale
    # The colours change, the palette levels only where the rescale changed.
    frames = {name: np.asarray(Image.open(tmp_path / "out" / records[name].files.frames[0])) for name in records}
    palettes = {name: Image.open(tmp_path / "out" / records[name].files.frames[0]).getpalette() for name in records}
    assert np.array_equal(frames["plain"], frames["magma"]) and palettes["plain"] != palettes["magma"]
    assert not np.array_equal(frames["plain"], frames["narrow"])


def test_an_animation_style_is_validated_merged_with_its_collections(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(
        tmp_path, "  - {id: s2, source: s2, asset: red, style: {rescale: [0, 73]}}\n",
        "animations:\n  - {collection: s2, region: box, style: {scale: log}}\n",
    )
    assert main(["validate", "--offline", "--config", str(config)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: {config}: animations[0].style:") and "(merged over collections[0].style)" in line
