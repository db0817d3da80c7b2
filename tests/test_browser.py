"""The gallery in a real browser: Debian's chromium driven by Playwright, never a downloaded one.

The demo gallery is built once per session and served on 127.0.0.1 under a sub-path, the way
GitHub Pages serves a project site; one browser serves every test. Screenshots of the index and
of an animation page at phone and desktop widths are saved in ``test-artifacts/`` and the
desktop index goes to ``test-artifacts/``; with ``UPDATE_README_SCREENSHOT=1`` it also refreshes ``docs/gallery.png``.
"""

from __future__ import annotations

import functools
import http.server
import io
import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from PIL import Image

from generator.engine.build import BuildResult
from generator.site import gallery as site

from .conftest import REPO
from .test_site import SITE, XSS_RAW_IMG, XSS_SCRIPT, hostile_record, ok_record

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
SUB_PATH = "/my-repo/"
HOSTILE_PATH = "/hostile/"
ARTIFACTS = REPO / "test-artifacts"
README_SCREENSHOT = REPO / "docs" / "gallery.png"
README_SCREENSHOT_MAX_BYTES = 300_000
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}


def unavailable(reason: str) -> None:
    """Browser tests must run on CI: there a missing browser is a failure, not a skip."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so browser tests may not be skipped)")
    pytest.skip(reason)


# --------------------------------------------------------------------------- server


class SubPathHandler(http.server.SimpleHTTPRequestHandler):
    """Serves each mounted folder under its URL prefix, like a project site on GitHub Pages."""

    mounts: dict[str, Path] = {}

    def translate_path(self, path: str) -> str:
        request_path = urlsplit(path).path
        for prefix, folder in self.mounts.items():
            if request_path.startswith(prefix):
                inner = "/" + request_path[len(prefix):]
                return super().translate_path(inner).replace(os.getcwd(), str(folder), 1)
        return str(Path(self.directory) / ".not-mounted")

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture(scope="session")
def hostile_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gallery whose collection title and description try to inject markup and scripts."""
    output = tmp_path_factory.mktemp("hostile")
    records = [ok_record(), hostile_record()]
    records[1] = replace(records[1], files=replace(records[1].files, frames=records[1].files.frames[:1]))
    for record in records:
        for relative in (record.files.gif, record.files.poster, record.files.thumbnail, *record.files.frames):
            path = output / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            Image.new("RGB", (32, 24), "#21918c").save(path, format="GIF" if path.suffix == ".gif" else "PNG")
    site.write_site(output, SITE, records, generator_version="test")
    return output


@pytest.fixture(scope="session")
def base_url(demo_build: BuildResult, hostile_site: Path) -> Iterator[str]:
    mounts = {SUB_PATH: demo_build.output_dir, HOSTILE_PATH: hostile_site}
    handler_class = type("Handler", (SubPathHandler,), {"mounts": mounts})
    # SimpleHTTPRequestHandler maps paths under `directory`; we swap that root per mount above.
    handler = functools.partial(handler_class, directory=os.getcwd())
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# --------------------------------------------------------------------------- browser


@pytest.fixture(scope="session")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    if not CHROMIUM.is_file():
        unavailable(f"{CHROMIUM} is missing; run scripts/system-deps.sh (installs Debian's chromium)")
    manager = sync_playwright().start()
    try:
        browser = manager.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
    except Exception as error:  # a broken install must be visible, not a silent skip
        manager.stop()
        unavailable(f"cannot start {CHROMIUM}: {error}")
    yield browser
    browser.close()
    manager.stop()


class PageWatch:
    """Collects console errors, page errors, failed requests and HTTP errors of one page."""

    def __init__(self, page, *, image_swaps: bool = False) -> None:
        """``image_swaps``: the test swaps an image's src faster than frames load, so the
        browser cancelling the superseded load (ERR_ABORTED) is expected, not a failure;
        a missing file still shows up as an HTTP error."""
        self.problems: list[str] = []
        self.image_swaps = image_swaps
        page.on("console", lambda msg: msg.type == "error" and self.problems.append(f"console: {msg.text}"))
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("requestfailed", self._failed)
        page.on("response", lambda response: response.status >= 400 and self.problems.append(f"HTTP {response.status}: {response.url}"))

    def _failed(self, request) -> None:
        cancelled = request.failure == "net::ERR_ABORTED" and request.resource_type == "image"
        if not (self.image_swaps and cancelled):
            self.problems.append(f"failed: {request.url} {request.failure}")


@pytest.fixture()
def context(browser):
    context = browser.new_context(viewport=DESKTOP)
    yield context
    context.close()


