"""What a build tells its user while it runs and when it ends.

Owns the progress display (a one-line bar redrawn in place on a terminal; nothing but plain log
lines when stderr is not a TTY, e.g. in CI), the end-of-build summary and
``build-report.json`` — the one output file allowed to differ between identical builds, since it
holds timings.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TextIO

BAR_WIDTH = 24


@dataclass
class AnimationStats:
    """Frames of one animation: rendered from COGs or taken from the frame cache."""

    rendered: int = 0
    cached: int = 0


@dataclass
class BuildSummary:
    """Counts for the summary line and ``build-report.json``."""

    built: int = 0  # files written (frames rendered or taken from the frame cache)
    cached: int = 0  # nothing it is made from changed: files kept as they were
    failed: int = 0
    stale: int = 0  # failed, last good files kept
    carried: int = 0  # not built (--only), kept as they were
    frames_rendered: int = 0
    frames_cached: int = 0
    bytes_written: int = 0
    files_unchanged: int = 0
    seconds: float = 0.0
    generator_version: str = ""
    per_animation: dict[str, AnimationStats] = field(default_factory=dict)

    def line(self) -> str:
        parts = [f"{self.built} built", f"{self.cached} from cache", f"{self.failed} failed"]
        if self.stale:
            parts.append(f"{self.stale} stale")
        if self.carried:
            parts.append(f"{self.carried} kept")
        return (
            f"animations: {', '.join(parts)} · frames: {self.frames_rendered} rendered, "
            f"{self.frames_cached} from cache · {self.bytes_written:,} bytes written, "
            f"{self.files_unchanged} files unchanged · {self.seconds:.1f} s"
        )

    def to_json(self) -> str:
        document = asdict(self)
        return json.dumps(document, sort_keys=True, indent=2) + "\n"


class Progress:
    """A progress bar over animations and frames, drawn only on a terminal."""

    def __init__(
        self,
        total_animations: int,
        stream: TextIO | None = None,
        enabled: bool | None = None,
        cache_hits: Callable[[], int] | None = None,
    ):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total = total_animations
        self.done = 0
        self.frames = 0
        self.current = ""
        self.cache_hits = cache_hits
        self._drawn = False
        self._handlers = logging.getLogger("generator").handlers if self.enabled else []
        for handler in self._handlers:
            handler.addFilter(self._clear_before_log)

    def _clear_before_log(self, record: logging.LogRecord) -> bool:
        """A log line takes the bar's place; the bar is drawn again on the next step."""
        if self._drawn:
            self.stream.write("\r\x1b[2K")
            self._drawn = False
        return True

    def add_animation(self) -> None:
        """One more animation to build than counted at the start."""
        self.total += 1

    def start_animation(self, animation_id: str) -> None:
        self.current = animation_id
        self._draw()

    def frame_done(self) -> None:
        self.frames += 1
        self._draw()

    def end_animation(self) -> None:
        self.done += 1
        self._draw()

    def close(self) -> None:
        for handler in self._handlers:
            handler.removeFilter(self._clear_before_log)
        if self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._drawn = False

    def _draw(self) -> None:
        if not self.enabled or self.total == 0:
            return
        filled = round(BAR_WIDTH * self.done / self.total)
        bar = "█" * filled + "·" * (BAR_WIDTH - filled)
        cached = f" ({self.cache_hits()} from cache)" if self.cache_hits is not None else ""
        self.stream.write(
            f"\r\x1b[2K{bar} {self.done}/{self.total} animations · {self.frames} frames{cached} · {self.current}"
        )
        self.stream.flush()
        self._drawn = True
