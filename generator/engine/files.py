"""What an animation's files are called and hold besides their frames.

Owns the paths of an animation's files in the output folder, its frames' durations, what an
encoder is told of the animation, the credits of its map and the render settings its page shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from generator.core.canonical import canonical
from generator.core.model import AnimationFiles, CategoricalScheme
from generator.core.redaction import public_url
from generator.core.specs import RenderSpec
from generator.encode.registry import BUILTIN_FORMATS, Animation, Encoder, encoders
from generator.overlays.painter import OverlayPainter
from generator.plan.animations import AnimationSpec
from generator.plan.categorical import legend_entries
from generator.render.palette import Palette
from generator.sources.geodata import CREDIT as GEODATA_CREDIT
from generator.sources.regions import Region


def animation_files(slug: str, frame_count: int = 0, formats: Sequence[str] = ("gif",)) -> AnimationFiles:
    folder = f"animations/{slug}"
    return AnimationFiles(
        page=f"{folder}/index.html",
        outputs={
            encoder.name: f"{folder}/{slug}{encoder.suffix}"
            for encoder in encoders() if encoder.name in formats or encoder.name == "gif"
        },
        poster=f"{folder}/poster.png",
        thumbnail=f"{folder}/thumbnail.webp",
        legend=f"{folder}/legend.png",
        frames=tuple(f"{folder}/frames/{number:04d}.png" for number in range(1, frame_count + 1)),
    )


def frame_durations(frame_count: int, render: RenderSpec) -> list[int]:
    """Every frame shows for ``frame_ms``; the last one also holds the end pause."""
    durations = [render.frame_ms] * frame_count
    durations[-1] += render.end_pause_ms
    return durations


def encoders_of(files: AnimationFiles) -> list[Encoder]:
    """The encoders of the animation's formats, in registry order."""
    return [encoder for encoder in encoders() if encoder.name in files.outputs]


def builtin(encoder: Encoder) -> bool:
    """A built-in format: any worker process can import it (a format registered at run time
    only exists in the build's process, so it runs there)."""
    return encoder.name in BUILTIN_FORMATS and type(encoder).__module__.startswith("generator.encode.")


def encoder_animation(shape: tuple[int, int], palette: Palette, frame_count: int, render: RenderSpec) -> Animation:
    return Animation(
        width=shape[1], height=shape[0], palette_rgb=palette.rgb_bytes(), transparent=palette.transparent,
        durations_ms=tuple(frame_durations(frame_count, render)), loop=render.loop,
    )


def format_options(encoder: Encoder, render: RenderSpec) -> Any:
    """A format's options: the ``render.<format name>`` section, when the config has one."""
    return render.format_options(encoder.name)


def legend_classes(categories: CategoricalScheme, painter: OverlayPainter) -> tuple[tuple[str, str], ...]:
    """The page's classes, with a "No data" entry when frames lack values inside the region."""
    entries = tuple(legend_entries(categories))
    if not painter.nodata_swatch:
        return entries
    red, green, blue = (int(value) for value in painter.palette.colors[painter.palette.index("nodata")])
    return (*entries, ("No data", f"#{red:02x}{green:02x}{blue:02x}"))


def map_credits(spec: AnimationSpec, region: Region) -> tuple[tuple[str, str], ...]:
    """Who to credit for what the frames draw besides the data: border lines, the geographic
    context (Natural Earth: public domain, credited all the same) and basemap tiles."""
    credits: list[tuple[str, str]] = []
    if spec.render.overlays.borders and region.border_credit:
        credits.append(("Borders", region.border_credit))
    if spec.render.overlays.context:
        credits.append(("Geography", GEODATA_CREDIT))
    if spec.render.basemap:
        credits.append(("Basemap", spec.render.basemap.attribution))
    return tuple(credits)


def published_render(render: RenderSpec) -> dict[str, Any]:
    """The render settings as pages and provenance show them: a tile URL's API key stripped."""
    settings: dict[str, Any] = canonical(render)
    if settings.get("basemap"):
        settings["basemap"]["url"] = public_url(settings["basemap"]["url"])
    return settings
