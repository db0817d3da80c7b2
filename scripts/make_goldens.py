"""Regenerate the golden images of the overlay tests (tests/golden/*.png).

Run after an intended change to how overlays look, then review the images before committing:

    python scripts/make_goldens.py            # every golden
    python scripts/make_goldens.py basemap    # only the named ones

The goldens were made with the Pillow version recorded in tests/golden/PILLOW_VERSION; the
tests compare with a tolerance so other Pillow versions (font hinting) still pass.
"""

from __future__ import annotations

import sys
from pathlib import Path

import PIL

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.golden_cases import BASEMAP_CASES, CASES, GOLDEN_DIR, save_golden  # noqa: E402


def main(names: list[str]) -> None:
    """Regenerate the goldens named in ``names`` (all of them when empty)."""
    cases = {**CASES, **BASEMAP_CASES}
    unknown = sorted(set(names) - set(cases))
    if unknown:
        raise SystemExit(f"unknown golden(s) {', '.join(unknown)}; known: {', '.join(sorted(cases))}")
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for name, case in cases.items():
        if names and name not in names:
            continue
        indices, colors = case()
        save_golden(GOLDEN_DIR / f"{name}.png", indices, colors)
        print(f"wrote {GOLDEN_DIR / name}.png ({indices.shape[1]}×{indices.shape[0]})")
    (GOLDEN_DIR / "PILLOW_VERSION").write_text(PIL.__version__ + "\n", encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
