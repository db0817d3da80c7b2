"""Tests of the site stage: manifest, relative links, escaping of STAC text, failed records."""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from PIL import Image

from generator import site
from generator.errors import GeneratorError
from generator.model import (
    AnimationFiles,
    AnimationRecord,
    CollectionInfo,
    FramePlan,
    ItemAsset,
    SiteInfo,
    Style,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
XSS_SCRIPT = "<script>alert(1)</script>"
XSS_IMG = '"><img src=x onerror=alert(1)>'
PROVIDER_URL = "https://provider.example.org/about"
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
    return datetime(year, month, day, tzinfo=timezone.utc)


def files_for(slug: str) -> AnimationFiles:
    return AnimationFiles(
        page=f"animations/{slug}/index.html",
        gif=f"animations/{slug}/{slug}.gif",
        poster=f"animations/{slug}/poster.png",
        thumbnail=f"animations/{slug}/thumbnail.png",
    )


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
        files=files_for(slug),
        collection=collection,
        style=Style(rescale=(0.0, 0.00015), colormap="viridis", units="mol/m²"),
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
        description=f"Intro {XSS_SCRIPT}\n\nMore {XSS_SCRIPT}",
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
    for relative in (record.files.gif, record.files.poster, record.files.thumbnail):
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
    assert entry["style"] == {"rescale": [0.0, 0.00015], "colormap": "viridis", "units": "mol/m²"}
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
            if target == PROVIDER_URL:
                continue  # the one external link we put in on purpose
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
    assert external == {PROVIDER_URL}


def test_index_card_shows_collection_region_dates_and_frames(built: Path) -> None:
    card = parse(built / "index.html").by_id("card-no2-france")
    assert card is not None

    links = card.find_all("a")
    assert [a.attrs["href"] for a in links] == ["animations/no2-france/index.html"]
    (thumbnail,) = card.find_all("img")
    assert thumbnail.attrs["src"] == "animations/no2-france/thumbnail.png"
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
    Image.new("RGB", (48, 36), "white").save(tmp_path / record.files.thumbnail, format="PNG")

    site.write_site(tmp_path, SITE, [record], generator_version=VERSION)

    (thumbnail,) = parse(tmp_path / "index.html").by_id("card-no2-france").find_all("img")
    assert (thumbnail.attrs["width"], thumbnail.attrs["height"]) == ("48", "36")


def test_animation_page_has_gif_legend_frames_and_footer(built: Path) -> None:
    document = parse(built / "animations" / "no2-france" / "index.html")

    (gif,) = [img for img in document.find_all("img") if img.attrs["src"] == "no2-france.gif"]
    assert (gif.attrs["width"], gif.attrs["height"]) == ("320", "240")
    assert "France" in gif.attrs["alt"] and "Jan 2024 – Mar 2024" in gif.attrs["alt"]
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
        assert document.find_all("script") == [], page
        # The only images are ours: thumbnails on the index, GIFs on pages.
        for img in document.find_all("img"):
            assert img.attrs["src"] != "x" and "onerror" not in img.attrs, page
        assert XSS_SCRIPT in document.all_text(), page

    evil_page = parse(built / "animations" / "evil-france" / "index.html")
    assert f"item{XSS_IMG}" in evil_page.by_id("frames").all_text()
    assert len(evil_page.find_all("img")) == 1


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
        AnimationFiles(page="/abs/index.html", gif="a.gif", poster="p.png", thumbnail="t.png"),
        AnimationFiles(page="a/index.html", gif="../a.gif", poster="p.png", thumbnail="t.png"),
        AnimationFiles(page="a/index.html", gif="https://x/a.gif", poster="p.png", thumbnail="t"),
        AnimationFiles(page="index.html", gif="a.gif", poster="p.png", thumbnail="t.png"),
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
