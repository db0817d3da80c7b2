"""The palette layout every stage shares: 256 entries, data levels first, reserved entries after.

Owns: the palette size, the reserved entries (:data:`RESERVED_COLORS`, in palette order, and
their names), the :class:`Palette` table itself, what index mapping needs of a palette
(:class:`PaletteLevels`), CSS hex colour parsing and which colormap names exist
(``colormap_problem``: the config check, the STAC ``renders`` check and the palette builder ask
the same question). Building a palette from a colormap and mapping values to indices live in
``generator.render.palette``; categorical palettes in ``generator.plan.categorical``. Pure numpy
(rio-tiler is asked for its colormap names only when a name is checked).
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Protocol

from generator.core.errors import StyleError

if TYPE_CHECKING:
    import numpy as np

PALETTE_SIZE = 256


@dataclass(frozen=True)
class ReservedColor:
    """A palette entry kept out of the data levels, addressed by name."""

    name: str
    rgb: tuple[int, int, int]


LABEL_BOX_RGB = (24, 28, 33)
LABEL_TEXT_RGB = (255, 255, 255)
# Three intermediate greys give five coverage steps (0, ¼, ½, ¾, 1): enough for smooth-looking
# glyph edges at 9–50 px while costing only three data levels.
LABEL_AA_STEPS = 3
#: Border overlay layers a region may have; each layer owns a line and a halo entry, so layer
#: colours come from the configuration without touching the data levels.
MAX_BORDER_LAYERS = 4
DEFAULT_BORDER_COLOR = "#282828"
DEFAULT_HALO_COLOR = "#ffffff"  # the colour of ``halo: true``
DEFAULT_BORDER_RGB = (40, 40, 40)
DEFAULT_HALO_RGB = (255, 255, 255)
#: The default no-data colour is the first of these greys that no data level comes close to
#: (``render.palette.nodata_rgb``): light enough to read as "nothing here", dark enough to
#: stand apart from a white page and from the near-white ends of many colormaps.
NODATA_GREYS: tuple[tuple[int, int, int], ...] = ((200, 200, 200), (168, 168, 168), (224, 224, 224), (128, 128, 128))
#: How far (RGB distance) a grey must stay from every data level to be the default.
NODATA_MIN_DISTANCE = 40.0


#: Reserved entry of each ``overlays.context`` layer.
CONTEXT_ENTRIES: Mapping[str, str] = MappingProxyType(
    {"coastline": "context_coastline", "countries": "context_countries"}
)
CONTEXT_COLORS: Mapping[str, tuple[int, int, int]] = MappingProxyType({
    CONTEXT_ENTRIES["coastline"]: (104, 112, 124),
    CONTEXT_ENTRIES["countries"]: (144, 148, 154),
})


def _blend(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    r, g, bl = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return (r, g, bl)


def _label_aa_colors() -> tuple[ReservedColor, ...]:
    return tuple(
        ReservedColor(
            f"label_aa{step}",
            _blend(LABEL_BOX_RGB, LABEL_TEXT_RGB, step / (LABEL_AA_STEPS + 1)),
        )
        for step in range(1, LABEL_AA_STEPS + 1)
    )


def border_entry(layer: int) -> str:
    """Reserved entry name of border layer ``layer`` (1-based)."""
    return f"border_{layer}"


def halo_entry(layer: int) -> str:
    """Reserved entry name of the halo around border layer ``layer`` (1-based)."""
    return f"halo_{layer}"


#: Every reserved entry, in palette order (right after the data levels): the one place that
#: lists them. Add new entries here; the number of data levels follows automatically.
#: Overlays draw only with these entries, so the GIF's single palette stays exact.
RESERVED_COLORS: tuple[ReservedColor, ...] = (
    # Region border layers and their halos (colours overridable per animation).
    *(ReservedColor(border_entry(n), DEFAULT_BORDER_RGB) for n in range(1, MAX_BORDER_LAYERS + 1)),
    *(ReservedColor(halo_entry(n), DEFAULT_HALO_RGB) for n in range(1, MAX_BORDER_LAYERS + 1)),
    # Text: every text overlay (date, title, attribution, legend labels) sits on a label_box
    # and is anti-aliased only through the label_aa greys.
    ReservedColor("label_box", LABEL_BOX_RGB),
    *_label_aa_colors(),
    ReservedColor("label_text", LABEL_TEXT_RGB),
    # Outline and tick marks of the colorbar legend.
    ReservedColor("legend_frame", (235, 235, 235)),
    # Timeline bar: the whole time range (track) and the part already shown (bar).
    ReservedColor("timeline_track", (70, 74, 80)),
    ReservedColor("timeline_bar", (250, 250, 250)),
    # Geographic context under the region's borders (Natural Earth; ``overlays.context``): muted
    # greys that read over light and dark data and on light and dark pages without competing
    # with the borders. Two entries: the number of data levels stays odd, so a diverging
    # colormap keeps a level exactly on its middle stop.
    *(ReservedColor(entry, rgb) for entry, rgb in CONTEXT_COLORS.items()),
    # Missing values inside the region (clouds, gaps): ``style.nodata_color``, by default a light
    # grey picked against the colormap (``render.palette.nodata_rgb``). Outside stays transparent.
    ReservedColor("nodata", NODATA_GREYS[0]),
    # The GIF transparency index; its RGB only shows in viewers that ignore transparency.
    ReservedColor("transparent", (0, 0, 0)),
)

#: Older names still accepted by :meth:`Palette.index`.
RESERVED_ALIASES: Mapping[str, str] = MappingProxyType({"border": border_entry(1), "halo": halo_entry(1)})

#: Names of the label ramp, from no glyph coverage (the box) to full coverage (the text).
LABEL_RAMP: tuple[str, ...] = (
    "label_box",
    *(f"label_aa{step}" for step in range(1, LABEL_AA_STEPS + 1)),
    "label_text",
)

HEX_COLOR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})")


@dataclass(frozen=True, eq=False)
class Palette:
    """A 256-entry RGB table: ``n_levels`` data colours low→high, then the reserved entries."""

    colors: np.ndarray  # (256, 3) uint8, read-only
    n_levels: int
    reserved: Mapping[str, int]  # name → index

    def __post_init__(self) -> None:
        import numpy as np  # with the first palette: the config's specs need only the constants

        colors = np.array(self.colors, dtype=np.uint8)  # own copy, so freezing it is safe
        if colors.shape != (PALETTE_SIZE, 3):
            raise ValueError(f"palette colors must be {PALETTE_SIZE}×3, got {colors.shape}")
        if not 2 <= self.n_levels <= PALETTE_SIZE:
            raise ValueError(f"n_levels must be in [2, {PALETTE_SIZE}], got {self.n_levels}")
        indices = list(self.reserved.values())
        if len(set(indices)) != len(indices):
            raise ValueError(f"reserved palette indices collide: {dict(self.reserved)}")
        if any(not self.n_levels <= i < PALETTE_SIZE for i in indices):
            raise ValueError("reserved palette indices must lie after the data levels")
        colors.setflags(write=False)
        object.__setattr__(self, "colors", colors)
        object.__setattr__(self, "reserved", MappingProxyType(dict(self.reserved)))

    def __reduce__(self) -> tuple[type[Palette], tuple[np.ndarray, int, dict[str, int]]]:
        """Picklable (a mapping proxy is not), for the build's tasks in other processes."""
        return (Palette, (self.colors, self.n_levels, dict(self.reserved)))

    @property
    def transparent(self) -> int:
        return self.index("transparent")

    def index(self, name: str) -> int:
        """Palette index of the reserved entry ``name``."""
        try:
            return self.reserved[RESERVED_ALIASES.get(name, name)]
        except KeyError:
            known = ", ".join(self.reserved)
            raise KeyError(f"no reserved palette entry {name!r} (known: {known})") from None

    def label_ramp(self) -> tuple[int, ...]:
        """Indices from label background to label text, by increasing glyph coverage."""
        return tuple(self.index(name) for name in LABEL_RAMP)

    def rgb_bytes(self) -> bytes:
        """The 768-byte r,g,b,r,g,b… table that GIF and PNG palettes expect."""
        return self.colors.tobytes()

    def data_colors(self) -> np.ndarray:
        """The data levels' colours, low to high, shape (n_levels, 3)."""
        return self.colors[: self.n_levels]

    def legend_hex(self, n: int = 16) -> tuple[str, ...]:
        """``n`` "#rrggbb" colours sampled evenly along the data levels, low to high."""
        if n < 1:
            raise ValueError(f"legend needs at least one colour, got n={n}")
        import numpy as np

        if n == 1:
            positions = np.array([(self.n_levels - 1) // 2])
        else:
            positions = np.rint(np.linspace(0, self.n_levels - 1, n)).astype(int)
        return tuple("#{:02x}{:02x}{:02x}".format(*self.colors[i]) for i in positions)


def parse_hex(color: object) -> tuple[int, int, int]:
    """``"#rgb"`` or ``"#rrggbb"`` → (r, g, b); raises :class:`StyleError` otherwise."""
    if not isinstance(color, str) or not HEX_COLOR.fullmatch(color.strip()):
        raise StyleError(
            f"invalid colour {color!r} in colormap: use CSS hex notation '#rgb' or '#rrggbb'"
        )
    digits = color.strip()[1:]
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))


