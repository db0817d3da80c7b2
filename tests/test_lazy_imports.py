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
