"""Site stage: turn animation records into a static gallery with relative links only.

Owns the orchestration of the gallery: the template environment (ours, overridable from
``site.templates``), rendering ``index.html``, one page per animation, one page per collection
and per region, ``manifest.json``, each animation's ``provenance.json`` and the copy of the
static assets, and the carry-over of the published gallery's text files: a file whose inputs (its
records' digests, the code, the templates, the ``site:`` block) are those it was made from last
time is linked from the published folder, once its bytes are checked, instead of rendered again.
It never reads or renders rasters: the build stage has already written each animation's media
files at the paths named in its record. What the pages show is computed in
``pages``; untrusted STAC text is autoescaped by the templates, descriptions go through
``markup`` (safe CommonMark) and only http(s) URLs ever become links.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import posixpath
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import CodeType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from PIL import Image

from generator.core.atomic import write_bytes_atomic, write_text_atomic
from generator.core.errors import GeneratorError
from generator.core.model import MEDIA_STATUSES, AnimationRecord, SiteInfo
from generator.encode.registry import encoders
from generator.site.charts import has_stats, manifest_stats, stats_at, stats_csv, stats_path
from generator.site.markup import render_markdown
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
    "Published", "format_number", "http_url", "iso_utc", "legend_gradient", "make_environment",
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


def check_templates(extra_dir: Path | None) -> None:
    """A ``site.templates`` folder that is not there is an error, said before any page is made."""
    if extra_dir is not None and not extra_dir.is_dir():
        raise GeneratorError(
            f"Template folder {extra_dir} (site.templates) does not exist; "
            "create it or remove the setting."
        )


def make_environment(extra_dir: Path | None = None) -> jinja2.Environment:
    """A Jinja environment over our templates, with ``extra_dir`` (if given) searched first.

    Autoescaping is always on because most of the text we show comes from STAC catalogs.
    """
    import jinja2

    loaders: list[jinja2.BaseLoader] = []
    check_templates(extra_dir)
    if extra_dir is not None:
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
    if not path or path.startswith(("/", "\\")) or "\\" in path or (":" in path and urlsplit(path).scheme):
        return False
    return ".." not in path.split("/")  # the parts PurePosixPath would find, and "" and "."


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


SiteFiles = dict[str, tuple[Callable[[], str], tuple[int, ...] | None]]


def _site_files(
    site: SiteInfo,
    records: Sequence[AnimationRecord],
    *,
    generator_version: str,
    thumbnail_sizes: Callable[[], Mapping[str, tuple[int, int]]],
) -> SiteFiles:
    """Every text file of the gallery, by path: how to render it (not done yet) and the positions in
    ``records`` of the records it shows (None: all of them)."""
    records = [public_record(record, site.source_root) for record in records]
    validate_records(records)
    env = functools.cache(lambda: make_environment(site.templates))
    sizes = functools.cache(thumbnail_sizes)
    files: SiteFiles = {
        INDEX_PAGE: (
            lambda: render_index(env(), site, records, generator_version=generator_version, thumbnail_sizes=sizes()),
            None,
        )
    }
    for position, record in enumerate(records):
        files[record.files.page] = (functools.partial(_animation_page, env, site, record, generator_version), (position,))
        files[provenance_path(record)] = (
            functools.partial(provenance_json, record, generator_version, site.source_root), (position,)
        )
        if has_stats(record):
            files[stats_path(record)] = (functools.partial(stats_csv, record), (position,))
    for kind, keys in (
        ("collection", dict.fromkeys(r.collection_id for r in records)),
        ("region", dict.fromkeys(r.region_id for r in records)),
    ):
        for key in keys:
            page = collection_page(key) if kind == "collection" else region_page(key)

            def listing(kind: str = kind, key: str = key) -> str:
                return render_listing(
                    env(), site, records, kind=kind, key=key, generator_version=generator_version, thumbnail_sizes=sizes()
                )[1]

            files[page] = (listing, None)
    files[MANIFEST_FILE] = (lambda: manifest_json(build_manifest(site, records, generator_version)), None)
    return files


def _animation_page(
    env: Callable[[], jinja2.Environment], site: SiteInfo, record: AnimationRecord, generator_version: str
) -> str:
    return render_animation_page(env(), site, record, generator_version=generator_version)


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
    files = _site_files(site, records, generator_version=generator_version, thumbnail_sizes=lambda: thumbnail_sizes or {})
    return {path: render() for path, (render, _) in files.items()}


def prepare_pages(site: SiteInfo) -> None:
    """Make now what rendering the pages needs and this process keeps: the page templates
    compiled, the Markdown renderer. (The build has a worker draw each region's globe:
    ``pages.keep_globe``.)

    The build calls it as each animation is done, while others are still being made, so that
    :func:`write_site`, which can only start once every animation is done, has little more than
    the pages themselves left to render. Renders no page and writes nothing.
    """
    env = make_environment(site.templates)
    for name in env.list_templates(extensions=["html"]):
        env.get_template(name)
    render_markdown("-")  # the renderer is made (and markdown_it imported) on the first text


# --------------------------------------------------------------------------- carry-over


@dataclass(frozen=True)
class Published:
    """The gallery the last build published, for :func:`write_site` to keep its unchanged files.

    ``digests`` name the records given to ``write_site``, in order, by content (the SHA-256 of
    each one's saved document, ``engine.output.RecordStore.digest``): equal digests, equal pages.
    ``state`` is a JSON file in the cache folder that says what each published file was made from.
    """

    output: Path
    state: Path
    digests: Sequence[str]


SITE_STATE_FORMAT = 1


@functools.cache
def _code_digest() -> str:
    """The SHA-256 of this package's code and data and of the page libraries' files: a changed
    generator renders every page again (the process's code does not change while it runs)."""
    import importlib.util

    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent.parent
    for path in sorted(package.rglob("*")):
        if path.suffix in (".py", ".gz", ".json") and "__pycache__" not in path.parts:
            digest.update(f"{path.relative_to(package).as_posix()}\0".encode())
            digest.update(path.read_bytes())
    for library in ("jinja2", "markupsafe", "markdown_it"):  # their version, without importing them
        spec = importlib.util.find_spec(library)
        origin = spec.origin if spec is not None else None
        found = os.stat(origin) if origin else None
        digest.update(f"{library} {origin} {found and found.st_size} {found and found.st_mtime_ns}\0".encode())
    return digest.hexdigest()


def _folder_digest(folder: Path, digest: Any) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(f"{path.relative_to(folder).as_posix()}\0{path.stat().st_size}\0".encode())
            digest.update(path.read_bytes())


def _inputs_digest(site: SiteInfo, generator_version: str) -> str:
    """What every file of the gallery is made from besides its records: the code, the templates
    (ours and ``site.templates``, read again at every build), the ``site:`` block, the formats."""
    digest = hashlib.sha256()
    fields = [generator_version, _code_digest(), site.title, site.description, site.base_url,
              str(site.templates), str(site.source_root), [(e.name, e.label) for e in encoders()]]
    digest.update(json.dumps(fields).encode())
    _folder_digest(templates_dir(), digest)
    if site.templates is not None:
        digest.update(b"\0site.templates\0")
        _folder_digest(site.templates, digest)
    return digest.hexdigest()


def _load_state(published: Published) -> dict[str, tuple[str, str]]:
    try:
        document = json.loads(published.state.read_bytes())
        if document["version"] != SITE_STATE_FORMAT or document["output"] != str(published.output):
            return {}
        return {str(path): (str(key), str(sha256)) for path, (key, sha256) in document["files"].items()}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):  # not ours: every file is rendered
        return {}


def _carried(published: Path, staged: Path, sha256: str) -> bool:
    """Link the published file into staging when it has the bytes ``sha256`` says; the bytes
    checked are the staged link's, so they are the bytes published next."""
    try:
        staged.parent.mkdir(parents=True, exist_ok=True)
        os.link(published, staged)
    except OSError:
        return False
    try:
        with staged.open("rb") as stream:
            if hashlib.file_digest(stream, "sha256").hexdigest() == sha256:
                return True
    except OSError:
        pass
    staged.unlink(missing_ok=True)
    return False


def write_site(
    output_dir: Path,
    site: SiteInfo,
    records: Sequence[AnimationRecord],
    *,
    generator_version: str,
    published: Published | None = None,
) -> None:
    """Write the gallery pages, ``manifest.json``, provenance files and static assets.

    The animations' media files must already be in ``output_dir``. Same inputs give the same
    bytes. Static files from ``site.templates``/static replace ours of the same name. With
    ``published``, a file made from the same inputs as the published one (the same records, code,
    templates and ``site:`` block) is linked from there instead, once its bytes are checked.
    """
    records = list(records)
    check_templates(site.templates)
    files = _site_files(
        site, records, generator_version=generator_version, thumbnail_sizes=lambda: _thumbnail_sizes(output_dir, records)
    )
    known: dict[str, tuple[str, str]] = {}
    state: dict[str, tuple[str, str]] = {}
    common = ""
    if published is not None:
        known = _load_state(published)
        common = _inputs_digest(site, generator_version)
    try:
        for relative, (render, shown) in files.items():
            key = ""
            if published is not None:
                digests = published.digests if shown is None else [published.digests[index] for index in shown]
                key = hashlib.sha256(json.dumps([common, relative, *digests]).encode()).hexdigest()
                last = known.get(relative)
                if last is not None and last[0] == key and _carried(
                    published.output / relative, output_dir / relative, last[1]
                ):
                    state[relative] = last
                    continue
            data = render().encode("utf-8")
            write_bytes_atomic(output_dir / relative, data)
            if published is not None:
                state[relative] = (key, hashlib.sha256(data).hexdigest())
        _copy_static(templates_dir() / STATIC_DIR, output_dir / STATIC_DIR)
        if site.templates is not None and (site.templates / STATIC_DIR).is_dir():
            _copy_static(site.templates / STATIC_DIR, output_dir / STATIC_DIR)
    except OSError as error:
        raise GeneratorError(
            f"Could not write the gallery into {output_dir}: {error}. "
            "Check that the folder is writable and the disk is not full."
        ) from error
    if published is not None and state != known:
        text = json.dumps({"version": SITE_STATE_FORMAT, "output": str(published.output), "files": state})
        try:
            write_text_atomic(published.state, text)
        except OSError:  # only the next build's shortcut is lost: it renders every page
            pass