@pytest.fixture(scope="session")
def manifest(demo_build: BuildResult) -> dict:  # noqa: F811
    return json.loads((demo_build.output_dir / "manifest.json").read_text(encoding="utf-8"))


def animation_url(base_url: str, entry: dict) -> str:
    return f"{base_url}{SUB_PATH}{entry['page']}"


LOAD_ALL_IMAGES = """async () => {
  const images = Array.from(document.images);
  for (const image of images) image.loading = "eager";
  await Promise.all(images.map((image) => image.decode().catch(() => null)));
  return images.map((image) => [image.currentSrc || image.src, image.naturalWidth]);
}"""

LINKS = """() => Array.from(document.querySelectorAll("a[href], link[href], script[src]"))
  .map((element) => element.getAttribute("href") || element.getAttribute("src"))
  .map((value) => new URL(value, document.baseURI).href)"""


# --------------------------------------------------------------------------- tests


def test_every_page_is_clean_every_image_loads_and_every_link_resolves(browser, base_url):
    root = f"{base_url}{SUB_PATH}"
    # Reduced motion keeps the players paused, so each page's network goes idle quickly.
    context = browser.new_context(viewport=DESKTOP, reduced_motion="reduce")
    page = context.new_page()
    # player.js replaces the still image with the player, which may cancel its in-flight load;
    # a missing file would still be an HTTP error, and every file is fetched again below.
    watch = PageWatch(page, image_swaps=True)
    queue, seen_pages, seen_files = [f"{root}index.html"], set(), set()
    while queue:
        url = queue.pop(0)
        if url in seen_pages:
            continue
        seen_pages.add(url)
        page.goto(url, wait_until="networkidle")  # nothing in flight is aborted by the next goto
        for src, width in page.evaluate(LOAD_ALL_IMAGES):
            assert width > 0, f"{url}: image {src} did not load"
        for link in page.evaluate(LINKS):
            target = link.split("#")[0]
            if not target.startswith(base_url):
                continue  # external links (providers, DOIs) are not ours to check offline
            assert target.startswith(root), f"{url}: {link} leaves the site's sub-path"
            if target.endswith((".html", "/")):
                queue.append(target)
            elif target not in seen_files:
                seen_files.add(target)
                response = page.request.get(target)
                assert response.ok, f"{url}: {link} -> HTTP {response.status}"
    context.close()
    assert watch.problems == []
    # index + 6 animations + 2 collections + 3 regions
    assert len(seen_pages) == 12, sorted(seen_pages)
    assert any(f.endswith("provenance.json") for f in seen_files)


def test_player_steps_scrubs_and_plays(context, base_url, manifest):
    entry = manifest["animations"][0]
    labels = [frame["label"] for frame in entry["frames"]]
    page = context.new_page()
    watch = PageWatch(page, image_swaps=True)
    page.goto(animation_url(base_url, entry))
    player = page.locator("#player")
    image, date = page.locator("#player-image"), page.locator("#player-date")

    # Playing by default: the shown frame advances on its own.
    assert player.get_attribute("data-playing") == "true"
    page.wait_for_function("document.getElementById('player').dataset.index !== '0'", timeout=5000)

    page.click("#player-play")
    assert player.get_attribute("data-playing") == "false"
    page.keyboard.press("Home")
    assert image.get_attribute("src").endswith("frames/0001.png")
    assert date.text_content() == labels[0]

    page.click("#player-next")
    assert image.get_attribute("src").endswith("frames/0002.png")
    assert date.text_content() == labels[1]
    page.click("#player-prev")
    assert image.get_attribute("src").endswith("frames/0001.png")
    assert date.text_content() == labels[0]

    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    assert player.get_attribute("data-index") == "2"
    assert date.text_content() == labels[2]

    scrubber = page.locator("#player-scrubber")
    scrubber.evaluate("(el) => { el.value = '10'; el.dispatchEvent(new Event('input', {bubbles: true})); }")
    assert image.get_attribute("src").endswith("frames/0011.png")
    assert date.text_content() == labels[10]
    assert scrubber.get_attribute("aria-valuetext") == labels[10]
    scrubber.focus()
    page.keyboard.press("End")
    assert date.text_content() == labels[-1]
    assert page.locator("#player-counter").text_content() == f"{len(labels)} / {len(labels)}"

    page.select_option("#player-speed", "4")
    page.locator("#player").focus()
    page.keyboard.press(" ")
    assert player.get_attribute("data-playing") == "true"
    page.wait_for_function(f"document.getElementById('player').dataset.index !== '{len(labels) - 1}'", timeout=3000)
    natural_width = image.evaluate("(img) => img.decode().then(() => img.naturalWidth)")
    assert natural_width == entry["width"]
    assert watch.problems == []


