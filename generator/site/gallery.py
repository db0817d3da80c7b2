"""Site stage: turn animation records into a static gallery with relative links only.

Owns the orchestration of the gallery: the template environment (ours, overridable from
``site.templates``), rendering ``index.html``, one page per animation, one page per collection
and per region, ``manifest.json``, each animation's ``provenance.json`` and the copy of the
static assets. It never reads or renders rasters: the build stage has already written each
animation's media files at the paths named in its record. What the pages show is computed in
``pages``; untrusted STAC text is autoescaped by the templates, descriptions go through
``markup`` (safe CommonMark) and only http(s) URLs ever become links.
"""

from __future__ import annotations

import functools
import json
import posixpath
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path, PurePosixPath
from types import CodeType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from PIL import Image

from generator.core.atomic import write_bytes_atomic, write_text_atomic
from generator.core.errors import GeneratorError
from generator.core.model import MEDIA_STATUSES, AnimationRecord, SiteInfo
from generator.encode.registry import encoders
from generator.site.charts import has_stats, manifest_stats, stats_at, stats_csv, stats_path
from generator.site.pages import (  # re-exported: the public helpers of the site stage
    AnimationView,
    FrameRow,
    LegendView,
    PageLinks,
    ProviderView,
    animation_view,
    facets,
    frame_entry,
    locator_markup,
    open_graph,
)
from generator.site.provenance import GENERATOR_NAME, provenance_json, style_entry
from generator.site.public import public_record
from generator.site.weblinks import (  # re-exported: the public helpers of the site stage
    COLLECTIONS_DIR,
    FAVICON,
    INDEX_PAGE,
    MANIFEST_FILE,
    REGIONS_DIR,
    STATIC_DIR,
    STYLESHEET,
    collection_page,
    colormap_label,
    format_number,
    http_url,
    iso_utc,
    label_at,
    legend_gradient,
    paragraphs,
    provenance_path,
    region_page,
    relative_href,
)

__all__ = [
    "AnimationView", "FAVICON", "FrameRow", "GENERATOR_NAME", "LegendView", "PageLinks",
    "ProviderView", "STYLESHEET", "animation_view", "build_manifest", "colormap_label",
    "format_number", "http_url", "iso_utc", "legend_gradient", "make_environment",
    "manifest_entry", "manifest_json", "paragraphs", "read_image_size", "relative_href",
    "render_animation_page", "render_index", "render_listing", "templates_dir",
    "validate_records", "write_site",
]

if TYPE_CHECKING:  # jinja2 is imported when pages are rendered, not when a build starts
    import jinja2


# --------------------------------------------------------------------------- templates


def templates_dir() -> Path:
    """The folder holding our page templates and ``static/`` assets.

    A wheel ships them as ``generator/templates/``; a source checkout (or editable install)
    has them at the repository's top-level ``templates/``.
    """
    package_dir = Path(__file__).resolve().parent.parent  # generator/, not generator/site/
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
    import jinja2

    loaders: list[jinja2.BaseLoader] = []
    if extra_dir is not None:
        if not extra_dir.is_dir():
            raise GeneratorError(
                f"Template folder {extra_dir} (site.templates) does not exist; "
                "create it or remove the setting."
            )
        loaders.append(jinja2.FileSystemLoader(str(extra_dir)))
    loaders.append(jinja2.FileSystemLoader(str(templates_dir())))
    return jinja2.Environment(
        loader=jinja2.ChoiceLoader(loaders),
        bytecode_cache=compiled_templates(),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )


@functools.cache
def compiled_templates() -> jinja2.BytecodeCache:
    """The templates compiled in this process, by file and source checksum: a rebuild (``serve``
    watching, a second build in one process) does not compile an unchanged template again.

    A memo of a pure function of the template's text (jinja2 checks the checksum), like a
    bytecode cache on disk but in memory; every environment it serves is made with the same
    options (``make_environment``), which the compiled code depends on.
    """
    import jinja2

    class CompiledTemplates(jinja2.BytecodeCache):
        MAX_TEMPLATES = 256

        def __init__(self) -> None:
            self.codes: dict[str, tuple[str, CodeType]] = {}
            self.lock = threading.Lock()

        def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            with self.lock:
                found = self.codes.get(bucket.key)
            if found is not None and found[0] == bucket.checksum:
                bucket.code = found[1]

        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            if bucket.code is None:
                return
            with self.lock:
                if len(self.codes) >= self.MAX_TEMPLATES:
                    self.codes.clear()
                self.codes[bucket.key] = (bucket.checksum, bucket.code)

    return CompiledTemplates()


# --------------------------------------------------------------------------- manifest


