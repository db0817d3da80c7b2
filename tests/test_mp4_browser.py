"""The MP4 in Chromium: a ``<video>`` on a page served from 127.0.0.1 lasts the sum of the frame
durations, and seeking into frame k shows frame k (drawn to a canvas and read back).

Uses the Debian chromium of ``test_browser`` (never a downloaded browser), through Playwright's
async API on a thread of its own; with ``CI`` set a missing browser fails the test instead of
skipping it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest

from generator.encode.mp4 import write_mp4

from .servers.range_http import serve_directory
from .test_browser import CHROMIUM, CHROMIUM_ARGS, unavailable

pytestmark = pytest.mark.slow
T = TypeVar("T")

#: Frames of uneven length, the last one with an end pause, as the gallery's animations have.
DURATIONS_MS = [300, 700, 200, 500, 300, 1300]
#: One flat, clearly different colour per frame.
COLOURS = [(230, 40, 40), (40, 200, 60), (40, 60, 220), (240, 220, 40), (200, 40, 200), (30, 200, 210)]
WIDTH, HEIGHT = 64, 48

PAGE = """<!doctype html><meta charset="utf-8"><title>mp4</title>
<video id="video" src="anim.mp4" muted playsinline preload="auto"></video>
<canvas id="canvas" width="64" height="48"></canvas>"""

READY = """() => new Promise((resolve, reject) => {
  const video = document.getElementById("video");
  if (video.readyState >= 2) return resolve(video.duration);
  video.addEventListener("loadeddata", () => resolve(video.duration), { once: true });
  video.addEventListener("error", () => reject(new Error("video error " + video.error.code)), { once: true });
})"""

COLOUR_AT = """async (seconds) => {
  const video = document.getElementById("video");
  await new Promise((resolve) => {
    video.addEventListener("seeked", resolve, { once: true });
    video.currentTime = seconds;
  });
  // Under load the decoded frame can reach the compositor a little after "seeked": let two
  // animation frames pass before reading it.
  await new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)));
  const canvas = document.getElementById("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(video, 0, 0, 64, 48);
  return Array.from(context.getImageData(32, 24, 1, 1).data.slice(0, 3));
}"""


@pytest.fixture()
def served_mp4(tmp_path: Path) -> Iterator[str]:
    palette = bytearray(768)
    for number, colour in enumerate(COLOURS, start=1):
        palette[3 * number : 3 * number + 3] = bytes(colour)
    frames = [np.full((HEIGHT, WIDTH), number, dtype=np.uint8) for number in range(1, len(COLOURS) + 1)]
    write_mp4(tmp_path / "anim.mp4", frames, DURATIONS_MS, bytes(palette), None)
    (tmp_path / "index.html").write_text(PAGE, encoding="utf-8")

    # A browser seeks in a video only when the server answers Range requests: the tests' range server does.
    with serve_directory(tmp_path) as server:
        yield f"{server.url}/index.html"


async def duration_and_colours(url: str) -> tuple[float, list[list[int]]]:
    """Open ``url`` in Chromium: the video's duration and the colour shown in the middle of
    each frame's time."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            page = await chromium.new_page()
            await page.goto(url)
            duration = await page.evaluate(READY)
            colours, start = [], 0
            for length in DURATIONS_MS:
                colours.append(await page.evaluate(COLOUR_AT, (start + length / 2) / 1000))
                start += length
            return duration, colours
        finally:
            await chromium.close()


def in_own_thread(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` on an event loop of its own thread: the gallery tests' session keeps
    Playwright's sync API (and its loop) open in this thread, so a second one cannot start here."""
    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, coroutine).result(timeout=120)


def test_chromium_plays_the_mp4_for_its_duration_and_shows_each_frame_in_its_time(served_mp4: str) -> None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.is_file():
        unavailable(f"{CHROMIUM} is missing; run scripts/system-deps.sh (installs Debian's chromium)")
    duration, colours = in_own_thread(duration_and_colours(served_mp4))
    assert duration == pytest.approx(sum(DURATIONS_MS) / 1000, abs=0.002)
    for number, (shown, colour) in enumerate(zip(colours, COLOURS, strict=True)):
        # A flat frame through H.264 and the browser's YUV→RGB conversion: a few levels off.
        assert np.abs(np.array(shown) - np.array(colour)).max() <= 12, (number, shown, colour)
