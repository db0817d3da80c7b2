"""Site stage: turn animation records into a static gallery with relative links only.

Owns the HTML pages (``index.html`` and one page per animation), ``manifest.json`` and the copy
of the static assets. It never reads or renders rasters: the build stage has already written each
animation's media files at the paths named in its record. Every link is computed relative to the
page that holds it, so the gallery works from any sub-path (GitHub Pages project sites) and from
``file://``. Text that comes from STAC (titles, descriptions, provider names, item ids) is
untrusted: the templates are autoescaped and only http(s) URLs ever become links.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import quote, urlsplit

import jinja2
from PIL import Image

from .errors import GeneratorError
from .model import AnimationRecord, FramePlan, SiteInfo, Style

GENERATOR_NAME = "eo-timelapse-generator"

INDEX_PAGE = "index.html"
MANIFEST_FILE = "manifest.json"
STATIC_DIR = "static"
STYLESHEET = f"{STATIC_DIR}/style.css"
FAVICON = f"{STATIC_DIR}/favicon.svg"

_HEX_COLOUR = re.compile(r"#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6}|[0-9a-fA-F]{8})")
_BLANK_LINES = re.compile(r"\n[ \t]*\n\s*")


# --------------------------------------------------------------------------- templates


def templates_dir() -> Path:
    """The folder holding our page templates and ``static/`` assets.

    A wheel ships them as ``generator/templates/``; a source checkout (or editable install)
    has them at the repository's top-level ``templates/``.
    """
    package_dir = Path(__file__).resolve().parent
    candidates = (package_dir / "templates", package_dir.parent / "templates")
    for candidate in candidates:
        if (candidate / "base.html").is_file():
            return candidate
    looked_in = " and ".join(str(c) for c in candidates)
    raise GeneratorError(
        f"The page templates of {GENERATOR_NAME} were not found (looked in {looked_in}). "
        "Reinstall the package, or run from a source checkout that has its templates/ folder."
    )


def make_environment(extra_dir: Path | None = None) -> jinja2.Environment:
    """A Jinja environment over our templates, with ``extra_dir`` (if given) searched first.

    Autoescaping is always on because most of the text we show comes from STAC catalogs.
    """
    loaders: list[jinja2.BaseLoader] = []
    if extra_dir is not None:
        if not extra_dir.is_dir():
            raise GeneratorError(
                f"Template folder {extra_dir} does not exist; create it or remove the setting."
            )
        loaders.append(jinja2.FileSystemLoader(str(extra_dir)))
    loaders.append(jinja2.FileSystemLoader(str(templates_dir())))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


# --------------------------------------------------------------------------- small pure helpers


def iso_utc(moment: datetime) -> str:
    """ISO 8601 in UTC with a ``Z`` suffix; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def relative_href(target: str, from_page: str) -> str:
    """URL of ``target`` as seen from ``from_page`` (both relative to the output folder)."""
    from_dir = posixpath.dirname(from_page) or "."
    return quote(posixpath.relpath(target, from_dir))


def http_url(url: object) -> str | None:
    """``url`` if it is an absolute http(s) URL, else None (never link ``javascript:`` etc.)."""
    if not isinstance(url, str):
        return None
    candidate = url.strip()
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        return candidate
    return None


def paragraphs(text: str) -> tuple[str, ...]:
    """Plain text split into paragraphs on blank lines (a later stage may render CommonMark)."""
    normalized = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if not normalized:
        return ()
    return tuple(p.strip() for p in _BLANK_LINES.split(normalized) if p.strip())


def format_number(value: float) -> str:
    """Short human label for a legend tick: ``0``, ``273.15``, ``0.0001``, ``1.5e+06``."""
    number = float(value)
    if number.is_integer() and abs(number) < 1e9:
        return str(int(number))
    return f"{number:.6g}"


def legend_gradient(colours: Sequence[str]) -> str | None:
    """A CSS ``linear-gradient`` through ``colours`` (low to high), or None if there are none.

    Only hex colours are kept: this string goes into a ``style`` attribute.
    """
    valid = [c for c in colours if isinstance(c, str) and _HEX_COLOUR.fullmatch(c)]
    if not valid:
        return None
    if len(valid) == 1:
        valid = valid * 2
    return f"linear-gradient(to right, {', '.join(valid)})"


