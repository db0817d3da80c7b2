"""Tests of the site stage: manifest, relative links, escaping of STAC text, failed records."""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from PIL import Image

from generator.core.errors import GeneratorError
from generator.core.model import (
    AnimationFiles,
    AnimationRecord,
    CollectionInfo,
    FramePlan,
    ItemAsset,
    SiteInfo,
    Style,
)
from generator.site import gallery as site

REPO_ROOT = Path(__file__).resolve().parents[1]
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'
XSS_RAW_IMG = "<img src=x onerror=alert(1)>"
PROVIDER_URL = "https://provider.example.org/about"
DESCRIPTION_URL = "https://ok.example.org/docs"  # the hostile description's one valid link
SITE = SiteInfo(title="Test gallery", description="Maps of things.\n\nSecond paragraph.")
VERSION = "9.8.7"

MANIFEST_KEYS = {
    "id",
    "collection",
    "region",
    "page",
    "gif",
    "poster",
    "thumbnail",
    "status",
    "error",
    "style",
    "frames",
    "title",
    "slug",
    "width",
    "height",
    "date_range",
    "frame_count",
}


# --------------------------------------------------------------------------- record builders


def utc(year: int, month: int, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


def files_for(slug: str, frame_count: int = 0) -> AnimationFiles:
    return AnimationFiles(
        page=f"animations/{slug}/index.html",
        outputs={"gif": f"animations/{slug}/{slug}.gif"},
        poster=f"animations/{slug}/poster.png",
        thumbnail=f"animations/{slug}/thumbnail.webp",
        frames=tuple(f"animations/{slug}/frames/{n:04d}.png" for n in range(1, frame_count + 1)),
    )


# A rough outline of mainland France (lon, lat), enough for the locator.
FRANCE_RING = ((-4.8, 48.4), (2.5, 51.1), (8.2, 49.0), (7.6, 43.8), (3.1, 42.4), (-1.8, 43.4), (-4.8, 48.4))


def frame(when: datetime, *item_ids: str) -> FramePlan:
    items = tuple(ItemAsset(item_id=i, datetime=when, href=f"/data/{i}.tif") for i in item_ids)
    return FramePlan(datetime=when, items=items, kind="data" if items else "gap")


def ok_record(
    slug: str = "no2-france", collection: CollectionInfo | None = None
) -> AnimationRecord:
    collection = collection or CollectionInfo(
        id="no2",
        title="Nitrogen dioxide",
        description="Tropospheric NO2 column.",
        license="CC-BY-4.0",
        providers=({"name": "ESA", "roles": ["producer"], "url": PROVIDER_URL},),
    )
    return AnimationRecord(
        id=slug,
        slug=slug,
        status="ok",
        collection_id=collection.id,
        region_id="france",
        region_title="France",
        files=files_for(slug, 3),
        collection=collection,
        style=Style(rescale=(0.0, 0.00015), colormap="viridis", units="mol/m²"),
        region_outline=(FRANCE_RING,),
        render={"frame_ms": 250, "size": 320},
        frames=(
            frame(utc(2024, 1), "S5P_2024_01_a", "S5P_2024_01_b"),
            frame(utc(2024, 2)),
            frame(datetime(2024, 3, 1, 2, 30, tzinfo=timezone(timedelta(hours=2))), "S5P_2024_03"),
        ),
        frame_labels=("Jan 2024", "Feb 2024", "Mar 2024"),
        legend_colors=("#440154", "#21918c", "#fde725"),
        width=320,
        height=240,
    )


def failed_record(slug: str = "sst-bretagne") -> AnimationRecord:
    return AnimationRecord(
        id=slug,
        slug=slug,
        status="failed",
        collection_id="sst",
        region_id="bretagne",
        region_title="Bretagne",
        files=files_for(slug),
        error="No STAC items found between 2024-01-01 and 2024-03-31.",
    )


def hostile_record() -> AnimationRecord:
    collection = CollectionInfo(
        id="evil",
        title=f"Evil {XSS_SCRIPT}",
        description=(
            f"Intro {XSS_SCRIPT}\n\nMore {XSS_SCRIPT} [x](javascript:alert(1)) "
            f"{XSS_RAW_IMG} [data](data:text/html,hi) [ok]({DESCRIPTION_URL})"
        ),
        providers=(
            {"name": f"Provider {XSS_SCRIPT}", "roles": ["host"], "url": "javascript:alert(1)"},
        ),
        synthetic=True,
    )
    record = ok_record("evil-france", collection)
    return replace(
        record, frames=(frame(utc(2024, 1), f"item{XSS_IMG}"),), frame_labels=("Jan 2024",)
    )


def write_media(output_dir: Path, record: AnimationRecord) -> None:
    """Stand-ins for the files the build stage writes (content is irrelevant to the site)."""
    for relative in (record.files.gif, record.files.poster, record.files.thumbnail, *record.files.frames):
        path = output_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"media")


def build(output_dir: Path, records: list[AnimationRecord]) -> None:
    for record in records:
        if record.status == "ok":
            write_media(output_dir, record)
    site.write_site(output_dir, SITE, records, generator_version=VERSION)


# --------------------------------------------------------------------------- HTML parsing