def manifest_entry(record: AnimationRecord) -> dict[str, Any]:
    """The machine-readable description of one animation (paths relative to the output folder).

    Media paths are null for a failed animation: those files were never written.
    """
    ok = record.status in MEDIA_STATUSES
    frames = [
        frame_entry(frame, label_at(record.frame_labels, index), stats_at(record, index) if ok else None)
        for index, frame in enumerate(record.frames)
    ]
    date_range = [frames[0]["datetime"], frames[-1]["datetime"]] if frames else None
    collection = record.collection
    entry = {
        "id": record.id,
        "slug": record.slug,
        "title": record.title,
        "status": record.status,
        "error": None if record.status == "ok" else (record.error or "unknown error"),
        "collection": record.collection_id,
        "collection_title": collection.title if collection else None,
        "stac_collection": collection.id if collection else None,
        "assets": list(record.assets),  # the asset key(s) the frames were read from
        "synthetic": bool(collection and collection.synthetic),
        "region": record.region_id,
        "region_title": record.region_title,
        "credits": {what.lower(): credit for what, credit in record.map_credits},
        "page": record.files.page,
        "provenance": provenance_path(record),
        "poster": record.files.poster if ok else None,
        "thumbnail": record.files.thumbnail if ok else None,
        "notes": list(record.notes),
        "warnings": list(record.warnings),  # the notes that say the result looks wrong (also in notes)
        "width": int(record.width),
        "height": int(record.height),
        "style": style_entry(record.style),
        "date_range": date_range,
        "frame_count": len(frames),
        "frames": frames,
        "stats": manifest_stats(record),  # stats.csv and the units of each frame's "stats"
    }
    # One key per output format (every registered one), null when the animation has no such file.
    for name in dict.fromkeys([*(encoder.name for encoder in encoders()), *record.files.outputs]):
        if name in entry:
            raise GeneratorError(f"the output format {name!r} has the name of a manifest key; rename its encoder")
        entry[name] = record.files.outputs.get(name) if ok else None
    return entry


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


# --------------------------------------------------------------------------- rendering


def _render(env: jinja2.Environment, template_name: str, context: Mapping[str, Any]) -> str:
    import jinja2

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
        "og": None,
    }


def _first_poster(records: Sequence[AnimationRecord]) -> tuple[str | None, str | None]:
    for record in records:
        if record.status in MEDIA_STATUSES:
            view = animation_view(record, from_page=INDEX_PAGE)
            return record.files.poster, view.image_alt
    return None, None


def _cards(
    records: Sequence[AnimationRecord], page: str, sizes: Mapping[str, tuple[int, int]]
) -> list[AnimationView]:
    return [
        animation_view(record, from_page=page, thumbnail_size=sizes.get(record.id))
        for record in records
    ]


def render_index(
    env: jinja2.Environment,
    site: SiteInfo,
    records: Sequence[AnimationRecord],
    *,
    generator_version: str,
    thumbnail_sizes: Mapping[str, tuple[int, int]] | None = None,
) -> str:
    cards = _cards(records, INDEX_PAGE, thumbnail_sizes or {})
    context = _common_context(site, INDEX_PAGE, generator_version)
    poster, alt = _first_poster(records)
    context.update(
        animations=cards,
        any_synthetic=any(card.synthetic for card in cards),
        failed_count=sum(1 for card in cards if not card.ok),
        collections=facets(records, INDEX_PAGE, "collection"),
        regions=facets(records, INDEX_PAGE, "region"),
        og=open_graph(site, INDEX_PAGE, site.title, site.description, poster, alt),
    )
    return _render(env, "index.html", context)


def render_animation_page(
    env: jinja2.Environment, site: SiteInfo, record: AnimationRecord, *, generator_version: str
) -> str:
    page = record.files.page
    context = _common_context(site, page, generator_version)
    view = animation_view(record, from_page=page)
    context["animation"] = view
    context["locator"] = locator_markup(record)
    context["og"] = open_graph(
        site, page, view.title, view.image_alt, record.files.poster if view.ok else None, view.image_alt
    )
    return _render(env, "animation.html", context)


