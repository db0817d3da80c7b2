"""The package layout holds: imports only run down the stages, and the config stays at the top.

Every import in ``generator/`` — at module level, inside functions and under ``TYPE_CHECKING`` —
is read with ``ast``. Stages, highest first: cli > engine > site > encode > overlays > render >
plan > sources > config > core. Only ``config`` and ``plan`` may import ``generator.config``;
every other stage gets the resolved specs of ``generator.core.specs`` instead.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest

import generator
from generator.config import RenderSection
from generator.core.specs import RenderSpec
from generator.engine.animation import _published_render
from generator.plan.specs import render_spec

PACKAGE = Path(generator.__file__).parent
#: Lowest first: a stage may import its own package and those before it.
STAGES = ("core", "config", "sources", "plan", "render", "overlays", "encode", "site", "engine", "cli")
MAY_IMPORT_CONFIG = {"config", "plan"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(module: str, source: str, is_package: bool) -> Iterator[tuple[int, str]]:
    """(line, absolute module name) of every import in ``source``, wherever it is."""
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            yield node.lineno, target
            for alias in node.names:  # `from generator import config` imports a package too
                yield node.lineno, f"{target}.{alias.name}"


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "generator" and parts[1] in STAGES else None


def violations(module: str, source: str, is_package: bool = False) -> list[str]:
    """Every import in ``source`` (the code of ``module``) that breaks the layout, as ``module:line: what``."""
    importer = _stage(module)
    found = []
    for line, target in _imports(module, source, is_package):
        imported = _stage(target)
        if imported is None or importer is None:
            continue
        if imported == "config" and importer not in MAY_IMPORT_CONFIG:
            found.append(f"{module}:{line}: {importer} imports generator.config (only config and plan may)")
        elif STAGES.index(imported) > STAGES.index(importer):
            found.append(f"{module}:{line}: {importer} imports generator.{imported}, a stage above it")
    return sorted(set(found))


#: The upward imports we keep on purpose, each a function-local import with its reason:
#: the config check of ``render.formats`` asks the encoder registry for the format names, so a
#: format registered by a module of the user's own is accepted (see README, "Extending").
KNOWN_EXCEPTIONS = frozenset({"generator.config.render imports generator.encode"})


def test_no_import_runs_up_the_stages_and_only_plan_reads_the_config() -> None:
    files = sorted(PACKAGE.rglob("*.py"))
    assert len(files) > 40
    problems = [
        problem
        for path in files
        for problem in violations(_module_name(path), path.read_text(encoding="utf-8"), path.name == "__init__.py")
    ]
    known = [problem for problem in problems if any(
        problem.startswith(exception.split(" imports ")[0] + ":") and exception.split(" imports ")[1] in problem
        for exception in KNOWN_EXCEPTIONS
    )]
    assert [problem for problem in problems if problem not in known] == []
    assert len(known) == len(KNOWN_EXCEPTIONS)  # an exception that no longer exists leaves this list


@pytest.mark.parametrize(
    ("stage", "code", "expected"),
    [
        ("overlays", "from generator.config import OverlaysSection\n", "only config and plan may"),
        ("engine", "def f():\n    from generator.config import load_config\n", "only config and plan may"),
        ("sources", "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..config import X\n", "only config and plan may"),
        ("cli", "from generator import config\n", "only config and plan may"),
        ("sources", "from generator.plan.styles import resolve_style\n", "a stage above it"),
        ("plan", "from ..render.palette import Palette\n", "a stage above it"),
        ("core", "import generator.sources.http\n", "a stage above it"),
    ],
)
def test_the_rule_catches_every_kind_of_import(stage: str, code: str, expected: str) -> None:
    (problem,) = violations(f"generator.{stage}.probe", code)
    assert expected in problem


def test_render_spec_publishes_exactly_what_the_config_section_dumps() -> None:
    """Pages and provenance show the render settings: the spec gives the same JSON, key for key.

    (``overlays.context`` is given: left out, the spec holds the default it resolves to.)
    """
    section = RenderSection.model_validate({
        "size": 300, "crs": 3857, "formats": ["gif", "mp4", "webp"], "basemap": "osm", "max_bytes": 4096,
        "overlays": {
            "date": {"position": "top-right", "size": 12}, "borders": False, "context": ["coastline"], "legend": False,
            "title": {"text": "T"}, "attribution": {"text": "A", "size": 9}, "timeline": True,
        },
        "webp": {"lossless": False, "quality": 70}, "mp4": {"background": "#000000"},
    })
    published = _published_render(render_spec(section))
    assert json.dumps(published) == json.dumps(section.model_dump(mode="json"))  # same keys, same order
    assert [item.name for item in fields(RenderSpec)] == list(RenderSection.model_fields)