PLAYER_SCALE = """() => {
  const image = document.getElementById("player-image");
  const box = image.getBoundingClientRect();
  return {
    scale: document.getElementById("player").dataset.scale,
    width: box.width * window.devicePixelRatio,
    height: box.height * window.devicePixelRatio,
    column: image.parentNode.clientWidth * window.devicePixelRatio,
    rendering: getComputedStyle(image).imageRendering,
  };
}"""


@pytest.mark.parametrize(("viewport", "ratio"), [(DESKTOP, 1), (DESKTOP, 2), (PHONE, 1), (PHONE, 3)])
def test_player_shows_frames_at_whole_scales_with_crisp_pixels(browser, base_url, manifest, viewport, ratio):
    """Native size or a whole number of device pixels per frame pixel (pixelated when > 1);
    a column narrower than the frame shrinks it to fit. Never a non-integer upscale."""
    entry = next(e for e in manifest["animations"] if e["id"] == "no2-monthly--alps")
    context = browser.new_context(viewport=viewport, device_scale_factor=ratio, reduced_motion="reduce")
    try:
        page = context.new_page()
        page.goto(animation_url(base_url, entry))
        shown = page.evaluate(PLAYER_SCALE)
        if shown["scale"] == "fit":
            assert shown["column"] < entry["width"], shown
            assert shown["width"] <= shown["column"] + 1 and shown["rendering"] == "auto", shown
        else:
            factor = int(shown["scale"])
            assert factor >= 1 and factor * entry["width"] <= shown["column"], shown
            assert abs(shown["width"] - factor * entry["width"]) < 1, shown
            assert abs(shown["height"] - factor * entry["height"]) < 1, shown
            assert shown["rendering"] == ("pixelated" if factor > 1 else "auto"), shown
        if viewport is PHONE and ratio == 1:
            assert shown["scale"] == "fit"
        if viewport is DESKTOP:
            # A 512-px frame in the page's column: native size, or on a 2× screen two device
            # pixels per frame pixel, crisp.
            assert shown["scale"] == str(ratio), shown
        # The player keeps it right when the window changes.
        page.set_viewport_size({"width": 360, "height": 700})
        page.wait_for_function("document.getElementById('player').dataset.scale !== undefined")
        narrow = page.evaluate(PLAYER_SCALE)
        assert narrow["width"] <= narrow["column"] + 1
    finally:
        context.close()


def test_the_page_shows_one_legend(context, base_url, manifest):
    entry = next(e for e in manifest["animations"] if e["id"] == "no2-monthly--france")
    page = context.new_page()
    page.goto(animation_url(base_url, entry))
    legend = page.locator("#legend")
    assert legend.locator(".legend__image img").count() == 1
    assert legend.locator(".legend__bar").count() == 0


def test_reduced_motion_starts_paused_and_keeps_thumbnails_still(browser, base_url, manifest):
    entry = manifest["animations"][0]
    context = browser.new_context(viewport=DESKTOP, reduced_motion="reduce")
    try:
        page = context.new_page()
        page.goto(animation_url(base_url, entry))
        player = page.locator("#player")
        assert player.get_attribute("data-playing") == "false"
        page.wait_for_timeout(1000)  # > 3 frames at the demo's frame_ms (300 ms)
        assert player.get_attribute("data-index") == "0"
        assert page.locator("#player-image").get_attribute("src").endswith("frames/0001.png")

        page.goto(f"{base_url}{SUB_PATH}index.html")
        card = page.locator(f"#card-{entry['slug']}")
        card.hover()
        assert card.locator("img").get_attribute("src").endswith("thumbnail.webp")
    finally:
        context.close()


def test_thumbnail_animates_on_hover_and_focus(context, base_url, manifest):
    entry = manifest["animations"][1]
    page = context.new_page()
    page.goto(f"{base_url}{SUB_PATH}index.html")
    card = page.locator(f"#card-{entry['slug']}")
    thumbnail = card.locator("img")
    animated = entry.get("webp", entry["gif"])  # the lossless WebP when the animation has one
    card.hover()
    assert thumbnail.get_attribute("src") == animated
    page.mouse.move(0, 0)
    assert thumbnail.get_attribute("src") == entry["thumbnail"]
    card.locator("a").focus()
    assert thumbnail.get_attribute("src") == animated


