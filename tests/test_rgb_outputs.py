"""Full-colour outputs of true-colour animations: the RGB frame, and WebP, MP4 and PNG stills from it.

The data layers are smooth gradients over all three channels (thousands of colours, far more than
a palette's 256), so a palette-quantised output is measurably worse than a full-colour one; the
expected colours are computed here from the layer and the palette, not by the code under test.
"""

from __future__ import annotations

import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import shapely
from affine import Affine
from PIL import Image, ImageSequence

from generator.config import BasemapSection, OverlaysSection
from generator.core.errors import AnimationError
from generator.core.model import Grid, Style
from generator.encode.indexed import indices_to_rgba
from generator.encode.mp4 import RgbaYuv, YuvTable, write_mp4
from generator.encode.registry import Animation, get, takes_rgb
from generator.encode.stills import poster_image, thumbnail_image, write_poster
from generator.encode.webp import write_webp
from generator.engine.build import BuildOptions, build
from generator.overlays.basemap import make_basemap
from generator.overlays.painter import OverlayPainter, overlay_palette
from generator.render.palette import Palette, border_entry
from generator.render.rgbframe import palette_rgba, rgb_frame
from generator.render.truecolor import PaletteMapper, palette_colors, truecolor_palette
from generator.sources.regions import BorderLayer

from .test_encoders import bt709_limited_to_rgb
from .test_truecolor import QUIET, expected_colours, write_rgb_catalog

av = pytest.importorskip("av")

SIZE = 64
DEGREE = 0.01
STYLE = Style(rescale=(0.0, 1.0), colormap="viridis", units="")


def gradient(frame: int, size: int = SIZE, hole: bool = True) -> np.ndarray:
    """A smooth RGBA gradient, shifted per frame: red 4 levels a column, green 4 a row, blue 2
    down both (every pixel its own colour); with a moving hole of alpha 0 (no value)."""
    rows, cols = np.mgrid[0:size, 0:size]
    layer = np.empty((size, size, 4), dtype=np.uint8)
    layer[..., 0] = np.clip(4 * cols + 8 * frame, 0, 255)
    layer[..., 1] = np.clip(4 * rows, 0, 255)
    layer[..., 2] = np.clip(255 - 2 * (rows + cols), 0, 255)
    layer[..., 3] = 255
    if hole:
        missing = slice(8 + 4 * frame, 16 + 4 * frame)
        layer[missing, missing] = 0
    return layer


def region_mask(size: int = SIZE) -> np.ndarray:
    rows, cols = np.mgrid[0:size, 0:size]
    return (rows - size / 2) ** 2 + (cols - size / 2) ** 2 < (0.45 * size) ** 2


def animation_palette(layers: list[np.ndarray], base: Palette | None = None) -> Palette:
    base = base or overlay_palette("viridis")
    return truecolor_palette(palette_colors(layers, base.n_levels), base)


def psnr(decoded: np.ndarray, expected: np.ndarray) -> float:
    error = np.mean((decoded.astype(np.float64) - expected.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / error))


# --------------------------------------------------------------------------------------------
# The RGB frame


def painted(layer: np.ndarray, palette: Palette, inside: np.ndarray) -> tuple[np.ndarray, OverlayPainter]:
    """The finished palette frame of ``layer``: bands above and below, borders across the map."""
    grid = Grid("EPSG:4326", Affine(DEGREE, 0, 0, 0, -DEGREE, SIZE * DEGREE), SIZE, SIZE)
    outline = shapely.box(0.2 * SIZE * DEGREE, 0.2 * SIZE * DEGREE, 0.8 * SIZE * DEGREE, 0.8 * SIZE * DEGREE)
    settings = OverlaysSection.model_validate({"legend": False, "context": [], "timeline": True})
    painter = OverlayPainter.create(
        settings, grid, STYLE, border_layers=(BorderLayer(outline, "#101010", 2, "#ffffff", 1),),
        region_title="Somewhere", labels=["2024-01"], frame_count=4, palette=palette, layout="bands",
    )
    indices = PaletteMapper(palette, inside)(layer)
    return painter.compose(indices, 0, "2024-01"), painter