def colormap_label(colormap: str | Sequence[str]) -> str:
    if isinstance(colormap, str):
        return colormap
    return f"custom ({len(colormap)} colours)"


# --------------------------------------------------------------------------- manifest


def _style_entry(style: Style | None) -> dict[str, Any] | None:
    if style is None:
        return None
    colormap = style.colormap if isinstance(style.colormap, str) else list(style.colormap)
    low, high = style.rescale
    return {"rescale": [float(low), float(high)], "colormap": colormap, "units": style.units}


def _frame_entry(frame: FramePlan, label: str | None) -> dict[str, Any]:
    return {
        "datetime": iso_utc(frame.datetime),
        "items": [item.item_id for item in frame.items],
        "kind": frame.kind,
        "label": label,
    }


def _label_at(labels: Sequence[str], index: int) -> str | None:
    return labels[index] if index < len(labels) else None


def manifest_entry(record: AnimationRecord) -> dict[str, Any]:
    """The machine-readable description of one animation (paths relative to the output folder).

    Media paths are null for a failed animation: those files were never written.
    """
    ok = record.status == "ok"
    frames = [
        _frame_entry(frame, _label_at(record.frame_labels, index))
        for index, frame in enumerate(record.frames)
    ]
    date_range = [frames[0]["datetime"], frames[-1]["datetime"]] if frames else None
    collection = record.collection
    return {
        "id": record.id,
        "slug": record.slug,
        "title": record.title,
        "status": record.status,
        "error": None if ok else (record.error or "unknown error"),
        "collection": record.collection_id,
        "collection_title": collection.title if collection else None,
        "synthetic": bool(collection and collection.synthetic),
        "region": record.region_id,
        "region_title": record.region_title,
        "page": record.files.page,
        "gif": record.files.gif if ok else None,
        "poster": record.files.poster if ok else None,
        "thumbnail": record.files.thumbnail if ok else None,
        "webp": record.files.webp if ok else None,
        "mp4": record.files.mp4 if ok else None,
        "notes": list(record.notes),
        "width": int(record.width),
        "height": int(record.height),
        "style": _style_entry(record.style),
        "date_range": date_range,
        "frame_count": len(frames),
        "frames": frames,
    }


def build_manifest(
    site: SiteInfo, records: Iterable[AnimationRecord], generator_version: str
) -> dict[str, Any]:
    """The whole ``manifest.json`` document; no timestamps so builds stay reproducible."""
    return {
        "site": {"title": site.title, "description": site.description},
        "generator": {"name": GENERATOR_NAME, "version": generator_version},
        "animations": [manifest_entry(record) for record in records],
    }