def render_listing(
    env: jinja2.Environment,
    site: SiteInfo,
    records: Sequence[AnimationRecord],
    *,
    kind: str,
    key: str,
    generator_version: str,
    thumbnail_sizes: Mapping[str, tuple[int, int]] | None = None,
) -> tuple[str, str]:
    """(page path, HTML) of the page listing the animations of one collection or region."""
    if kind == "collection":
        page = collection_page(key)
        chosen = [r for r in records if r.collection_id == key]
        first = chosen[0]
        title = first.collection.title if first.collection else key
        kind_label = "Collection"
    else:
        page = region_page(key)
        chosen = [r for r in records if r.region_id == key]
        first = chosen[0]
        title = first.region_title
        kind_label = "Region"
    context = _common_context(site, page, generator_version)
    poster, alt = _first_poster(chosen)
    context.update(
        kind=kind,
        kind_label=kind_label,
        listing_id=key,
        listing_title=title,
        animations=_cards(chosen, page, thumbnail_sizes or {}),
        locator=locator_markup(first) if kind == "region" else None,
        og=open_graph(site, page, f"{title} · {site.title}", site.description, poster, alt),
    )
    return page, _render(env, "listing.html", context)


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
    reserved_dirs = (f"{STATIC_DIR}/", f"{COLLECTIONS_DIR}/", f"{REGIONS_DIR}/")
    for record in records:
        if record.id in seen_ids:
            problems.append(f"two animations share the id {record.id!r}; give them distinct ids")
        seen_ids.add(record.id)
        files = record.files
        named = [("page", files.page), ("gif", files.gif), ("poster", files.poster), ("thumbnail", files.thumbnail)]
        named += [("frame", path) for path in files.frames]
        named += [(kind, path) for kind, path in files.outputs.items() if kind != "gif"]
        for what, path in named:
            if not _is_safe_relative_path(path):
                problems.append(
                    f"animation {record.id!r}: {what} path {path!r} must be relative to the "
                    "output folder, with '/' separators and no '..'"
                )
        page = posixpath.normpath(files.page)
        if page in reserved or page.startswith(reserved_dirs):
            problems.append(f"animation {record.id!r}: page path {files.page!r} is reserved")
        elif page in seen_pages:
            problems.append(f"animation {record.id!r}: page {files.page!r} is used twice")
        seen_pages.add(page)
    if problems:
        raise GeneratorError("Cannot write the gallery:\n" + "\n".join(problems))


# --------------------------------------------------------------------------- disk I/O


def _write_text(path: Path, text: str) -> None:
    write_text_atomic(path, text)


def _copy_static(source: Path, destination: Path) -> None:
    for file in sorted(p for p in source.rglob("*") if p.is_file()):
        target = destination / file.relative_to(source)
        write_bytes_atomic(target, file.read_bytes())


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
        if record.status not in MEDIA_STATUSES:
            continue
        size = read_image_size(output_dir / record.files.thumbnail)
        if size is not None:
            sizes[record.id] = size
    return sizes


def render_site(
    site: SiteInfo,
    records: Sequence[AnimationRecord],
    *,
    generator_version: str,
    thumbnail_sizes: Mapping[str, tuple[int, int]] | None = None,
) -> dict[str, str]:
    """Every text file of the gallery, by path relative to the output folder (no I/O).

    Errors and notes are published as ``site.public.public_text`` makes them: no secret, no
    absolute path of the build machine.
    """
    records = [public_record(record, site.source_root) for record in records]
    validate_records(records)
    env = make_environment(site.templates)
    sizes = thumbnail_sizes or {}
    files = {INDEX_PAGE: render_index(env, site, records, generator_version=generator_version, thumbnail_sizes=sizes)}
    for record in records:
        files[record.files.page] = render_animation_page(env, site, record, generator_version=generator_version)
        files[provenance_path(record)] = provenance_json(record, generator_version, site.source_root)
        if has_stats(record):
            files[stats_path(record)] = stats_csv(record)
    for kind, keys in (
        ("collection", dict.fromkeys(r.collection_id for r in records)),
        ("region", dict.fromkeys(r.region_id for r in records)),
    ):
        for key in keys:
            page, html = render_listing(
                env, site, records, kind=kind, key=key, generator_version=generator_version, thumbnail_sizes=sizes
            )
            files[page] = html
    files[MANIFEST_FILE] = manifest_json(build_manifest(site, records, generator_version))
    return files


def write_site(
    output_dir: Path,
    site: SiteInfo,
    records: Sequence[AnimationRecord],
    *,
    generator_version: str,
) -> None:
    """Write the gallery pages, ``manifest.json``, provenance files and static assets.

    The animations' media files must already be in ``output_dir``. Same inputs give the same
    bytes. Static files from ``site.templates``/static replace ours of the same name.
    """
    records = list(records)
    files = render_site(
        site, records, generator_version=generator_version, thumbnail_sizes=_thumbnail_sizes(output_dir, records)
    )
    try:
        for relative, text in files.items():
            _write_text(output_dir / relative, text)
        _copy_static(templates_dir() / STATIC_DIR, output_dir / STATIC_DIR)
        if site.templates is not None and (site.templates / STATIC_DIR).is_dir():
            _copy_static(site.templates / STATIC_DIR, output_dir / STATIC_DIR)
    except OSError as error:
        raise GeneratorError(
            f"Could not write the gallery into {output_dir}: {error}. "
            "Check that the folder is writable and the disk is not full."
        ) from error