def test_the_rgb_frame_has_the_layers_colours_on_data_and_the_palettes_elsewhere() -> None:
    layer, inside = gradient(0), region_mask()
    palette = animation_palette([layer])
    frame, painter = painted(layer, palette, inside)
    x, y = painter.map_origin
    assert frame.shape != layer.shape[:2] and y > 0  # the map sits between bands of overlays

    rgb = rgb_frame(frame, palette, layer, painter.map_origin, inside)

    table = np.asarray(palette.colors)
    expected = np.concatenate([table[frame], np.full(frame.shape + (1,), 255, np.uint8)], axis=2)
    expected[frame == palette.transparent, 3] = 0
    on_map = frame[y : y + SIZE, x : x + SIZE]
    data = inside & (layer[..., 3] > 0) & (on_map < palette.n_levels)
    expected[y : y + SIZE, x : x + SIZE][data] = layer[data]
    np.testing.assert_array_equal(rgb, expected)

    # What overlays drew keeps its reserved colour, on the map (borders over data) and in the bands.
    border = palette.index(border_entry(1))
    lines = on_map == border
    assert (lines & (layer[..., 3] > 0) & inside).sum() > 20
    assert (rgb[y : y + SIZE, x : x + SIZE][lines, :3] == table[border]).all()
    np.testing.assert_array_equal(rgb[:y], palette_rgba(frame[:y], palette))
    # Missing values inside the region show the no-data grey, outside is transparent.
    hole = (layer[..., 3] == 0) & inside & (on_map == palette.index("nodata"))
    assert hole.any() and (rgb[y : y + SIZE, x : x + SIZE][hole, :3] == table[palette.index("nodata")]).all()
    assert (rgb[y : y + SIZE, x : x + SIZE][~inside & (on_map == palette.transparent), 3] == 0).all()
    # The point of it: far more colours than the palette frame can hold.
    colours = len(np.unique(rgb[..., :3].reshape(-1, 3), axis=0))
    assert colours > 1000 > 256 >= len(np.unique(frame))


