"""Static checks of the GitHub Pages workflow example: valid YAML and the documented shape."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from generator.config import CacheSection

from .conftest import REPO

WORKFLOW = REPO / ".github" / "workflows" / "pages.yml"
README = REPO / "README.md"
PAGES_ACTIONS = ("actions/configure-pages", "actions/upload-pages-artifact", "actions/deploy-pages")


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    document = yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def triggers(workflow: dict[str, Any]) -> dict[str, Any]:
    # YAML 1.1 reads a bare `on` key as the boolean True.
    found = workflow.get("on", workflow.get(True))
    assert isinstance(found, dict), "the workflow needs an `on:` mapping"
    return found


def steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def uses(workflow: dict[str, Any]) -> list[str]:
    return [step["uses"] for step in steps(workflow) if "uses" in step]


def readme_build_command() -> str:
    """The build command shown in the README's GitHub Pages section."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Publishing on GitHub Pages", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^python -m generator build.*$", section, flags=re.MULTILINE)
    assert len(commands) == 1, "the README's Pages section shows one build command"
    return commands[0].strip()


def test_runs_on_push_schedule_and_manual_dispatch(workflow):
    on = triggers(workflow)
    assert "push" in on
    assert "workflow_dispatch" in on
    crons = [entry["cron"] for entry in on["schedule"]]
    assert crons
    for cron in crons:
        fields = cron.split()
        assert len(fields) == 5, cron
        minute = fields[0]
        assert minute.isdigit() and 0 < int(minute) < 60, f"{cron}: pick a minute other than :00"


def test_publishes_with_the_official_pages_actions_in_order(workflow):
    used = uses(workflow)
    names = [action.split("@")[0] for action in used]
    positions = [names.index(action) for action in PAGES_ACTIONS]
    assert positions == sorted(positions), names
    for action in used:
        assert action.startswith("actions/"), f"{action}: only official actions"
        assert re.fullmatch(r"[\w./-]+@v\d+", action), f"{action}: pin a major version"
    permissions = workflow["permissions"]
    assert permissions["pages"] == "write" and permissions["id-token"] == "write"
    deploy = next(job for job in workflow["jobs"].values() if any(s.get("uses", "").startswith("actions/deploy-pages") for s in job["steps"]))
    assert deploy["environment"]["name"] == "github-pages"
    assert deploy["needs"] == "build"


def test_restores_and_saves_the_build_cache(workflow):
    cache_steps = [step for step in steps(workflow) if step.get("uses", "").startswith("actions/cache@")]
    assert len(cache_steps) == 1
    settings = cache_steps[0]["with"]
    cached = settings["path"].split()
    assert CacheSection().dir in cached
    assert "output" in cached  # the previous output lets a failed animation stay published as stale
    assert "restore-keys" in settings and settings["key"]


def test_builds_with_the_readme_command_and_uploads_its_output(workflow):
    command = readme_build_command()
    lines = [line.strip() for step in steps(workflow) for line in step.get("run", "").splitlines()]
    assert any(line.startswith(command) for line in lines), f"no run step starts with {command!r}"
    output = command.split("--output", 1)[1].split()[0]
    upload = next(step for step in steps(workflow) if step.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == output
