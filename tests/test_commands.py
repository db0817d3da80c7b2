"""validate, list (and build --dry-run) and clean: checks that read no pixels."""

from __future__ import annotations

import subprocess
import sys

from generator.cli.main import main

from .test_engine import make_site


def test_validate_offline_checks_schema_and_local_files(tmp_path, capsys):
    config = make_site(tmp_path)
    assert main(["validate", "--offline", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "is valid (1 animations)" in out and "local catalog catalog.json found" in out
    (tmp_path / "catalog" / "catalog.json").unlink()
    assert main(["validate", "--offline", "--config", str(config)]) == 2
    assert "sources.s.catalog: file not found" in capsys.readouterr().err


def test_validate_online_reports_a_source_that_does_not_hold_the_collection(tmp_path, capsys):
    config = make_site(tmp_path)
    assert main(["validate", "--config", str(config)]) == 0
    config.write_text(config.read_text().replace("{id: c, source: s}", "{id: nope, source: s}"))
    assert main(["validate", "--config", str(config)]) == 1
    assert "no collection 'nope'" in capsys.readouterr().err


def test_list_and_dry_run_show_the_plan_without_building(tmp_path, capsys):
    config = make_site(tmp_path, months=3)
    assert main(["list", "--config", str(config)]) == 0
    line = "c--a: 3 items → 3 frames (0 gaps), 2020-01 – 2020-03, 64 px, gif"
    assert line in capsys.readouterr().out
    assert main(["build", "--dry-run", "--config", str(config)]) == 0
    assert line in capsys.readouterr().out
    assert not (tmp_path / "output").exists()


def test_clean_removes_cache_and_output_but_never_a_foreign_folder(tmp_path, capsys):
    config = make_site(tmp_path)
    assert main(["build", "--config", str(config), "-q", "--jobs", "1"]) == 0
    assert (tmp_path / ".cache").is_dir() and (tmp_path / "output").is_dir()
    assert main(["clean", "--config", str(config)]) == 0
    assert not (tmp_path / ".cache").exists() and not (tmp_path / "output").exists()
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep")
    assert main(["clean", "--config", str(config), "--output", str(foreign)]) == 2
    assert (foreign / "notes.txt").exists()


def test_help_and_validate_do_not_import_the_raster_stack():
    code = (
        "import sys; from generator import __main__; from generator.cli import commands, main; "
        "heavy = [m for m in ('rasterio', 'rio_tiler', 'av') if m in sys.modules]; print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
