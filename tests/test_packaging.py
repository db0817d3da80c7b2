"""A non-editable install (the built wheel) run from another folder builds the same gallery."""

from __future__ import annotations

import filecmp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from generator.engine.build import build

from .conftest import REPO, FakeItem, column_values, write_catalog, write_cog


@pytest.fixture(scope="module")
def installed_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The project's wheel, built without network and unpacked into a private folder."""
    wheels = tmp_path_factory.mktemp("wheels")
    target = tmp_path_factory.mktemp("site-packages")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(wheels), str(REPO)], check=True)
    (wheel,) = wheels.glob("*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", str(target), str(wheel)], check=True)
    return target


def make_site(folder: Path) -> Path:
    cogs = [write_cog(folder / "cogs" / f"m{n}.tif", column_values(64) * (n + 1) / 4) for n in range(3)]
    items = [FakeItem(id=f"m{n}", datetime=f"2022-0{n + 1}-01T00:00:00Z", cog=cog) for n, cog in enumerate(cogs)]
    write_catalog(folder / "catalog", "m", items, renders={"x": {"rescale": [[0, 64]], "colormap_name": "plasma"}})
    (folder / "area.geojson").write_text(
        '{"type": "Feature", "properties": {}, "geometry": {"type": "Polygon", '
        '"coordinates": [[[10, 10], [50, 12], [40, 50], [10, 10]]]}}'
    )
    (folder / "site_config.yml").write_text(
        "site: {title: Packaged}\n"
        "sources: {s: {catalog: catalog/catalog.json}}\n"
        "collections: [{id: m, source: s}]\n"
        "regions: [{id: area, geometry: area.geojson, borders: area.geojson}]\n"
        "render: {size: 96}\n"
    )
    return folder / "site_config.yml"


def test_the_wheel_ships_templates_and_static_assets(installed_wheel):
    package = installed_wheel / "generator"
    assert (package / "templates" / "base.html").is_file()
    assert (package / "templates" / "static" / "style.css").is_file()
    assert (package / "fonts" / "DejaVuSans.ttf").is_file() and (package / "fonts" / "LICENSE-DejaVu.txt").is_file()
    assert (package / "py.typed").is_file()
    # Natural Earth for the context layers and the locator globe, with its license and README.
    for name in ("countries-50m.json.gz", "land-110m.json.gz", "LICENSE-world-atlas.txt", "README.md"):
        assert (package / "geodata" / name).is_file(), name


def test_installed_copy_run_elsewhere_builds_the_same_gallery(installed_wheel, tmp_path):
    reference_config = make_site(tmp_path / "reference")
    reference = build(reference_config).output_dir

    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(tmp_path / "reference", elsewhere, ignore=shutil.ignore_patterns("output"))
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    env = {**os.environ, "PYTHONPATH": str(installed_wheel)}
    where = subprocess.run(
        [sys.executable, "-c", "import generator, sys; sys.stdout.write(generator.__file__)"],
        cwd=workdir, env=env, capture_output=True, text=True, check=True,
    )
    assert Path(where.stdout).is_relative_to(installed_wheel), "the test must run the installed copy"
    subprocess.run(
        [sys.executable, "-m", "generator", "build", "--config", str(elsewhere / "site_config.yml"), "-q"],
        cwd=workdir, env=env, check=True,
    )
    built = elsewhere / "output"
    comparison = filecmp.dircmp(reference, built)
    assert comparison.left_only == [] and comparison.right_only == []
    for relative in ["index.html", "manifest.json", "animations/m--area/m--area.gif", "animations/m--area/index.html"]:
        assert (reference / relative).read_bytes() == (built / relative).read_bytes(), relative