VOID_TAGS = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "wbr"
}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str | None]
    children: list[Node] = field(default_factory=list)
    text: list[str] = field(default_factory=list)

    def iter(self):
        yield self
        for child in self.children:
            yield from child.iter()

    def find_all(self, tag: str) -> list[Node]:
        return [node for node in self.iter() if node.tag == tag]

    def by_id(self, element_id: str) -> Node | None:
        return next((n for n in self.iter() if n.attrs.get("id") == element_id), None)

    def all_text(self) -> str:
        return "".join("".join(node.text) for node in self.iter())


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag, attrs):
        node = Node(tag, dict(attrs))
        self.stack[-1].children.append(node)
        if tag not in VOID_TAGS:
            self.stack.append(node)

    def handle_endtag(self, tag):
        for depth in range(len(self.stack) - 1, 0, -1):
            if self.stack[depth].tag == tag:
                del self.stack[depth:]
                return

    def handle_data(self, data):
        self.stack[-1].text.append(data)


def parse(path: Path) -> Node:
    builder = TreeBuilder()
    builder.feed(path.read_text(encoding="utf-8"))
    builder.close()
    return builder.root


def link_targets(document: Node) -> list[str]:
    """Every URL a page points to: href, src and each srcset candidate."""
    targets = []
    for node in document.iter():
        for name in ("href", "src"):
            if node.attrs.get(name) is not None:
                targets.append(node.attrs[name])
        srcset = node.attrs.get("srcset")
        if srcset:
            targets.extend(candidate.split()[0] for candidate in srcset.split(","))
    return targets


def html_pages(output_dir: Path) -> list[Path]:
    return sorted(output_dir.rglob("*.html"))


# --------------------------------------------------------------------------- fixtures


@pytest.fixture()
def built(tmp_path: Path) -> Path:
    build(tmp_path, [ok_record(), failed_record(), hostile_record()])
    return tmp_path


# --------------------------------------------------------------------------- manifest


def test_manifest_entry_of_ok_record_has_expected_values() -> None:
    entry = site.manifest_entry(ok_record())

    assert MANIFEST_KEYS <= entry.keys()
    assert entry["status"] == "ok"
    assert entry["error"] is None
    assert entry["collection"] == "no2"
    assert entry["region"] == "france"
    assert entry["title"] == "Nitrogen dioxide — France"
    assert entry["page"] == "animations/no2-france/index.html"
    assert entry["gif"] == "animations/no2-france/no2-france.gif"
    assert entry["style"] == {"rescale": [0.0, 0.00015], "scale": "linear", "colormap": "viridis", "units": "mol/m²"}
    assert entry["frame_count"] == 3
    assert (entry["width"], entry["height"]) == (320, 240)
    # 02:30 at UTC+2 is 00:30 UTC
    assert entry["date_range"] == ["2024-01-01T00:00:00Z", "2024-03-01T00:30:00Z"]
    assert entry["frames"][0]["items"] == ["S5P_2024_01_a", "S5P_2024_01_b"]
    assert [f["kind"] for f in entry["frames"]] == ["data", "gap", "data"]
    assert all(f["datetime"].endswith("Z") for f in entry["frames"])


def test_manifest_entry_of_failed_record_keeps_every_key() -> None:
    entry = site.manifest_entry(failed_record())

    assert MANIFEST_KEYS <= entry.keys()
    assert entry["status"] == "failed"
    assert entry["error"] == "No STAC items found between 2024-01-01 and 2024-03-31."
    assert entry["style"] is None
    assert entry["frames"] == []
    assert entry["date_range"] is None
    assert entry["page"] == "animations/sst-bretagne/index.html"


def test_manifest_lists_a_custom_colormap_as_a_list() -> None:
    record = replace(ok_record(), style=Style(rescale=(-2, 2), colormap=("#0000ff", "#ff0000")))
    assert site.manifest_entry(record)["style"] == {
        "rescale": [-2.0, 2.0],
        "scale": "linear",
        "colormap": ["#0000ff", "#ff0000"],
        "units": None,
    }


def test_written_manifest_is_complete_relative_and_has_no_timestamp(built: Path) -> None:
    manifest = json.loads((built / "manifest.json").read_text(encoding="utf-8"))

    assert manifest["site"] == {"title": SITE.title, "description": SITE.description}
    assert manifest["generator"] == {"name": "eo-timelapse-generator", "version": VERSION}
    ids = [a["id"] for a in manifest["animations"]]
    assert ids == ["no2-france", "sst-bretagne", "evil-france"]
    for entry in manifest["animations"]:
        assert MANIFEST_KEYS <= entry.keys()
        for key in ("page", "gif", "poster", "thumbnail"):
            path = entry[key]
            if path is None:
                continue
            assert not path.startswith("/") and not urlsplit(path).scheme
            assert (built / path).is_file(), path
    raw = (built / "manifest.json").read_text(encoding="utf-8")
    assert raw.endswith("}\n")
    assert "mol/m²" in raw  # ensure_ascii=False


def test_every_output_file_is_byte_identical_across_builds(tmp_path: Path) -> None:
    records = [ok_record(), failed_record(), hostile_record()]
    first, second = tmp_path / "first", tmp_path / "second"
    build(first, records)
    build(second, records)

    first_files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    second_files = sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert first_files == second_files
    for relative in first_files:
        assert (first / relative).read_bytes() == (second / relative).read_bytes(), relative


