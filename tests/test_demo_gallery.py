"""The default config builds the demo gallery offline, with exact colours and honest frame counts.

One session-scoped build is shared by every test here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageSequence
from rio_tiler.colormap import cmap

from generator.core.colors import CONTEXT_COLORS, NODATA_GREYS
from generator.engine.build import BuildResult
from generator.render.palette import RESERVED_COLORS

from .conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def manifest(demo_build: BuildResult) -> dict:
    return json.loads((demo_build.output_dir / "manifest.json").read_text(encoding="utf-8"))


def rgba_frames(path: Path) -> list[np.ndarray]:
    with Image.open(path) as image:
        return [np.array(frame.convert("RGBA")) for frame in ImageSequence.Iterator(image)]


def test_every_pair_builds(manifest):
    entries = manifest["animations"]
    assert len(entries) >= 6
    assert {entry["collection"] for entry in entries} >= {"no2-monthly", "lst-anomaly-monthly"}
    assert len({entry["region"] for entry in entries}) >= 3
    assert [entry for entry in entries if entry["status"] != "ok"] == []


def test_gif_frame_count_equals_time_steps(demo_build, manifest):
    for entry in manifest["animations"]:
        assert len(entry["frames"]) == 24  # 2021-01 … 2022-12, one item a month
        with Image.open(demo_build.output_dir / entry["gif"]) as gif:
            assert gif.n_frames == 24, entry["id"]


def test_opaque_pixels_are_colormap_or_reserved_colours(demo_build, manifest):
    reserved = {tuple(color.rgb) for color in RESERVED_COLORS} | set(NODATA_GREYS)
    for entry in manifest["animations"]:
        colormap = entry["style"]["colormap"]
        allowed = {tuple(rgba[:3]) for rgba in cmap.get(colormap.lower()).values()} | reserved
        frames = rgba_frames(demo_build.output_dir / entry["gif"])
        for frame in frames[:: len(frames) // 3]:
            opaque = frame[frame[..., 3] == 255][:, :3]
            colours = {tuple(int(c) for c in colour) for colour in np.unique(opaque, axis=0)}
            assert colours <= allowed, f"{entry['id']}: colours outside the palette: {sorted(colours - allowed)[:5]}"
            assert set(np.unique(frame[..., 3])) <= {0, 255}, "no partial transparency in a GIF"


def test_pixels_outside_the_region_are_transparent(demo_build, manifest):
    context = np.array(list(CONTEXT_COLORS.values()))
    for entry in manifest["animations"]:
        frame = rgba_frames(demo_build.output_dir / entry["gif"])[0]
        # The map lies between the title band and the bottom band (both opaque); its grid keeps
        # a 2 % margin around the region: its top rows and right columns lie outside, where only
        # the geographic context (coastlines, countries) is drawn.
        rows = np.flatnonzero((frame[..., 3] == 0).any(axis=1))
        assert rows[0] > 0 and rows[-1] < frame.shape[0] - 1, "bands above and below the map"
        columns = np.flatnonzero((frame[rows[0] : rows[-1] + 1, :, 3] == 0).any(axis=0))
        map_area = frame[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]
        for outside in (map_area[:4, :], map_area[:, -4:]):
            drawn = outside[outside[..., 3] != 0]
            assert (drawn[:, None, :3] == context[None]).all(axis=2).any(axis=1).all(), entry["id"]
            assert len(drawn) < outside[..., 3].size / 4, entry["id"]
        # …and inside there is data: plenty of opaque pixels
        assert (frame[..., 3] == 255).mean() > 0.3, entry["id"]


def test_frames_show_many_levels_and_nodata_holes(demo_build, manifest):
    entry = next(e for e in manifest["animations"] if e["id"] == "no2-monthly--france")
    frame = rgba_frames(demo_build.output_dir / entry["gif"])[0]
    opaque = frame[frame[..., 3] == 255][:, :3]
    assert len(np.unique(opaque, axis=0)) >= 40


def test_gallery_pages_exist_and_say_the_data_is_synthetic(demo_build, manifest):
    index = (demo_build.output_dir / "index.html").read_text(encoding="utf-8")
    assert "Synthetic" in index or "synthetic" in index
    for entry in manifest["animations"]:
        page = (demo_build.output_dir / entry["page"]).read_text(encoding="utf-8")
        assert entry["frames"][0]["items"][0] in page
        assert (demo_build.output_dir / entry["poster"]).is_file()
        with Image.open(demo_build.output_dir / entry["thumbnail"]) as thumbnail:
            assert max(thumbnail.size) <= 320


def test_webp_and_mp4_have_the_right_frames_and_duration(demo_build, manifest):
    import av

    entry = manifest["animations"][0]
    expected_ms = 24 * 300 + 1000  # frame_ms for every frame plus the end pause
    with Image.open(demo_build.output_dir / entry["webp"]) as webp:
        assert webp.n_frames == 24
        durations = []
        for number in range(webp.n_frames):
            webp.seek(number)
            webp.load()  # Pillow reads a WebP frame's duration when it decodes the frame
            durations.append(webp.info["duration"])
    assert sum(durations) == expected_ms and durations[-1] == 1300
    with av.open(str(demo_build.output_dir / entry["mp4"])) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        decoded = list(container.decode(stream))
        seconds = float((decoded[-1].pts - decoded[0].pts + decoded[-1].duration) * stream.time_base) if decoded[-1].duration else None
    assert decoded[0].width % 2 == 0 and decoded[0].height % 2 == 0
    # constant frame rate: every displayed frame lasts one tick; the end pause repeats the last image
    fps = float(stream.average_rate)
    assert len(decoded) / fps == pytest.approx(expected_ms / 1000, abs=0.05)
    if seconds is not None:
        assert seconds == pytest.approx(expected_ms / 1000, abs=0.05)


def test_provenance_publishes_local_assets_relative_to_the_config(demo_build, manifest):
    entry = manifest["animations"][0]
    provenance = json.loads((demo_build.output_dir / entry["provenance"]).read_text(encoding="utf-8"))
    item = provenance["frames"][0]["items"][0]
    assert item["asset_href"].startswith("demo/") and item["asset_href"].endswith(".tif")
    assert str(REPO) not in json.dumps(provenance)


def test_france_shows_the_departements_credited_to_ign(demo_build, manifest):
    border = np.array([0x28, 0x28, 0x28])  # the default border colour
    lines = {}
    for entry in manifest["animations"]:
        poster = np.array(Image.open(demo_build.output_dir / entry["poster"]).convert("RGB"))
        # The middle of the map, away from the outline and the overlay boxes.
        lines[entry["id"]] = int((poster[120:300, 100:380] == border).all(axis=-1).sum())
    # 96 départements draw thousands of internal border pixels; regions without borders none.
    assert lines["no2-monthly--france"] > 2000 and lines["lst-anomaly-monthly--france"] > 2000
    assert lines["no2-monthly--alps"] == 0 and lines["no2-monthly--british-isles"] == 0

    for entry in manifest["animations"]:
        page = (demo_build.output_dir / entry["page"]).read_text(encoding="utf-8")
        provenance = json.loads((demo_build.output_dir / entry["provenance"]).read_text(encoding="utf-8"))
        # Coastlines and countries are drawn around every region (no basemap in the demo).
        assert '<dt>Geography</dt><dd class="about__credit">Natural Earth</dd>' in page
        if entry["region"] == "france":
            assert entry["credits"] == {"borders": "IGN, Licence Ouverte", "geography": "Natural Earth"}
            assert provenance["animation"]["credits"] == entry["credits"]
            assert '<dt>Borders</dt><dd class="about__credit">IGN, Licence Ouverte</dd>' in page
        else:
            assert entry["credits"] == {"geography": "Natural Earth"} and "IGN" not in page
