"""validate, list (and build --dry-run) and clean: checks that read no pixels."""

from __future__ import annotations

import ast
import os
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
    line = "c--a: 3 items → 3 frames (0 gaps), 2020-01 – 2020-03, asset cog_default, 64 px, gif"
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


def _tree(folder):
    return sorted(str(path.relative_to(folder)) for path in folder.rglob("*"))


def test_clean_never_deletes_what_this_tool_did_not_make(tmp_path, capsys):
    config = make_site(tmp_path)
    project = _tree(tmp_path)
    # cache.dir pointing at the project folder itself: clean used to remove the whole project.
    config.write_text(config.read_text() + "cache: {dir: .}\n")
    assert main(["clean", "--config", str(config)]) == 2
    assert "holds the config" in capsys.readouterr().err
    important = tmp_path / "important"
    important.mkdir()
    (important / "thesis.tex").write_text("years of work")
    config.write_text(config.read_text().replace("cache: {dir: .}\n", ""))
    assert main(["clean", "--config", str(config), "--cache-dir", str(important)]) == 2
    assert "has no .eo-timelapse marker, so this tool did not make it" in capsys.readouterr().err
    # A web app whose only link to us is a file called manifest.json.
    webapp = tmp_path / "webapp"
    webapp.mkdir()
    (webapp / "manifest.json").write_text('{"name": "My PWA", "start_url": "/"}')
    (webapp / "index.html").write_text("<h1>app</h1>")
    assert main(["clean", "--config", str(config), "--output", str(webapp)]) == 2
    assert main(["build", "--config", str(config), "--output", str(webapp), "-q"]) == 2
    assert "--output" in capsys.readouterr().err
    assert _tree(tmp_path) == sorted([*project, "important", "important/thesis.tex", "webapp",
                                      "webapp/index.html", "webapp/manifest.json"])


def test_clean_removes_marked_and_legacy_folders(tmp_path):
    from generator.engine.ownership import MARKER, is_ours, write_marker

    config = make_site(tmp_path)
    cache = tmp_path / "old-cache"
    (cache / "frames" / "ab").mkdir(parents=True)  # made before caches were marked
    legacy_output = tmp_path / "old-output"
    legacy_output.mkdir()
    (legacy_output / "manifest.json").write_text('{"generator": {"name": "eo-timelapse-generator"}}')
    assert is_ours(cache, "cache") and is_ours(legacy_output, "output")
    assert main(["clean", "--config", str(config), "--cache-dir", str(cache), "--output", str(legacy_output)]) == 0
    assert not cache.exists() and not legacy_output.exists()
    write_marker(cache, "cache")
    (cache / "anything").write_text("x")
    assert is_ours(cache, "cache") and not is_ours(cache, "output")
    assert (cache / MARKER).read_text().startswith('{"kind": "cache", "tool": "eo-timelapse-generator"')


def test_clean_waits_for_no_build(tmp_path, capsys):
    from generator.engine.ownership import exclusive, output_lock_file

    config = make_site(tmp_path)
    output = tmp_path / "output"
    with exclusive(output_lock_file(output), "output folder"):
        assert main(["clean", "--config", str(config)]) == 2
    assert "is in use by another build (pid " in capsys.readouterr().err
    assert main(["clean", "--config", str(config)]) == 0


def test_help_and_validate_do_not_import_the_raster_stack():
    code = (
        "import sys; from generator import __main__; from generator.cli import commands, main; "
        "heavy = [m for m in ('rasterio', 'rio_tiler', 'av') if m in sys.modules]; print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


# Imported only where they are used: none of them is needed to start, or for a build with nothing to do.
HEAVY = ("scipy", "rio_tiler", "av", "pystac_client", "generator.overlays.basemap", "rasterio", "pyproj")


def _imported_after(args: list[str]) -> list[str]:
    """The heavy modules imported by ``python -m generator *args``, in a fresh interpreter."""
    code = (
        "import runpy, sys\n"
        f"sys.argv = ['generator', *{args!r}]\n"
        "try:\n"
        "    runpy.run_module('generator', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as end:\n"
        "    assert not end.code, end.code\n"
        f"print([m for m in {HEAVY!r} if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return list(ast.literal_eval(result.stdout.strip().splitlines()[-1]))


def test_help_imports_no_heavy_module():
    assert _imported_after(["--help"]) == []


# Loaded with what needs them: the config models (pydantic) when a config is read, requests when a
# source, region or renderer is opened, affine with the first grid.
DEFERRED = ("pydantic", "generator.config", "yaml", "requests", "affine")


def test_help_reads_no_config_and_opens_no_connection():
    code = (
        "import runpy, sys\n"
        "sys.argv = ['generator', '--help']\n"
        "try:\n"
        "    runpy.run_module('generator', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as end:\n"
        "    assert not end.code, end.code\n"
        f"print([m for m in {DEFERRED!r} if m in sys.modules])\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_a_warm_build_with_nothing_to_do_imports_no_heavy_module(tmp_path):
    config = make_site(tmp_path, months=2)
    assert main(["build", "--config", str(config)]) == 0
    assert _imported_after(["build", "--config", str(config)]) == []


def test_importing_the_build_engine_loads_no_page_or_raster_library():
    """Templates and Markdown (jinja2, markdown-it) load when pages are written; readers when frames are
    read; the config models when a config is read; requests when a source is opened; numpy, Pillow and
    shapely (and the animation machinery made of them) when a build starts."""
    wanted = ("jinja2", "markdown_it", "numpy", "PIL", "shapely", "generator.engine.animation", *HEAVY, *DEFERRED)
    code = f"import sys, generator.engine.build; print([m for m in {wanted!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_the_command_tunes_the_collector_for_a_short_process_and_main_does_not():
    """``python -m generator`` (``cli.main.run``) raises the full-collection threshold and freezes
    what is left at the end (the interpreter's exit need not walk it all); ``main``, which tests
    and other programs call in their own process, leaves their collector alone."""
    code = (
        "import gc, runpy, sys\n"
        "from generator.cli import main\n"
        "before = gc.get_threshold()\n"
        "try:\n"
        "    main.main(['--version'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "untouched = gc.get_threshold() == before and gc.get_freeze_count() == 0\n"
        "sys.argv = ['generator', '--version']\n"
        "try:\n"
        "    runpy.run_module('generator', run_name='__main__', alter_sys=True)\n"
        "except SystemExit as end:\n"
        "    assert not end.code, end.code\n"
        "print(untouched, gc.get_threshold() == main.COLLECTOR_THRESHOLDS, gc.get_freeze_count() > 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip().splitlines()[-1] == "True True True"


def test_the_command_gives_blas_one_thread_unless_the_environment_chose_and_main_does_not():
    """``python -m generator`` sets the BLAS thread counts it finds unset (before numpy loads, so
    the build's process and its workers start no BLAS threads); a count the user set is kept;
    ``main``, called in another program's process, leaves its environment alone."""
    code = (
        "import os, runpy, sys\n"
        "from generator.cli import main\n"
        "try:\n"
        "    main.main(['--version'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "untouched = 'OPENBLAS_NUM_THREADS' not in os.environ\n"
        "sys.argv = ['generator', '--version']\n"
        "try:\n"
        "    runpy.run_module('generator', run_name='__main__', alter_sys=True)\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(untouched, os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_NUM_THREADS'])\n"
    )
    environment = {name: value for name, value in os.environ.items() if not name.endswith("_NUM_THREADS")}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={**environment, "OMP_NUM_THREADS": "3"}
    )
    assert result.stdout.strip().splitlines()[-1] == "True 1 3"