def test_written_text_files_are_utf8_with_lf(built: Path) -> None:
    for path in [*html_pages(built), built / "manifest.json", built / "static" / "style.css"]:
        data = path.read_bytes()
        data.decode("utf-8")
        assert b"\r" not in data, path


# --------------------------------------------------------------------------- pages and links


def test_writes_index_every_page_and_static_assets(built: Path) -> None:
    assert (built / "index.html").is_file()
    for slug in ("no2-france", "sst-bretagne", "evil-france"):
        assert (built / "animations" / slug / "index.html").is_file()
    ours = REPO_ROOT / "templates" / "static" / "style.css"
    assert (built / "static" / "style.css").read_bytes() == ours.read_bytes()


def test_every_link_is_relative_and_resolves_to_a_written_file(built: Path) -> None:
    checked = 0
    for page in html_pages(built):
        document = parse(page)
        page_dir = page.parent.relative_to(built).as_posix()
        for target in link_targets(document):
            if target in (PROVIDER_URL, DESCRIPTION_URL):
                continue  # the external links we put in on purpose
            parts = urlsplit(target)
            assert not parts.scheme and not parts.netloc, f"{page}: {target}"
            assert not target.startswith("/"), f"{page}: {target}"
            if not parts.path:
                assert document.by_id(parts.fragment) is not None, f"{page}: {target}"
                continue
            resolved = posixpath.normpath(posixpath.join(page_dir, unquote(parts.path)))
            assert not resolved.startswith(".."), f"{page}: {target}"
            assert (built / resolved).is_file(), f"{page}: {target} -> {resolved}"
            checked += 1
    assert checked > 20


def test_external_links_are_only_the_http_provider_urls(built: Path) -> None:
    external = {
        target
        for page in html_pages(built)
        for target in link_targets(parse(page))
        if urlsplit(target).scheme
    }
    assert external == {PROVIDER_URL, DESCRIPTION_URL}


def test_index_card_shows_collection_region_dates_and_frames(built: Path) -> None:
    card = parse(built / "index.html").by_id("card-no2-france")
    assert card is not None

    links = card.find_all("a")
    assert [a.attrs["href"] for a in links] == ["animations/no2-france/index.html"]
    (thumbnail,) = card.find_all("img")
    assert thumbnail.attrs["src"] == "animations/no2-france/thumbnail.webp"
    assert thumbnail.attrs["loading"] == "lazy"
    # The dummy thumbnail is not a readable image, so the GIF size stands in.
    assert (thumbnail.attrs["width"], thumbnail.attrs["height"]) == ("320", "240")
    alt = thumbnail.attrs["alt"]
    assert "Nitrogen dioxide" in alt and "France" in alt and "Jan 2024 – Mar 2024" in alt
    text = card.all_text()
    assert "Nitrogen dioxide" in text
    assert "Jan 2024 – Mar 2024" in text
    assert "3 frames" in text


def test_card_thumbnail_size_comes_from_the_image_file(tmp_path: Path) -> None:
    record = ok_record()
    write_media(tmp_path, record)
    Image.new("RGB", (48, 36), "white").save(tmp_path / record.files.thumbnail, format="WEBP")

    site.write_site(tmp_path, SITE, [record], generator_version=VERSION)

    (thumbnail,) = parse(tmp_path / "index.html").by_id("card-no2-france").find_all("img")
    assert (thumbnail.attrs["width"], thumbnail.attrs["height"]) == ("48", "36")


def test_animation_page_has_gif_legend_frames_and_footer(built: Path) -> None:
    document = parse(built / "animations" / "no2-france" / "index.html")

    still = document.by_id("player-image")  # the player's image, from its first frame
    assert still.attrs["src"] == "frames/0001.png"
    gif = document.by_id("player-gif")  # for browsers without JavaScript (in <noscript>)
    assert gif.attrs["src"] == "no2-france.gif"
    for image in (still, gif):
        assert (image.attrs["width"], image.attrs["height"]) == ("320", "240")
        assert "France" in image.attrs["alt"] and "Jan 2024 – Mar 2024" in image.attrs["alt"]
    hrefs = [a.attrs.get("href") for a in document.find_all("a")]
    assert "no2-france.gif" in hrefs
    assert "../../index.html" in hrefs

    legend = document.by_id("legend")
    bar = next(n for n in legend.iter() if "legend__bar" in (n.attrs.get("class") or ""))
    assert bar.attrs["style"] == (
        "background-image: linear-gradient(to right, #440154, #21918c, #fde725);"
    )
    legend_text = legend.all_text()
    assert "0" in legend_text and "0.00015" in legend_text and "mol/m²" in legend_text
    assert "viridis" in legend_text

    rows = document.by_id("frames").find_all("tr")[1:]
    assert len(rows) == 3
    first_row = rows[0].all_text()
    assert "Jan 2024" in first_row and "S5P_2024_01_a" in first_row and "S5P_2024_01_b" in first_row
    assert "gap" in rows[1].all_text()
    times = [t.attrs["datetime"] for t in document.by_id("frames").find_all("time")]
    assert times == ["2024-01-01T00:00:00Z", "2024-02-01T00:00:00Z", "2024-03-01T00:30:00Z"]

    assert "Made with eo-timelapse-generator 9.8.7" in document.find_all("footer")[0].all_text()


