"""``render.max_bytes``: the size budget of an animation's GIF.

Owns the steps taken when the GIF is over budget: the frames shrink step by step down to
:data:`MIN_BUDGET_SIZE`, then every other frame is dropped, only when ``render.drop_frames``
allows it; each step is noted for the page.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from generator.core.model import FramePlan

MIN_BUDGET_SIZE = 96  # px: below this a map is unreadable, so the size budget stops shrinking here
BUDGET_SHRINK = 0.8


@dataclass
class SizeBudget:
    """``render.max_bytes``: shrink the frames step by step, drop frames only when allowed."""

    max_bytes: int | None
    drop_frames: bool
    notes: list[str] = field(default_factory=list)

    def next_attempt(
        self, gif_bytes: int, size: int, frames: tuple[FramePlan, ...]
    ) -> tuple[int, tuple[FramePlan, ...], bool]:
        """(size, frames, retry) for the next encode, recording what was changed."""
        if self.max_bytes is None or gif_bytes <= self.max_bytes:
            return size, frames, False
        over = f"the GIF ({gif_bytes:,} bytes) is over max_bytes ({self.max_bytes:,})"
        if size > MIN_BUDGET_SIZE:
            smaller = max(MIN_BUDGET_SIZE, int(size * BUDGET_SHRINK))
            self.notes.append(f"{over} at {size} px: size reduced to {smaller} px")
            return smaller, frames, True
        if self.drop_frames and len(frames) > 2:
            kept = frames[::2] if (len(frames) - 1) % 2 == 0 else (*frames[::2], frames[-1])
            self.notes.append(f"{over} at {size} px: dropped {len(frames) - len(kept)} of {len(frames)} frames")
            return size, kept, True
        hint = "" if self.drop_frames else "; set render.drop_frames: true to allow dropping frames"
        self.notes.append(f"{over} even at {size} px{hint}")
        return size, frames, False
