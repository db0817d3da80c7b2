"""A build loads the code of the kinds it uses: a local catalog read by the local renderer loads no
HTTP library, no STAC API client and no TiTiler client."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import generator

from .test_engine import make_site

REPO = Path(generator.__file__).resolve().parents[1]

#: Builds the config given as the first argument, then prints the modules the process loaded.
BUILD_AND_LIST = """\
import json, sys
from generator.cli.main import main
assert main(["build", "-q", "--config", sys.argv[1], "--output", sys.argv[2], "--no-cache", "--jobs", "1"]) == 0
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by_a_build(config: Path, output: Path) -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", BUILD_AND_LIST, str(config), str(output)],
        cwd=REPO, check=True, capture_output=True, text=True,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_a_build_from_a_local_catalog_does_not_import_requests(tmp_path: Path) -> None:
    config = make_site(tmp_path, months=3)
    modules = loaded_by_a_build(config, tmp_path / "output")
    assert (tmp_path / "output" / "animations" / "c--a" / "c--a.gif").is_file()
    assert {"generator.sources.catalog", "generator.render.local", "pystac"} <= modules  # what it did use
    assert "requests" not in modules
    assert "generator.sources.http" not in modules
    assert "generator.sources.stac_api" not in modules and "pystac_client" not in modules
    assert "generator.render.titiler" not in modules


#: Builds like ``python -m generator build`` (``run``: the process's command), then prints the
#: modules the process loaded and whether rasterio kept a boto3.
RUN_AND_LIST = """\
import json, sys
from generator.cli.main import run
assert run(["build", "-q", "--config", sys.argv[1], "--output", sys.argv[2], "--no-cache", "--jobs", "1"]) == 0
print(json.dumps([sorted(sys.modules), sys.modules["rasterio.session"].boto3 is None]))
"""


def test_the_command_reads_with_rasterio_but_does_not_load_boto3(tmp_path: Path) -> None:
    """boto3 (installed here: the S3 test server needs it) costs ≈ 0.15 s to import and a build
    never uses rasterio's sessions: GDAL signs ``/vsis3/`` reads itself (``test_source_access``)."""
    import importlib.util

    assert importlib.util.find_spec("boto3") is not None, "boto3 must be installed for this test to mean anything"
    config = make_site(tmp_path, months=3)
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST, str(config), str(tmp_path / "output")],
        cwd=REPO, check=True, capture_output=True, text=True,
    )
    modules, rasterio_without_boto3 = json.loads(done.stdout.strip().splitlines()[-1])
    assert (tmp_path / "output" / "animations" / "c--a" / "c--a.gif").is_file()
    assert "rasterio" in modules and "generator.render.local" in modules  # it did read, in this process
    assert rasterio_without_boto3
    assert "boto3" not in modules and "botocore" not in modules


FINDER = """\
import sys
from generator.render.rasterio_import import rasterio_without_boto3
{before}
rasterio_without_boto3()
import rasterio.session
import boto3
print(rasterio.session.boto3 is None, any(type(f).__name__ == "_NoBoto3ForRasterio" for f in sys.meta_path))
"""


def test_only_rasterios_import_of_boto3_is_refused_and_only_while_rasterio_loads() -> None:
    def run(before: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", FINDER.format(before=before)], cwd=REPO, check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    assert run("") == "True False"  # refused for rasterio; boto3 imported afterwards; the finder gone
    assert run("import boto3") == "False False"  # already loaded: rasterio takes it, nothing is installed