def test_description_is_split_into_paragraphs() -> None:
    assert site.paragraphs("One\nline two\n\n  \nThree\r\n\r\nFour  ") == (
        "One\nline two",
        "Three",
        "Four",
    )
    assert site.paragraphs("  \n ") == ()


# --------------------------------------------------------------------------- escaping


def test_stac_text_is_escaped_never_markup(built: Path) -> None:
    for page in (built / "index.html", built / "animations" / "evil-france" / "index.html"):
        document = parse(page)
        # Our own deferred scripts only: nothing inline, nothing from the catalog.
        for script in document.find_all("script"):
            assert script.attrs.get("src") in {"static/gallery.js", "../../static/player.js"}, page
            assert "".join(script.text).strip() == "", page
        # The only images are ours: thumbnails on the index, GIFs on pages.
        for img in document.find_all("img"):
            assert img.attrs["src"] != "x" and "onerror" not in img.attrs, page
        assert XSS_SCRIPT in document.all_text(), page

    evil_page = parse(built / "animations" / "evil-france" / "index.html")
    assert f"item{XSS_IMG}" in evil_page.by_id("frames").all_text()
    # the player's first frame, its GIF without JavaScript and the same GIF behind "Show the
    # animated GIF": nothing else
    assert {img.attrs["src"] for img in evil_page.find_all("img")} == {"frames/0001.png", "evil-france.gif"}


def test_only_http_provider_urls_become_links(built: Path) -> None:
    evil_page = parse(built / "animations" / "evil-france" / "index.html")
    hrefs = [a.attrs.get("href") or "" for a in evil_page.find_all("a")]
    assert not any("javascript" in href.lower() for href in hrefs)
    assert f"Provider {XSS_SCRIPT}" in evil_page.by_id("about").all_text()

    ok_page = parse(built / "animations" / "no2-france" / "index.html")
    assert PROVIDER_URL in [a.attrs.get("href") for a in ok_page.find_all("a")]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.org/x", "https://example.org/x"),
        ("HTTP://example.org", "HTTP://example.org"),
        ("javascript:alert(1)", None),
        (" JavaScript:alert(1)", None),
        ("data:text/html,hi", None),
        ("//example.org", None),
        ("https://", None),
        (None, None),
        (42, None),
    ],
)
def test_http_url_accepts_only_absolute_http_urls(url: object, expected: str | None) -> None:
    assert site.http_url(url) == expected


def test_legend_gradient_ignores_anything_but_hex_colours() -> None:
    assert site.legend_gradient(("#000000", "red;}", "#ffffff")) == (
        "linear-gradient(to right, #000000, #ffffff)"
    )
    assert site.legend_gradient(("#abc",)) == "linear-gradient(to right, #abc, #abc)"
    assert site.legend_gradient(()) is None


# --------------------------------------------------------------------------- failed records


def test_failed_record_gets_a_card_with_error_and_no_image(built: Path) -> None:
    card = parse(built / "index.html").by_id("card-sst-bretagne")
    assert card is not None

    assert card.find_all("img") == []
    text = card.all_text()
    assert "Failed" in text
    assert "No STAC items found between 2024-01-01 and 2024-03-31." in text
    assert [a.attrs["href"] for a in card.find_all("a")] == ["animations/sst-bretagne/index.html"]


def test_failed_record_page_shows_error_without_media(built: Path) -> None:
    document = parse(built / "animations" / "sst-bretagne" / "index.html")

    assert document.find_all("img") == []
    assert document.find_all("source") == []
    assert "No STAC items found" in document.by_id("animation").all_text()


# --------------------------------------------------------------------------- synthetic data


def test_synthetic_collections_are_badged(built: Path) -> None:
    index = parse(built / "index.html")
    assert "Synthetic demo data" in index.by_id("card-evil-france").all_text()
    assert "Synthetic demo data" not in index.by_id("card-no2-france").all_text()
    page = parse(built / "animations" / "evil-france" / "index.html")
    assert "Synthetic demo data" in page.by_id("animation").all_text()


def test_no_synthetic_notice_without_synthetic_collections(tmp_path: Path) -> None:
    build(tmp_path, [ok_record()])
    assert "Synthetic demo data" not in parse(tmp_path / "index.html").all_text()


# --------------------------------------------------------------------------- helpers and setup


@pytest.mark.parametrize(
    ("target", "from_page", "expected"),
    [
        ("animations/a/index.html", "index.html", "animations/a/index.html"),
        ("index.html", "animations/a/index.html", "../../index.html"),
        ("static/style.css", "animations/a/index.html", "../../static/style.css"),
        ("animations/a/a.gif", "animations/a/index.html", "a.gif"),
        ("animations/a b/é.gif", "index.html", "animations/a%20b/%C3%A9.gif"),
    ],
)
def test_relative_href(target: str, from_page: str, expected: str) -> None:
    assert site.relative_href(target, from_page) == expected


def test_iso_utc_converts_to_utc_with_z() -> None:
    paris = timezone(timedelta(hours=1))
    assert site.iso_utc(datetime(2024, 1, 1, 0, 15, tzinfo=paris)) == "2023-12-31T23:15:00Z"
    assert site.iso_utc(datetime(2024, 6, 1, 12, 0)) == "2024-06-01T12:00:00Z"


def test_templates_dir_finds_the_repository_templates() -> None:
    found = site.templates_dir()
    assert found == REPO_ROOT / "templates"
    assert (found / "static" / "style.css").is_file()