def test_over_a_basemap_data_blends_with_it_and_the_basemap_keeps_its_entries() -> None:
    layer, inside = gradient(1), np.ones((SIZE, SIZE), dtype=bool)
    under = np.zeros((SIZE, SIZE, 4), dtype=np.uint8)
    under[: SIZE // 2] = (200, 220, 180, 255)  # land in the top half, no basemap below
    under[SIZE // 2 :, :, :3] = (90, 140, 200)
    settings = BasemapSection.model_validate({"preset": "osm", "opacity": 0.6})
    colours = palette_colors([layer], 128)
    basemap = make_basemap(settings, under, inside, colours, overlay_palette("viridis"))
    palette = basemap.palette
    frame = basemap.composite(PaletteMapper(palette, inside)(layer))

    rgb = rgb_frame(frame, palette, layer, inside=inside, under=under, opacity=0.6)

    data = layer[..., 3] > 0
    blended = np.rint(0.6 * layer[..., :3] + 0.4 * under[..., :3].astype(float)).astype(np.uint8)
    top, bottom = data.copy(), data.copy()
    top[SIZE // 2 :], bottom[: SIZE // 2] = False, False
    np.testing.assert_array_equal(rgb[top, :3], blended[top])  # blended, whichever entry the GIF used
    np.testing.assert_array_equal(rgb[bottom, :3], layer[bottom, :3])  # no basemap: the layer's own
    gap = ~data  # no value: the basemap (its palette colour) shows
    np.testing.assert_array_equal(rgb[gap], palette_rgba(frame[gap], palette))


def test_the_rgb_frame_refuses_a_layer_that_does_not_fit() -> None:
    palette = overlay_palette("viridis")
    with pytest.raises(ValueError, match="does not fit"):
        rgb_frame(np.zeros((10, 10), np.uint8), palette, gradient(0), (0, 0))


# --------------------------------------------------------------------------------------------
# Encoders


def rgb_frames(count: int = 4) -> list[np.ndarray]:
    """Finished full-colour frames: the gradient, transparent outside a disc."""
    frames = []
    for number in range(count):
        frame = gradient(number)
        frame[~region_mask()] = (0, 0, 0, 0)
        frame[frame[..., 3] == 0, :3] = 0
        frames.append(frame)
    return frames


def test_webp_and_mp4_take_rgb_frames_and_the_gif_does_not() -> None:
    assert takes_rgb(get("webp")) and takes_rgb(get("mp4"))
    assert not takes_rgb(get("gif"))


def test_an_rgb_webp_decodes_to_exactly_the_rgba_frames(tmp_path: Path) -> None:
    frames = rgb_frames()
    frames.append(frames[-1].copy())  # a repeat: its rectangle and bitstream are reused
    palette = animation_palette(frames)
    animation = Animation(SIZE, SIZE, palette.rgb_bytes(), palette.transparent, (100, 100, 100, 100, 900), rgb=True)
    path = tmp_path / "anim.webp"
    get("webp").encode(path, animation, iter(frames), None)

    with Image.open(path) as image:
        assert image.n_frames == len(frames)
        for number, frame in enumerate(frames):
            image.seek(number)
            shown = np.array(image.convert("RGBA"))
            np.testing.assert_array_equal(shown[..., 3], frame[..., 3])
            visible = frame[..., 3] > 0
            np.testing.assert_array_equal(shown[visible], frame[visible])
            assert len(np.unique(shown[visible][:, :3], axis=0)) > 1000


def test_webp_and_mp4_refuse_index_frames_for_an_rgb_animation(tmp_path: Path) -> None:
    indices = np.zeros((SIZE, SIZE), dtype=np.uint8)
    with pytest.raises(AnimationError, match="RGBA"):
        write_webp(tmp_path / "a.webp", [indices], [100], bytes(768), 0, rgb=True)
    with pytest.raises(AnimationError, match="RGBA"):
        write_mp4(tmp_path / "a.mp4", [indices], [100], bytes(768), 0, rgb=True)
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize("shape", [(SIZE, SIZE), (47, 63)], ids=["even", "odd"])
def test_palette_colours_as_rgb_give_the_indexed_planes_and_bytes(tmp_path: Path, shape: tuple[int, int]) -> None:
    """The full-colour path converts a colour exactly as the palette table does: frames of palette
    colours give the very planes, and the very files, of their palette-index twins."""
    rng = np.random.default_rng(4)
    palette = bytes(rng.integers(0, 256, 768, dtype=np.uint8))
    indices = [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(3)]
    twins = [indices_to_rgba(frame, palette, 7) for frame in indices]
    table, pixels = YuvTable(palette, 7, (255, 255, 255)), RgbaYuv((255, 255, 255))
    np.testing.assert_array_equal(pixels.yuv420p(twins[0]), table.yuv420p(indices[0]))

    for name, write in (("mp4", write_mp4), ("webp", write_webp)):
        indexed, full = tmp_path / f"indexed.{name}", tmp_path / f"rgb.{name}"
        write(indexed, indices, [200, 200, 600], palette, 7)
        write(full, twins, [200, 200, 600], palette, 7, rgb=True)
        assert indexed.read_bytes() == full.read_bytes(), name


def decoded_rgb(path: Path, height: int) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [bt709_limited_to_rgb(frame.to_ndarray(), height) for frame in container.decode(video=0)]


def test_an_rgb_mp4_is_close_to_the_frames_and_closer_than_the_palette_one(tmp_path: Path) -> None:
    frames = [gradient(number, hole=False) for number in range(4)]  # opaque: every pixel is compared
    palette = animation_palette(frames)
    mapper = PaletteMapper(palette, np.ones((SIZE, SIZE), dtype=bool))
    indices = [mapper(frame) for frame in frames]
    full, quantised = tmp_path / "rgb.mp4", tmp_path / "palette.mp4"
    write_mp4(full, frames, [300] * 4, palette.rgb_bytes(), palette.transparent, rgb=True)
    write_mp4(quantised, indices, [300] * 4, palette.rgb_bytes(), palette.transparent)

    for shown_full, shown_quantised, frame in zip(decoded_rgb(full, SIZE), decoded_rgb(quantised, SIZE), frames, strict=True):
        expected = frame[..., :3]
        # What separates the decoded picture from the frame: 4:2:0 chroma (one U, V per 2×2
        # pixels, upsampled here by repetition: on these ramps that alone leaves 41.6 dB), 8-bit
        # Y/U/V rounding, and x264 at crf 20 (measured 1.5-2 dB more: 39.9 dB). 38 dB, an RMS
        # error of 3.2 levels of 255, leaves room for another x264 build's decisions.
        assert psnr(shown_full, expected) > 38
        # The palette frames add their quantisation (256 colours for 4096 here: 33.4 dB before
        # encoding, 33.8-36.0 dB decoded); the full-colour file must beat it clearly.
        assert psnr(shown_full, expected) > psnr(shown_quantised, expected) + 3


# --------------------------------------------------------------------------------------------
# Stills


def test_rgb_frame_pngs_poster_and_thumbnail_keep_the_exact_colours(tmp_path: Path) -> None:
    frame = rgb_frames(1)[0]
    palette = animation_palette([frame])
    path = tmp_path / "0001.png"
    write_poster(path, frame, palette.rgb_bytes(), palette.transparent)
    with Image.open(path) as image:
        assert image.mode == "RGBA"
        np.testing.assert_array_equal(np.asarray(image), frame)

    opaque = poster_image(frame, palette.rgb_bytes(), None)
    assert opaque.mode == "RGB"
    np.testing.assert_array_equal(np.asarray(opaque), frame[..., :3])

    thumbnail = thumbnail_image(frame, palette.rgb_bytes(), palette.transparent, max_px=32)
    assert thumbnail.mode == "RGBA" and thumbnail.size == (32, 32)
    # A palette-index frame still makes a palette PNG.
    indexed = poster_image(np.zeros((8, 8), dtype=np.uint8), palette.rgb_bytes(), palette.transparent)
    assert indexed.mode == "P"
    buffer = io.BytesIO()
    indexed.save(buffer, format="PNG")
    assert buffer.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_encoder_gets_the_format_options_with_rgb_frames(tmp_path: Path) -> None:
    frames = rgb_frames(2)
    palette = animation_palette(frames)
    animation = Animation(SIZE, SIZE, palette.rgb_bytes(), palette.transparent, (100, 100), rgb=True)
    path = tmp_path / "anim.mp4"
    get("mp4").encode(path, animation, frames, SimpleNamespace(background="#c81e5a"))
    shown = decoded_rgb(path, SIZE)[0]
    # Transparent corners take the configured background (flat: x264 keeps it within a few levels).
    assert np.abs(shown[:4, :4] - np.array([200, 30, 90])).max() <= 6


# --------------------------------------------------------------------------------------------
# A build


def test_a_true_colour_build_keeps_exact_colours_in_webp_mp4_and_frame_pngs(tmp_path: Path) -> None:
    """The GIF stays on one palette; the frame PNGs, the WebP and the poster show each pixel's own
    colour (the source field, thousands of colours); the MP4 is closer to them than the GIF."""
    write_rgb_catalog(tmp_path / "catalog")
    config = tmp_path / "site_config.yml"
    config.write_text(
        "site: {title: RGB}\n"
        f"sources: {{s: {{catalog: {tmp_path / 'catalog' / 'catalog.json'}}}}}\n"
        "collections:\n  - {id: rgb, source: s, asset: visual}\n"
        "regions:\n  - {id: all, bbox: [0, 0, 64, 64]}\n"
        f"render: {{size: 64, crs: 'EPSG:4326', formats: [gif, webp, mp4], {QUIET}}}\n"
    )
    result = build(config, tmp_path / "out", options=BuildOptions(jobs=1, cache_dir=tmp_path / "cache"))
    (record,) = result.records
    assert record.status == "ok", record.error
    out = result.output_dir

    with Image.open(out / record.files.gif) as gif:
        table = {tuple(gif.getpalette()[i : i + 3]) for i in range(0, 768, 3)}  # type: ignore[index]
        gif_frames = [np.asarray(frame.convert("RGB")) for frame in ImageSequence.Iterator(gif)]
    # The GIF: every frame on its one palette.
    assert all(set(map(tuple, frame.reshape(-1, 3).tolist())) <= table for frame in gif_frames)

    pngs = []
    for number, path in enumerate(record.files.frames):
        with Image.open(out / path) as image:
            assert image.mode == "RGBA"
            png = np.asarray(image)
        expected, inside = expected_colours(number)
        np.testing.assert_array_equal(png[inside, :3], expected[inside])  # exactly the source colours
        assert len(np.unique(png[inside, :3], axis=0)) > 1000
        pngs.append(png)
    with Image.open(out / record.files.outputs["webp"]) as webp:
        for number, png in enumerate(pngs):
            webp.seek(number)
            shown = np.asarray(webp.convert("RGBA"))
            visible = png[..., 3] > 0
            np.testing.assert_array_equal(shown[visible], png[visible])
    with Image.open(out / record.files.poster) as poster:
        np.testing.assert_array_equal(np.asarray(poster.convert("RGBA")), pngs[-1])

    height = pngs[0].shape[0]
    for number, shown in enumerate(decoded_rgb(out / record.files.outputs["mp4"], height + height % 2)):
        expected, inside = expected_colours(number)
        crop = shown[: expected.shape[0], : expected.shape[1]]
        smooth = away_from_edges(expected, inside)
        assert smooth.sum() > 0.8 * inside.sum()
        # The GIF's palette error (≈ 12 levels mean, see test_truecolor: 30-34 dB here) is what full
        # colour removes; the MP4 keeps x264's and 4:2:0's (39-40 dB here, see the gradient test).
        assert psnr(crop[smooth], expected[smooth]) > psnr(gif_frames[number][smooth], expected[smooth]) + 3


def away_from_edges(colours: np.ndarray, inside: np.ndarray) -> np.ndarray:
    """The pixels inside whose 3×3 neighbourhood is inside too and holds no step of more than 16
    levels (the field's red wraps from 252 to 0). yuv420p shares one U, V among 2×2 pixels, so
    next to such an edge (or to the background outside the region) any MP4 mixes colours."""
    height, width = inside.shape
    padded = np.pad(colours.astype(np.int64), ((1, 1), (1, 1), (0, 0)), mode="edge")
    region = np.pad(inside, 1, constant_values=False)
    keep = inside.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            near = padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
            keep &= region[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
            keep &= np.abs(near - colours).max(axis=2) <= 16
    return keep