def visible_cards(page) -> list[tuple[str, str]]:
    pairs = page.eval_on_selector_all(
        ".card", "(cards) => cards.filter((c) => !c.hidden && c.offsetParent !== null)"
        ".map((c) => [c.dataset.collection, c.dataset.region])"
    )
    return [tuple(pair) for pair in pairs]


def test_index_filters_hide_and_show_the_right_cards(context, base_url, manifest):
    everything = sorted((e["collection"], e["region"]) for e in manifest["animations"])
    page = context.new_page()
    page.goto(f"{base_url}{SUB_PATH}index.html")
    assert sorted(visible_cards(page)) == everything

    page.select_option("#filter-collection", "no2-monthly")
    assert sorted(visible_cards(page)) == [pair for pair in everything if pair[0] == "no2-monthly"]
    page.select_option("#filter-region", "alps")
    assert visible_cards(page) == [("no2-monthly", "alps")]
    assert page.locator("#filter-count").text_content() == f"1 of {len(everything)} animations"

    page.select_option("#filter-collection", "")
    page.select_option("#filter-region", "")
    page.fill("#filter-text", "british")
    assert sorted(visible_cards(page)) == [pair for pair in everything if pair[1] == "british-isles"]
    page.fill("#filter-text", "no such thing")
    assert visible_cards(page) == []
    assert page.locator("#filter-empty").is_visible()
    page.fill("#filter-text", "")
    assert sorted(visible_cards(page)) == everything


def test_without_javascript_cards_are_plain_links_and_the_gif_shows(browser, base_url, manifest):
    entry = manifest["animations"][0]
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{base_url}{SUB_PATH}index.html")
        assert not page.locator("#filters").is_visible()
        links = page.eval_on_selector_all(".card a", "(links) => links.map((a) => a.getAttribute('href'))")
        assert sorted(links) == sorted(e["page"] for e in manifest["animations"])
        page.goto(animation_url(base_url, entry))
        gif = page.locator("#player-gif")
        assert gif.is_visible() and gif.get_attribute("src").endswith(".gif")
        assert not page.locator("#player-image").is_visible()  # the player's still, hidden without it
        assert not page.locator("#player-controls").is_visible()
    finally:
        context.close()


def test_with_javascript_the_animation_page_never_downloads_the_gif(context, base_url, manifest):
    """The player steps through the frame PNGs: the GIF (often the page's heaviest file) is only
    for browsers without JavaScript, and a browser running the player does not fetch it."""
    entry = manifest["animations"][0]
    page = context.new_page()
    fetched: list[str] = []
    page.on("request", lambda request: fetched.append(request.url))
    page.goto(animation_url(base_url, entry))
    page.wait_for_function("document.getElementById('player').dataset.index !== undefined")
    page.wait_for_load_state("networkidle")
    assert any(url.endswith("frames/0001.png") for url in fetched)
    assert not any(url.endswith(".gif") for url in fetched), fetched


def test_hostile_stac_text_stays_inert_in_the_browser(context, base_url):
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    for path in ("index.html", "animations/evil-france/index.html"):
        page.goto(f"{base_url}{HOSTILE_PATH}{path}")
        page.wait_for_timeout(200)
        assert XSS_SCRIPT in page.locator("main").inner_text()
        assert page.locator("img[onerror]").count() == 0
        assert page.locator("a[href^='javascript' i], a[href^='data' i]").count() == 0
    description = page.locator("#description")
    assert XSS_RAW_IMG in description.inner_text()
    assert "[x](javascript:alert(1))" in description.inner_text()
    assert dialogs == []


def save_screenshot(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=name.endswith("-full.png"))
    return path


def readme_copy(source: Path) -> None:
    """The README's picture: a palette PNG keeps a UI screenshot small without visible loss."""
    with Image.open(source) as image:
        small = image.convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    buffer = io.BytesIO()
    small.save(buffer, format="PNG", optimize=True)
    data = buffer.getvalue()
    assert len(data) < README_SCREENSHOT_MAX_BYTES, f"{len(data)} bytes is too big for the README"
    (ARTIFACTS / "readme-gallery.png").write_bytes(data)
    # The README's copy changes only on request, so test runs leave the checkout clean.
    if os.environ.get("UPDATE_README_SCREENSHOT") and (not README_SCREENSHOT.is_file() or README_SCREENSHOT.read_bytes() != data):
        README_SCREENSHOT.write_bytes(data)