def test_environment_autoescapes_and_prefers_the_user_folder(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("custom {{ value }}", encoding="utf-8")
    env = site.make_environment(tmp_path)

    assert env.get_template("index.html").render(value="<b>") == "custom &lt;b&gt;"
    assert env.get_template("base.html").filename == str(REPO_ROOT / "templates" / "base.html")


def test_missing_template_variable_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("{{ nowhere }}", encoding="utf-8")
    env = site.make_environment(tmp_path)
    with pytest.raises(GeneratorError, match="index.html"):
        site.render_index(env, SITE, [], generator_version=VERSION)


@pytest.mark.parametrize(
    "bad_files",
    [
        AnimationFiles(page="/abs/index.html", outputs={"gif": "a.gif"}, poster="p.png", thumbnail="t.png"),
        AnimationFiles(page="a/index.html", outputs={"gif": "../a.gif"}, poster="p.png", thumbnail="t.png"),
        AnimationFiles(page="a/index.html", outputs={"gif": "https://x/a.gif"}, poster="p.png", thumbnail="t"),
        AnimationFiles(page="index.html", outputs={"gif": "a.gif"}, poster="p.png", thumbnail="t.png"),
    ],
)
def test_unsafe_or_clashing_paths_are_refused(tmp_path: Path, bad_files: AnimationFiles) -> None:
    record = replace(failed_record(), files=bad_files)
    with pytest.raises(GeneratorError, match="sst-bretagne"):
        site.write_site(tmp_path, SITE, [record], generator_version=VERSION)
    assert not (tmp_path / "index.html").exists()


def test_duplicate_ids_are_refused(tmp_path: Path) -> None:
    with pytest.raises(GeneratorError, match="no2-france"):
        site.write_site(tmp_path, SITE, [ok_record(), ok_record()], generator_version=VERSION)


# --------------------------------------------------------------------------- CommonMark descriptions


def test_description_is_commonmark_with_safe_links_only() -> None:
    from generator.site.markup import render_markdown

    html = str(
        render_markdown(
            "**Bold** and [docs](https://example.org/a?b=1&c=2)\n\n"
            "- [mail](mailto:data@example.org)\n- [js](javascript:alert(1))\n- [rel](../x.html)\n\n"
            '<img src=x onerror=alert(1)> <script>alert(1)</script> ![pic](https://example.org/p.png)'
        )
    )
    assert "<strong>Bold</strong>" in html
    assert '<a href="https://example.org/a?b=1&amp;c=2" rel="noopener noreferrer nofollow">docs</a>' in html
    assert '<a href="mailto:data@example.org" rel="noopener noreferrer nofollow">mail</a>' in html
    assert "[js](javascript:alert(1))" in html and "[rel](../x.html)" in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&lt;script&gt;" in html and "<script" not in html
    assert "<img" not in html  # images are off: no request to a host the catalog picks


def test_hostile_description_renders_inert_on_the_page(built: Path) -> None:
    description = parse(built / "animations" / "evil-france" / "index.html").by_id("description")
    text = description.all_text()
    assert XSS_RAW_IMG in text and "[x](javascript:alert(1))" in text
    assert [a.attrs["href"] for a in description.find_all("a")] == [DESCRIPTION_URL]
    assert description.find_all("img") == [] and description.find_all("script") == []


# --------------------------------------------------------------------------- locator globe


def test_orthographic_projection_known_points() -> None:
    from generator.site.locator import project

    assert project(10.0, 45.0, (10.0, 45.0)) == pytest.approx((0.0, 0.0, True), abs=1e-12)
    x, y, visible = project(100.0, 0.0, (10.0, 0.0))  # 90° east of the centre: on the rim
    assert (x, y) == pytest.approx((1.0, 0.0)) and visible
    assert project(-170.0, 0.0, (10.0, 0.0))[2] is False  # the antipode is hidden
    x, y, _ = project(0.0, 90.0, (0.0, 0.0))  # the north pole seen from the equator
    assert (x, y) == pytest.approx((0.0, 1.0))


def test_centre_handles_the_antimeridian() -> None:
    from generator.site.locator import centre_of

    # 170°E … 170°W is 20° wide around the antimeridian, not 340° around Greenwich.
    assert centre_of([((170.0, -10.0), (-170.0, -10.0), (-170.0, 10.0), (170.0, 10.0))]) == (-180.0, 0.0)
    assert centre_of([((0.0, 40.0), (10.0, 50.0))]) == (5.0, 45.0)


def test_locator_svg_draws_globe_graticule_and_region(built: Path) -> None:
    document = parse(built / "animations" / "no2-france" / "index.html")
    locator = document.by_id("locator")
    (svg,) = locator.find_all("svg")
    assert svg.attrs["role"] == "img"
    classes = [node.attrs.get("class") for node in svg.iter()]
    assert {"locator__sphere", "locator__land", "locator__graticule", "locator__region", "locator__rim"} <= set(classes)
    assert "Where France is on the globe" in svg.all_text()
    region = next(node for node in svg.iter() if node.attrs.get("class") == "locator__region")
    # France is centred: its outline lies around the middle of the 160-unit drawing.
    numbers = [float(n) for n in re.findall(r"-?\d+\.\d", region.attrs["d"])]
    assert all(60 < n < 100 for n in numbers), numbers
    # Drawn, not fetched: nothing in the SVG points anywhere.
    assert [n for n in svg.iter() if "href" in n.attrs or "xlink:href" in n.attrs or "src" in n.attrs] == []


def test_tiny_region_gets_a_marker_and_missing_outline_no_locator(tmp_path: Path) -> None:
    from generator.site.locator import locator_svg

    tiny = ((2.30, 48.85), (2.31, 48.85), (2.31, 48.86), (2.30, 48.85))
    assert 'class="locator__marker"' in locator_svg([tiny], "Paris")
    assert 'class="locator__marker"' in locator_svg([FRANCE_RING], "France")
    africa = ((-18.0, -35.0), (52.0, -35.0), (52.0, 37.0), (-18.0, 37.0), (-18.0, -35.0))
    assert 'class="locator__marker"' not in locator_svg([africa], "Africa")
    record = replace(ok_record(), region_outline=())
    build(tmp_path, [record])
    assert parse(tmp_path / "animations" / "no2-france" / "index.html").by_id("locator") is None


def test_outline_rings_simplifies_to_the_point_budget() -> None:
    import math

    from shapely.geometry import MultiPolygon, Polygon

    from generator.site.locator import outline_rings

    circle = Polygon([(math.cos(a / 500 * 2 * math.pi) * 5, math.sin(a / 500 * 2 * math.pi) * 5) for a in range(500)])
    island = Polygon([(20, 20), (21, 20), (21, 21), (20, 20)])
    rings = outline_rings(MultiPolygon([circle, island]), max_points=120)
    assert len(rings) == 2
    assert sum(len(ring) for ring in rings) <= 120
    assert rings[1] == ((20.0, 20.0), (21.0, 20.0), (21.0, 21.0), (20.0, 20.0))


def test_outline_rings_keeps_the_first_simplification_within_the_budget() -> None:
    """The point count is taken from the geometry, not from the rounded rings: the same rings as
    rounding every tolerance's rings and counting them."""
    import math

    from shapely.geometry import GeometryCollection, LineString, Polygon

    from generator.site.locator import _exterior_rings, outline_rings

    def by_the_rings(geometry: GeometryCollection, max_points: int) -> tuple:
        tolerance = 0.0
        while True:
            simplified = geometry.simplify(tolerance, preserve_topology=True) if tolerance else geometry
            rings = tuple(_exterior_rings(simplified))
            if sum(len(ring) for ring in rings) <= max_points or tolerance > 5:
                return rings
            tolerance = tolerance * 2 if tolerance else 0.01

    wavy = Polygon(
        [(math.cos(a / 400 * 2 * math.pi) * (5 + math.sin(a / 7)), math.sin(a / 400 * 2 * math.pi) * 5) for a in range(400)],
        holes=[[(0, 0), (1, 0), (1, 1), (0, 0)]],
    )
    mixed = GeometryCollection([wavy, LineString([(30, 30), (31, 31)]), Polygon([(20, 20), (21, 20), (21, 21)])])
    for budget in (10, 60, 150, 300, 1000):
        assert outline_rings(mixed, max_points=budget) == by_the_rings(mixed, budget)


# --------------------------------------------------------------------------- player, provenance, listings


def test_player_gets_every_frame_png_with_its_label(built: Path) -> None:
    player = parse(built / "animations" / "no2-france" / "index.html").by_id("player")
    frames = json.loads(player.attrs["data-frames"])
    assert frames == [
        {"src": "frames/0001.png", "label": "Jan 2024"},
        {"src": "frames/0002.png", "label": "Feb 2024"},
        {"src": "frames/0003.png", "label": "Mar 2024"},
    ]
    assert player.attrs["data-frame-ms"] == "250"
    controls = player.by_id("player-controls")
    assert "hidden" in controls.attrs  # shown by the script only
    scrubber = player.by_id("player-scrubber")
    assert (scrubber.attrs["min"], scrubber.attrs["max"]) == ("0", "2")
    for control in ("player-prev", "player-play", "player-next", "player-speed"):
        assert player.by_id(control) is not None, control


def test_page_without_frame_pngs_has_no_player_controls(tmp_path: Path) -> None:
    record = replace(ok_record(), files=files_for("no2-france"))
    build(tmp_path, [record])
    document = parse(tmp_path / "animations" / "no2-france" / "index.html")
    assert document.by_id("player-controls") is None
    assert document.find_all("script") == []


def remote_record() -> AnimationRecord:
    when = utc(2024, 1)
    item = ItemAsset(
        item_id="S2_T31_2024",
        datetime=when,
        href="https://user:pw@data.example.org:8443/cogs/S2.tif?X-Amz-Signature=abc#frag",
        item_href="https://stac.example.org/collections/s2/items/S2_T31_2024?token=secret",
    )
    return replace(
        ok_record("s2-france"),
        frames=(FramePlan(datetime=when, items=(item,)),),
        frame_labels=("2024-01",),
        files=files_for("s2-france", 1),
        crs="EPSG:3035",
    )


def test_provenance_json_lists_items_hrefs_render_and_version(tmp_path: Path) -> None:
    build(tmp_path, [remote_record(), ok_record()])
    raw = (tmp_path / "animations" / "s2-france" / "provenance.json").read_text(encoding="utf-8")
    document = json.loads(raw)

    assert document["generator"] == {"name": "eo-timelapse-generator", "version": VERSION}
    assert document["crs"] == "EPSG:3035"
    assert document["render"] == {"frame_ms": 250, "size": 320}
    assert document["style"]["colormap"] == "viridis" and document["style"]["rescale"] == [0.0, 0.00015]
    (frame_entry,) = document["frames"]
    assert frame_entry["datetime"] == "2024-01-01T00:00:00Z" and frame_entry["label"] == "2024-01"
    assert frame_entry["items"] == [
        {
            "id": "S2_T31_2024",
            "datetime": "2024-01-01T00:00:00Z",
            "asset_href": "https://data.example.org:8443/cogs/S2.tif",
            "item_href": "https://stac.example.org/collections/s2/items/S2_T31_2024",
        }
    ]
    assert "secret" not in raw and "Signature" not in raw and "pw@" not in raw
    assert raw == json.dumps(document, sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    local = json.loads((tmp_path / "animations" / "no2-france" / "provenance.json").read_text())
    assert [len(f["items"]) for f in local["frames"]] == [2, 0, 1]
    assert local["frames"][1]["kind"] == "gap"
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert [a["provenance"] for a in manifest["animations"]] == [
        "animations/s2-france/provenance.json",
        "animations/no2-france/provenance.json",
    ]


def test_remote_items_link_to_their_stac_item(tmp_path: Path) -> None:
    build(tmp_path, [remote_record()])
    frames = parse(tmp_path / "animations" / "s2-france" / "index.html").by_id("frames")
    hrefs = [a.attrs["href"] for a in frames.find_all("a")]
    # Linked without its query string: a token in a STAC URL must not be published.
    assert "https://stac.example.org/collections/s2/items/S2_T31_2024" in hrefs
    assert not any("secret" in h for h in hrefs)
    assert "provenance.json" in hrefs


def test_downloads_list_every_format_built(tmp_path: Path) -> None:
    record = ok_record()
    outputs = {
        **record.files.outputs,
        "webp": "animations/no2-france/no2-france.webp",
        "mp4": "animations/no2-france/no2-france.mp4",
    }
    record = replace(record, files=replace(record.files, outputs=outputs))
    for relative in (outputs["webp"], outputs["mp4"]):
        (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / relative).write_bytes(b"media")
    build(tmp_path, [record])
    document = parse(tmp_path / "animations" / "no2-france" / "index.html")
    downloads = next(n for n in document.iter() if n.attrs.get("class") == "downloads")
    assert [a.attrs["href"] for a in downloads.find_all("a")] == [
        "no2-france.gif", "no2-france.webp", "no2-france.mp4", "poster.png", "provenance.json"
    ]


def test_doi_and_citation_are_shown_and_only_a_real_doi_links(tmp_path: Path) -> None:
    collection = CollectionInfo(id="no2", title="NO2", doi="10.5067/ABC/DEF", citation="Someone (2024). NO2.")
    bad = CollectionInfo(id="bad", title="Bad", doi="javascript:alert(1)")
    build(tmp_path, [ok_record("a", collection), ok_record("b", bad)])
    about = parse(tmp_path / "animations" / "a" / "index.html").by_id("about")
    assert "https://doi.org/10.5067/ABC/DEF" in [a.attrs["href"] for a in about.find_all("a")]
    assert "Someone (2024). NO2." in about.all_text()
    bad_about = parse(tmp_path / "animations" / "b" / "index.html").by_id("about")
    assert "javascript:alert(1)" in bad_about.all_text()
    assert not any("javascript" in (a.attrs.get("href") or "") for a in bad_about.find_all("a"))


def test_collection_and_region_pages_list_their_animations(tmp_path: Path) -> None:
    alps = replace(ok_record("no2-alps"), region_id="alps", region_title="The Alps")
    build(tmp_path, [ok_record(), alps, failed_record()])

    collection = parse(tmp_path / "collections" / "no2" / "index.html")
    assert [li.attrs["id"] for li in collection.by_id("gallery").find_all("li") if li.attrs.get("id")] == [
        "card-no2-france", "card-no2-alps"
    ]
    assert "Nitrogen dioxide" in collection.find_all("h1")[0].all_text()
    card_link = collection.by_id("card-no2-alps").find_all("a")[0].attrs["href"]
    assert card_link == "../../animations/no2-alps/index.html"

    region = parse(tmp_path / "regions" / "france" / "index.html")
    assert [li.attrs["id"] for li in region.by_id("gallery").find_all("li") if li.attrs.get("id")] == ["card-no2-france"]
    assert region.find_all("svg"), "a region page shows its locator"
    assert (tmp_path / "regions" / "bretagne" / "index.html").is_file()
    assert (tmp_path / "collections" / "sst" / "index.html").is_file()

    index = parse(tmp_path / "index.html")
    hrefs = [a.attrs["href"] for a in index.find_all("a")]
    assert {"collections/no2/index.html", "collections/sst/index.html", "regions/alps/index.html"} <= set(hrefs)


@pytest.mark.parametrize(
    ("identifier", "expected"),
    [("no2-monthly", "no2-monthly"), ("A.b_c", "A.b_c")],
)
def test_id_folder_keeps_safe_ids(identifier: str, expected: str) -> None:
    from generator.core.slugs import id_folder

    assert id_folder(identifier) == expected


def test_id_folder_makes_unsafe_ids_safe_and_distinct() -> None:
    from generator.core.slugs import id_folder

    slugs = {id_folder(i) for i in ("a/b", "a b", "a?b", "..", "", "é")}
    assert len(slugs) == 6
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+", s) and not s.startswith(".") for s in slugs)


def test_a_card_plays_the_lossless_webp_when_the_animation_has_one(tmp_path: Path) -> None:
    """The same pixels as the GIF in about two thirds of its bytes: a card's hover plays it."""
    from dataclasses import replace

    record = ok_record()
    files = replace(record.files, outputs={**record.files.outputs, "webp": "animations/no2-france/no2-france.webp"})
    record = replace(record, files=files)
    write_media(tmp_path, record)
    (tmp_path / files.outputs["webp"]).write_bytes(b"media")
    site.write_site(tmp_path, SITE, [record], generator_version=VERSION)
    (thumbnail,) = parse(tmp_path / "index.html").by_id("card-no2-france").find_all("img")
    assert thumbnail.attrs["data-animated-src"] == "animations/no2-france/no2-france.webp"


def test_index_has_filters_for_every_collection_and_region(built: Path) -> None:
    document = parse(built / "index.html")
    form = document.by_id("filters")
    assert "hidden" in form.attrs  # the script reveals it; without JS the cards are all listed
    options = {
        select.attrs["id"]: [o.attrs["value"] for o in select.find_all("option")]
        for select in form.find_all("select")
    }
    assert options == {
        "filter-collection": ["", "no2", "sst", "evil"],
        "filter-region": ["", "france", "bretagne"],
    }
    card = document.by_id("card-no2-france")
    assert card.attrs["data-search"] == "nitrogen dioxide no2 france france jan 2024 – mar 2024"
    (thumbnail,) = card.find_all("img")
    assert thumbnail.attrs["data-animated-src"] == "animations/no2-france/no2-france.gif"


# --------------------------------------------------------------------------- social tags and overrides


def meta_tags(document: Node) -> dict[str, str]:
    return {
        (m.attrs.get("property") or m.attrs.get("name")): m.attrs.get("content")
        for m in document.find_all("meta")
        if m.attrs.get("property") or m.attrs.get("name")
    }


def test_open_graph_tags_only_with_a_base_url(tmp_path: Path) -> None:
    build(tmp_path / "plain", [ok_record()])
    assert "og:image" not in meta_tags(parse(tmp_path / "plain" / "index.html"))

    published = replace(SITE, base_url="https://user.github.io/repo/")
    record = ok_record()
    write_media(tmp_path / "og", record)
    site.write_site(tmp_path / "og", published, [record], generator_version=VERSION)
    page = meta_tags(parse(tmp_path / "og" / "animations" / "no2-france" / "index.html"))
    assert page["og:image"] == "https://user.github.io/repo/animations/no2-france/poster.png"
    assert page["og:url"] == "https://user.github.io/repo/animations/no2-france/index.html"
    assert page["og:title"] == "Nitrogen dioxide — France"
    assert page["twitter:card"] == "summary_large_image"
    assert "France" in page["og:image:alt"] and "Jan 2024" in page["og:image:alt"]
    index = meta_tags(parse(tmp_path / "og" / "index.html"))
    assert index["og:image"] == page["og:image"] and index["og:url"] == "https://user.github.io/repo/index.html"


def test_user_templates_and_css_override_ours(tmp_path: Path) -> None:
    overrides = tmp_path / "my-templates"
    (overrides / "static").mkdir(parents=True)
    (overrides / "static" / "style.css").write_text("body { color: red; }\n", encoding="utf-8")
    (overrides / "partials").mkdir()
    (overrides / "partials" / "badges.html").write_text('<p class="my-badge">mine</p>\n', encoding="utf-8")
    record = ok_record()
    output = tmp_path / "out"
    write_media(output, record)
    site.write_site(output, replace(SITE, templates=overrides), [record], generator_version=VERSION)

    assert (output / "static" / "style.css").read_text(encoding="utf-8") == "body { color: red; }\n"
    assert (output / "static" / "player.js").is_file()  # ours where nothing overrides it
    assert "mine" in parse(output / "index.html").by_id("card-no2-france").all_text()


def test_missing_template_folder_is_an_actionable_error(tmp_path: Path) -> None:
    with pytest.raises(GeneratorError, match="site.templates"):
        site.write_site(tmp_path, replace(SITE, templates=tmp_path / "nope"), [ok_record()], generator_version=VERSION)


def test_a_template_is_compiled_once_per_process_until_its_text_changes(tmp_path, monkeypatch):
    import jinja2

    compiled: list[str | None] = []
    real_compile = jinja2.Environment.compile

    def counted(self, source, name=None, filename=None, raw=False, defer_init=False):  # type: ignore[no-untyped-def]
        compiled.append(name)
        return real_compile(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(jinja2.Environment, "compile", counted)
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "mine.html").write_text("one {{ value }}")
    first = site.make_environment(folder).get_template("mine.html").render(value=1)
    again = site.make_environment(folder).get_template("mine.html").render(value=2)  # a later build's environment
    assert (first, again) == ("one 1", "one 2") and compiled == ["mine.html"]
    (folder / "mine.html").write_text("two {{ value }}")
    assert site.make_environment(folder).get_template("mine.html").render(value=3) == "two 3"
    assert compiled == ["mine.html", "mine.html"]
