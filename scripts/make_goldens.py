"""Regenerate the golden images of the overlay tests (tests/golden/*.png).

Run after an intended change to how overlays look, then review the images before committing:

    python scripts/make_goldens.py

The goldens were made with the Pillow version recorded in tests/golden/PILLOW_VERSION; the
tests compare with a tolerance so other Pillow versions (font hinting) still pass.
"""

from __future__ import annotations

import sys
from pathlib import Path

import PIL

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.golden_cases import CASES, GOLDEN_DIR, save_golden  # noqa: E402


def main() -> None:
    GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
    for name, case in CASES.items():
        indices, colors = case()
        save_golden(GOLDEN_DIR / f"{name}.png", indices, colors)
        print(f"wrote {GOLDEN_DIR / name}.png ({indices.shape[1]}×{indices.shape[0]})")
    (GOLDEN_DIR / "PILLOW_VERSION").write_text(PIL.__version__ + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