def manifest_json(manifest: Mapping[str, Any]) -> str:
    return json.dumps(manifest, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


# --------------------------------------------------------------------------- page views


@dataclass(frozen=True)
class ProviderView:
    name: str
    roles: tuple[str, ...]
    url: str | None  # only ever an http(s) URL


@dataclass(frozen=True)
class LegendView:
    gradient: str | None  # CSS linear-gradient built from validated hex colours
    low: str
    high: str
    units: str | None
    colormap: str


@dataclass(frozen=True)
class FrameRow:
    number: int
    label: str
    datetime: str  # ISO 8601 UTC, for <time datetime=...>
    item_ids: tuple[str, ...]
    kind: str


@dataclass(frozen=True)
class AnimationView:
    """What a template shows about one animation; hrefs are relative to the rendered page."""

    id: str
    slug: str
    status: str
    ok: bool
    error: str | None
    title: str
    collection_id: str
    collection_title: str
    region_id: str
    region_title: str
    synthetic: bool
    date_range: str | None
    frame_count: int
    width: int
    height: int
    page_href: str
    gif_href: str
    poster_href: str
    thumbnail_href: str
    thumbnail_size: tuple[int, int] | None
    image_alt: str
    legend: LegendView | None
    description: tuple[str, ...]
    license: str | None
    providers: tuple[ProviderView, ...]
    frames: tuple[FrameRow, ...]
    webp_href: str | None = None
    mp4_href: str | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PageLinks:
    """Links every page carries (header, stylesheet, footer), relative to that page."""

    home: str
    stylesheet: str
    favicon: str
    manifest: str

    @classmethod
    def for_page(cls, page: str) -> PageLinks:
        return cls(
            home=relative_href(INDEX_PAGE, page),
            stylesheet=relative_href(STYLESHEET, page),
            favicon=relative_href(FAVICON, page),
            manifest=relative_href(MANIFEST_FILE, page),
        )


def _provider_view(provider: Mapping[str, Any]) -> ProviderView:
    roles = provider.get("roles") or ()
    if isinstance(roles, str):
        roles = (roles,)
    return ProviderView(
        name=str(provider.get("name") or "Unnamed provider"),
        roles=tuple(str(role) for role in roles),
        url=http_url(provider.get("url")),
    )


def _legend_view(record: AnimationRecord) -> LegendView | None:
    if record.style is None:
        return None
    low, high = record.style.rescale
    return LegendView(
        gradient=legend_gradient(record.legend_colors),
        low=format_number(low),
        high=format_number(high),
        units=record.style.units,
        colormap=colormap_label(record.style.colormap),
    )


def _frame_rows(record: AnimationRecord) -> tuple[FrameRow, ...]:
    rows = []
    for index, frame in enumerate(record.frames):
        moment = iso_utc(frame.datetime)
        rows.append(
            FrameRow(
                number=index + 1,
                label=_label_at(record.frame_labels, index) or moment[:10],
                datetime=moment,
                item_ids=tuple(item.item_id for item in frame.items),
                kind=frame.kind,
            )
        )
    return tuple(rows)


def _date_range_label(rows: Sequence[FrameRow]) -> str | None:
    if not rows:
        return None
    first, last = rows[0].label, rows[-1].label
    return first if first == last else f"{first} – {last}"


def _image_alt(collection_title: str, region_title: str, date_range: str | None) -> str:
    when = f", {date_range}" if date_range else ""
    return f"Animated map of {collection_title} over {region_title}{when}"


def animation_view(
    record: AnimationRecord,
    *,
    from_page: str,
    thumbnail_size: tuple[int, int] | None = None,
) -> AnimationView:
    """The template-facing view of ``record`` for a page located at ``from_page``."""
    collection = record.collection
    collection_title = collection.title if collection else record.collection_id
    rows = _frame_rows(record)
    date_range = _date_range_label(rows)
    if thumbnail_size is None and record.width > 0 and record.height > 0:
        thumbnail_size = (int(record.width), int(record.height))
    ok = record.status == "ok"
    return AnimationView(
        id=record.id,
        slug=record.slug,
        status=record.status,
        ok=ok,
        error=None if ok else (record.error or "unknown error"),
        title=record.title,
        collection_id=record.collection_id,
        collection_title=collection_title,
        region_id=record.region_id,
        region_title=record.region_title,
        synthetic=bool(collection and collection.synthetic),
        date_range=date_range,
        frame_count=len(rows),
        width=int(record.width),
        height=int(record.height),
        page_href=relative_href(record.files.page, from_page),
        gif_href=relative_href(record.files.gif, from_page),
        poster_href=relative_href(record.files.poster, from_page),
        webp_href=relative_href(record.files.webp, from_page) if record.files.webp else None,
        mp4_href=relative_href(record.files.mp4, from_page) if record.files.mp4 else None,
        notes=record.notes,
        thumbnail_href=relative_href(record.files.thumbnail, from_page),
        thumbnail_size=thumbnail_size,
        image_alt=_image_alt(collection_title, record.region_title, date_range),
        legend=_legend_view(record),
        description=paragraphs(collection.description) if collection else (),
        license=collection.license if collection else None,
        providers=tuple(_provider_view(p) for p in collection.providers) if collection else (),
        frames=rows,
    )


# --------------------------------------------------------------------------- rendering


def _render(env: jinja2.Environment, template_name: str, context: Mapping[str, Any]) -> str:
    try:
        text = env.get_template(template_name).render(**context)
    except jinja2.TemplateError as error:
        raise GeneratorError(f"Could not render page template {template_name}: {error}") from error
    return text if text.endswith("\n") else text + "\n"


def _common_context(site: SiteInfo, page: str, generator_version: str) -> dict[str, Any]:
    return {
        "site": site,
        "site_description": paragraphs(site.description),
        "generator": {"name": GENERATOR_NAME, "version": generator_version},
        "links": PageLinks.for_page(page),
    }


def render_index(
    env: jinja2.Environment,
    site: SiteInfo,
    records: Sequence[AnimationRecord],
    *,
    generator_version: str,
    thumbnail_sizes: Mapping[str, tuple[int, int]] | None = None,
) -> str:
    sizes = thumbnail_sizes or {}
    cards = [
        animation_view(record, from_page=INDEX_PAGE, thumbnail_size=sizes.get(record.id))
        for record in records
    ]
    context = _common_context(site, INDEX_PAGE, generator_version)
    context.update(
        animations=cards,
        any_synthetic=any(card.synthetic for card in cards),
        failed_count=sum(1 for card in cards if not card.ok),
    )
    return _render(env, "index.html", context)


def render_animation_page(
    env: jinja2.Environment, site: SiteInfo, record: AnimationRecord, *, generator_version: str
) -> str:
    page = record.files.page
    context = _common_context(site, page, generator_version)
    context["animation"] = animation_view(record, from_page=page)
    return _render(env, "animation.html", context)


# --------------------------------------------------------------------------- validation


def _is_safe_relative_path(path: str) -> bool:
    if not path or path.startswith(("/", "\\")) or "\\" in path or urlsplit(path).scheme:
        return False
    return ".." not in PurePosixPath(path).parts


def validate_records(records: Sequence[AnimationRecord]) -> None:
    """Refuse records whose pages would collide or whose files lie outside the output folder."""
    problems: list[str] = []
    seen_ids: set[str] = set()
    seen_pages: set[str] = set()
    reserved = {INDEX_PAGE, MANIFEST_FILE}
    for record in records:
        if record.id in seen_ids:
            problems.append(f"two animations share the id {record.id!r}; give them distinct ids")
        seen_ids.add(record.id)
        files = record.files
        for what, path in (
            ("page", files.page),
            ("gif", files.gif),
            ("poster", files.poster),
            ("thumbnail", files.thumbnail),
        ):
            if not _is_safe_relative_path(path):
                problems.append(
                    f"animation {record.id!r}: {what} path {path!r} must be relative to the "
                    "output folder, with '/' separators and no '..'"
                )
        page = posixpath.normpath(files.page)
        if page in reserved or page.startswith(f"{STATIC_DIR}/"):
            problems.append(f"animation {record.id!r}: page path {files.page!r} is reserved")
        elif page in seen_pages:
            problems.append(f"animation {record.id!r}: page {files.page!r} is used twice")
        seen_pages.add(page)
    if problems:
        raise GeneratorError("Cannot write the gallery:\n" + "\n".join(problems))


# --------------------------------------------------------------------------- disk I/O


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="\n")


