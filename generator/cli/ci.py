"""What a build tells a CI runner: GitHub Actions annotations and the job summary.

A scheduled gallery build that loses an animation still exits 1 and still deploys the others, so
its failures must be visible where people look: an annotation on the run (``::error``) naming
the config file, and a table in the job summary (``$GITHUB_STEP_SUMMARY``). Pure text functions;
:func:`report_to_github` is the one place that reads the environment and appends to the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from generator.core.model import AnimationRecord


def in_github_actions(environ: Mapping[str, str]) -> bool:
    return environ.get("GITHUB_ACTIONS") == "true"


def _escape_data(text: str) -> str:
    # GitHub's workflow-command encoding: the message may not hold raw newlines or '%'.
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotation(level: str, message: str, *, file: str | None = None, title: str | None = None) -> str:
    """One ``::error``/``::warning`` workflow command line."""
    properties = []
    if file:
        properties.append(f"file={_escape_property(file)}")
    if title:
        properties.append(f"title={_escape_property(title)}")
    head = f"::{level} {','.join(properties)}" if properties else f"::{level}"
    return f"{head}::{_escape_data(message)}"


def build_annotations(records: Sequence[AnimationRecord], config_file: str) -> list[str]:
    """An error per failed animation, a warning per stale one (failed, last good files kept)."""
    lines = []
    for record in records:
        if record.status == "failed":
            lines.append(annotation(
                "error", record.error or "unknown error", file=config_file, title=f"Animation {record.id} failed",
            ))
        elif record.status == "stale":
            lines.append(annotation(
                "warning", f"{record.error or 'unknown error'} (the last good version stays published)",
                file=config_file, title=f"Animation {record.id} is stale",
            ))
    return lines


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def step_summary(records: Sequence[AnimationRecord], summary_line: str) -> str:
    """Markdown for the job summary: the build's summary line and a row per animation not built."""
    problems = [record for record in records if record.status != "ok"]
    lines = ["### Gallery build", "", summary_line, ""]
    if not problems:
        lines.append(f"All {len(records)} animations built.")
    else:
        lines += ["| animation | status | reason |", "|---|---|---|"]
        lines += [
            f"| `{_cell(record.id)}` | {record.status} | {_cell(record.error or 'unknown error')} |"
            for record in problems
        ]
    return "\n".join(lines) + "\n"


def report_to_github(
    records: Sequence[AnimationRecord], summary_line: str, config_file: str, environ: Mapping[str, str] = os.environ
) -> list[str]:
    """On GitHub Actions: append the job summary and return the annotation lines to print."""
    if not in_github_actions(environ):
        return []
    summary_path = environ.get("GITHUB_STEP_SUMMARY")
    if summary_path:
        with Path(summary_path).open("a", encoding="utf-8") as summary:
            summary.write(step_summary(records, summary_line))
    return build_annotations(records, config_file)


def config_error_annotations(problems: Sequence[str], config_file: str, environ: Mapping[str, str] = os.environ) -> list[str]:
    """On GitHub Actions: one ``::error`` per configuration problem (exit code 2)."""
    if not in_github_actions(environ):
        return []
    return [annotation("error", problem, file=config_file, title="Configuration error") for problem in problems]