def colormap_names() -> list[str]:
    """The colormap names rio-tiler knows (lower case), its own and those it was given."""
    if "rio_tiler.colormap" not in sys.modules:
        # Importing rio_tiler pulls in its whole reader stack (~0.2 s), which checking a name does
        # not need: rio-tiler's colormaps are its files, named as the colormaps are.
        names = _colormap_file_names()
        if names:
            return names
    from rio_tiler.colormap import cmap

    return list(cmap.list())


def _colormap_file_names() -> list[str]:
    """The colormaps rio-tiler's ``cmap`` lists, read from its folders (not importing it)."""
    return list(_colormap_files_in(os.environ.get("COLORMAP_DIRECTORY") or None))


@functools.cache
def _colormap_files_in(extra_folder: str | None) -> tuple[str, ...]:
    """Listed once per process and ``COLORMAP_DIRECTORY``, as rio-tiler reads its folders once."""
    spec = importlib.util.find_spec("rio_tiler")
    if spec is None or not spec.submodule_search_locations:
        return ()
    folders = [Path(spec.submodule_search_locations[0]) / "cmap_data"]
    if extra_folder:
        folders.append(Path(extra_folder))
    return tuple(sorted({
        path.stem for folder in folders for path in folder.glob("**/*") if path.suffix in {".npy", ".json"}
    }))


def colormap_problem(name: str) -> str | None:
    """Why ``name`` is not a colormap name (with the closest names), or None when it is one.

    Names are matched case-insensitively, as the palette builder reads them.
    """
    key = name.strip().lower()
    available = colormap_names()
    if key in available:
        return None
    if HEX_COLOR.fullmatch(name.strip()):
        return (
            f"colormap {name!r} is a single colour; give a list of at least two hex colours "
            "(e.g. ['#f7fbff', '#08306b']) or a colormap name such as 'viridis'"
        )
    close = difflib.get_close_matches(key, available, n=5, cutoff=0.6)
    hint = f"did you mean {', '.join(close)}?" if close else "e.g. viridis, magma, rdbu_r, ylgnbu."
    return (
        f"unknown colormap {name!r}: {hint} Use a rio-tiler colormap name "
        "or a list of at least two hex colours like ['#000000', '#ffffff']"
    )


class PaletteLevels(Protocol):
    """What mapping data values to indices needs of a palette: a :class:`Palette`, or the small
    picklable ``render.layers.Levels`` sent to worker processes."""

    @property
    def n_levels(self) -> int: ...

    @property
    def transparent(self) -> int: ...