def _copy_static(source: Path, destination: Path) -> None:
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        target = destination / file.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(file.read_bytes())


def read_image_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from an image header, or None when the file is missing or unreadable."""
    try:
        with Image.open(path) as image:
            return image.size
    except OSError:
        return None


def _thumbnail_sizes(
    output_dir: Path, records: Sequence[AnimationRecord]
) -> dict[str, tuple[int, int]]:
    sizes: dict[str, tuple[int, int]] = {}
    for record in records:
        if record.status != "ok":
            continue
        size = read_image_size(output_dir / record.files.thumbnail)
        if size is not None:
            sizes[record.id] = size
    return sizes


def write_site(
    output_dir: Path,
    site: SiteInfo,
    records: Sequence[AnimationRecord],
    *,
    generator_version: str,
) -> None:
    """Write the gallery pages, ``manifest.json`` and static assets into ``output_dir``.

    The animations' media files must already be there. Same inputs give the same bytes.
    """
    records = list(records)
    validate_records(records)
    env = make_environment()
    index_html = render_index(
        env,
        site,
        records,
        generator_version=generator_version,
        thumbnail_sizes=_thumbnail_sizes(output_dir, records),
    )
    pages = {
        record.files.page: render_animation_page(
            env, site, record, generator_version=generator_version
        )
        for record in records
    }
    manifest = manifest_json(build_manifest(site, records, generator_version))
    try:
        _write_text(output_dir / INDEX_PAGE, index_html)
        for page, html in pages.items():
            _write_text(output_dir / page, html)
        _write_text(output_dir / MANIFEST_FILE, manifest)
        _copy_static(templates_dir() / STATIC_DIR, output_dir / STATIC_DIR)
    except OSError as error:
        raise GeneratorError(
            f"Could not write the gallery into {output_dir}: {error}. "
            "Check that the folder is writable and the disk is not full."
        ) from error
