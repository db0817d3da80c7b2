"""A STAC collection's ``renders`` are checked by the rules of ``style:``, and ``validate --offline``
finds every style problem that can be known without the network."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from generator.cli.main import main
from generator.core.errors import StyleError
from generator.core.specs import StyleSpec
from generator.plan.styles import resolve_style

from .conftest import FakeItem, column_values, write_catalog, write_cog

GOOD = {"rescale": [[0, 64]], "colormap_name": "viridis"}


def two_collections(folder: Path, bad: dict[str, Any], style: str = "") -> Path:
    """A config with collection ``bad`` (given render) and collection ``good``, each in its own catalog."""
    cog = write_cog(folder / "cogs" / "a.tif", column_values(64))
    for name, render in (("bad", bad), ("good", GOOD)):
        write_catalog(folder / name, name, [FakeItem("i1", "2020-01-01T00:00:00Z", cog)], renders={"dashboard": render})
    config = folder / "site_config.yml"
    config.write_text(
        "site: {title: Renders}\n"
        "sources: {b: {catalog: bad/catalog.json}, g: {catalog: good/catalog.json}}\n"
        f"collections: [{{id: bad, source: b{style}}}, {{id: good, source: g}}]\n"
        "regions: [{id: a, bbox: [8, 8, 56, 56]}]\n"
        "render: {size: 64}\n"
    )
    return config


BAD_RENDERS = [
    ({"rescale": [[5, 5]]}, "renders.dashboard.rescale [[5, 5]]", "is empty"),
    ({"rescale": [["nan", 1]]}, "renders.dashboard.rescale [['nan', 1]]", "finite"),
    ({"rescale": [[float("nan"), 1]]}, "renders.dashboard.rescale [[nan, 1]]", "finite"),
    ({"rescale": [[-1.7e308, 1.7e308]]}, "renders.dashboard.rescale [[-1.7e+308, 1.7e+308]]", "spans more than a float"),
    ({"rescale": [[0, float("inf")]]}, "renders.dashboard.rescale [[0, inf]]", "finite"),
    ({"rescale": "0,1"}, "renders.dashboard.rescale '0,1'", "valid tuple"),
    ({"rescale": [[0, 1]], "bidx": [0]}, "renders.dashboard.bidx [0]", "greater than or equal to 1"),
    ({"rescale": [[0, 1]], "bidx": -2}, "renders.dashboard.bidx -2", "greater than or equal to 1"),
    ({"rescale": [[0, 1]], "bidx": [1, 2]}, "renders.dashboard.bidx [1, 2]", "one band, or three"),
    ({"rescale": [[0, 1]], "colormap_name": "viridiss"}, "renders.dashboard.colormap_name 'viridiss'", "did you mean viridis"),
    ({"rescale": [[0, 1]], "colormap_name": 7}, "renders.dashboard.colormap_name 7", "colormap name"),
    ({"rescale": [[0, 1]], "colormap": "viridis"}, "renders.dashboard.colormap 'viridis'", "{value: colour}"),
    ({"rescale": [[0, 1]], "resampling": "bicubic"}, "renders.dashboard.resampling 'bicubic'", "'nearest'"),
    ({"rescale": [[0, 1]], "nodata": "none"}, "renders.dashboard.nodata 'none'", "valid number"),
    ({"rescale": [[0, 1]], "expression": "b0 + b1"}, "renders.dashboard", "bands are numbered from b1"),
]


@pytest.mark.parametrize(("render", "names", "says"), BAD_RENDERS)
def test_bad_render_values_are_style_errors_naming_the_key_and_the_value(render: dict[str, Any], names: str, says: str) -> None:
    with pytest.raises(StyleError) as raised:
        resolve_style("c", {"dashboard": render}, None, "collections[0]")
    message = str(raised.value)
    assert message.startswith(f"collection 'c' {names}") and says in message, message


def test_every_bad_value_of_a_render_is_named() -> None:
    with pytest.raises(StyleError) as raised:
        resolve_style("c", {"dashboard": {"rescale": [[5, 5]], "bidx": [0], "resampling": "x"}}, None, "collections[0]")
    assert [part.split(" ")[2] for part in str(raised.value).split("; ")] == [
        "renders.dashboard.rescale", "renders.dashboard.bidx", "renders.dashboard.resampling",
    ]


def test_the_config_style_replaces_a_bad_render_value() -> None:
    render = {"dashboard": {"rescale": [[5, 5]], "colormap_name": "nope", "bidx": [0], "resampling": "x"}}
    section = StyleSpec(rescale=(0, 10), colormap="magma", bidx=2, resampling="bilinear")
    style = resolve_style("c", render, section, "collections[0]").style
    assert (style.rescale, style.colormap, style.bidx, style.resampling) == ((0, 10), "magma", 2, "bilinear")


def test_good_renders_still_resolve_as_before() -> None:
    render = {"dashboard": {"rescale": [[0, 1], [5, 5]], "colormap_name": "RdBu_r", "bidx": [2], "nodata": "nan",
                            "resampling": "average", "title": "ignored", "minmax_zoom": [2, 12]}}
    style = resolve_style("c", render, None, "collections[0]").style
    assert style.rescale == (0, 1) and style.colormap == "RdBu_r" and style.bidx == 2 and style.band_chosen
    assert style.nodata is not None and style.nodata != style.nodata  # NaN
    assert resolve_style("c", {"dashboard": {"rescale": [1, 0]}}, None, "w").style.rescale == (1, 0)  # reversed ramp


def test_a_bad_render_fails_its_animation_clearly_and_the_others_build(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = two_collections(tmp_path, {"rescale": [[5, 5]]})
    assert main(["build", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert "renders.dashboard.rescale [[5, 5]]" in err and "collection 'bad'" in err
    assert "unexpected" not in err
    assert (tmp_path / "output" / "animations" / "good--a").is_dir()


# --- validate --offline -------------------------------------------------------------------------


def test_validate_offline_reports_bad_renders_of_a_local_catalog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = two_collections(tmp_path, {"rescale": [[5, 5]], "colormap_name": "virdis", "resampling": "bicubic"})
    assert main(["validate", "--offline", "--config", str(config)]) == 2
    lines = [line.removeprefix("error: ") for line in capsys.readouterr().err.splitlines()]
    collection_file = str(tmp_path / "bad" / "bad" / "collection.json")
    for key, says in (("rescale [[5, 5]]", "is empty"), ("colormap_name 'virdis'", "did you mean viridis"),
                      ("resampling 'bicubic'", "'nearest'")):
        prefix = f"{collection_file}: collection 'bad' renders.dashboard.{key}: "
        assert any(line.startswith(prefix) and says in line for line in lines), (key, lines)
    assert not any("good" in line for line in lines)


def test_validate_offline_passes_a_bad_render_value_the_config_replaces(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = two_collections(tmp_path, {"rescale": [[5, 5]]}, style=", style: {rescale: [0, 64]}")
    assert main(["validate", "--offline", "--config", str(config)]) == 0
    assert "collection bad: style checked" in capsys.readouterr().out


def test_validate_offline_reports_unknown_colormaps_and_resamplings_in_style(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = two_collections(tmp_path, GOOD, style=", style: {colormap: magmma, resampling: cubicspline}")
    assert main(["validate", "--offline", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}: collections[0].style.colormap: unknown colormap 'magmma': did you mean magma" in err
    assert f"{config}: collections[0].style.resampling: Input should be 'nearest'" in err
    config.write_text(config.read_text().replace("magmma, resampling: cubicspline", "['#000000', 'white']"))
    assert main(["validate", "--offline", "--config", str(config)]) == 2
    assert "collections[0].style.colormap: colormap colour 'white' is not a hex colour" in capsys.readouterr().err


def test_validate_offline_reports_other_style_problems_a_missing_collection_and_a_bad_crs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = two_collections(tmp_path, {"colormap": {"water": [0, 0, 255]}})
    assert main(["validate", "--offline", "--config", str(config)]) == 2
    assert "renders.dashboard: colormap key 'water' is not a class value" in capsys.readouterr().err
    config = two_collections(tmp_path / "norescale", {"colormap_name": "magma"})
    assert main(["validate", "--offline", "--config", str(config)]) == 2
    assert "add `style: {rescale: [min, max]}` under collections[0]" in capsys.readouterr().err
    config.write_text(config.read_text().replace("{id: good, source: g}", "{id: nope, source: g}").replace(
        "render: {size: 64}", "render: {size: 64, crs: 'EPSG:123456'}"))
    assert main(["validate", "--offline", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert f"{config}: collections[1].id: source 'g': no collection 'nope'" in err
    assert f"{config}: render.crs: 'EPSG:123456' is not a CRS" in err and "(animations bad--a, nope--a)" in err


def test_validate_online_lists_render_problems_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = two_collections(tmp_path, {"rescale": [[0, 1]], "bidx": [0]})
    assert main(["validate", "--config", str(config)]) == 1
    assert "collection 'bad' renders.dashboard.bidx [0]: " in capsys.readouterr().err


def test_validate_offline_does_not_follow_remote_links_of_a_local_catalog(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = two_collections(tmp_path, GOOD)
    catalog = tmp_path / "bad" / "catalog.json"
    catalog.write_text(catalog.read_text().replace("./bad/collection.json", "http://127.0.0.1:9/bad/collection.json"))
    assert main(["validate", "--offline", "--config", str(config)]) == 0
    assert "collection bad: not checked, its catalog links to remote documents (--offline)" in capsys.readouterr().out