def test_screenshots_at_phone_and_desktop_widths(browser, base_url, manifest):
    entry = manifest["animations"][0]
    saved = []
    for label, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        context = browser.new_context(viewport=viewport, reduced_motion="reduce", device_scale_factor=1)
        try:
            page = context.new_page()
            page.goto(f"{base_url}{SUB_PATH}index.html")
            page.evaluate(LOAD_ALL_IMAGES)
            saved.append(save_screenshot(page, f"index-{label}.png"))
            saved.append(save_screenshot(page, f"index-{label}-full.png"))
            page.goto(animation_url(base_url, entry))
            page.evaluate(LOAD_ALL_IMAGES)
            saved.append(save_screenshot(page, f"animation-{label}-full.png"))
            # Nothing may overflow sideways on a phone.
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= viewport["width"], f"{label}: page is {scroll_width} px wide"
        finally:
            context.close()
    for path in saved:
        with Image.open(path) as image:
            assert image.width in (PHONE["width"], DESKTOP["width"])
    readme_copy(ARTIFACTS / "index-desktop-full.png")
    assert README_SCREENSHOT.stat().st_size < README_SCREENSHOT_MAX_BYTES


# --------------------------------------------------------------------------- statistics chart

CHART_STATE = """() => {
  const chart = document.getElementById("stats-chart");
  const cursor = document.getElementById("stats-chart-cursor");
  const x0 = parseFloat(chart.dataset.x0), step = parseFloat(chart.dataset.step);
  const current = Array.from(chart.querySelectorAll(".stats-chart__point--current")).map((a) => a.dataset.index);
  return {cursor: parseFloat(cursor.getAttribute("x1")), x0, step, current,
          row: Array.from(document.querySelectorAll(".stats__row--current")).map((row) => row.dataset.index)};
}"""


def _stats_entry(manifest: dict) -> dict:
    return next(entry for entry in manifest["animations"] if entry["stats"] and entry["status"] == "ok")


def test_the_chart_marker_follows_the_player_and_a_point_seeks_it(browser, base_url, manifest):
    entry = _stats_entry(manifest)
    context = browser.new_context(viewport=DESKTOP, reduced_motion="reduce")  # starts paused
    try:
        page = context.new_page()
        watch = PageWatch(page, image_swaps=True)
        page.goto(animation_url(base_url, entry))
        player = page.locator("#player")
        assert player.get_attribute("data-playing") == "false"
        state = page.evaluate(CHART_STATE)
        assert state["cursor"] == pytest.approx(state["x0"]) and state["current"] == ["0"] and state["row"] == ["0"]
        for k in (1, 2, 3):
            page.click("#player-next")  # step to frame k: the marker is at k
            state = page.evaluate(CHART_STATE)
            assert state["cursor"] == pytest.approx(state["x0"] + k * state["step"])
            assert state["current"] == [str(k)] and state["row"] == [str(k)]
        # Clicking a point seeks the player to its frame (and does not scroll to the table's row).
        target = len(entry["frames"]) - 2
        page.locator(f'.stats-chart__point[data-index="{target}"]').click()
        assert player.get_attribute("data-index") == str(target)
        assert page.locator("#player-image").get_attribute("src").endswith(f"frames/{target + 1:04d}.png")
        assert page.evaluate(CHART_STATE)["current"] == [str(target)]
        # The points are links: reachable with the keyboard, Enter seeks too.
        point = page.locator('.stats-chart__point[data-index="1"]')
        point.focus()
        page.keyboard.press("Enter")
        assert player.get_attribute("data-index") == "1"
        # The table is collapsed for the eye but stays in the accessibility tree; the button opens it.
        numbers = page.locator("#stats-numbers")
        assert "stats__numbers--collapsed" in numbers.get_attribute("class")
        assert page.get_by_role("table", name=re.compile("Statistics per frame")).count() == 1
        page.click("#stats-toggle")
        assert numbers.is_visible() and page.locator(".stats__row").first.is_visible()
        assert page.locator("#stats-toggle").get_attribute("aria-expanded") == "true"
        assert watch.problems == []
    finally:
        context.close()


def test_without_javascript_the_chart_and_the_table_show(browser, base_url, manifest):
    entry = _stats_entry(manifest)
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(animation_url(base_url, entry))
        chart = page.locator("#stats-chart")
        assert chart.is_visible() and chart.bounding_box()["height"] > 100
        assert page.locator("#stats-chart title").first.text_content().startswith("Mean over")
        assert page.locator("#stats-chart .stats-chart__mean").count() >= 1
        rows = page.locator(".stats__row")
        assert rows.count() == len(entry["frames"]) and rows.first.is_visible()
        assert not page.locator("#stats-toggle").is_visible()
        link = page.locator('a[href="stats.csv"]')
        assert link.is_visible() and page.request.get(link.evaluate("(a) => a.href")).ok
    finally:
        context.close()
