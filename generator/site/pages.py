"""Page views: what each gallery template shows, computed from animation records (no I/O).

Owns the view dataclasses handed to the templates
(cards, animation pages, collection and region listings) and the Open Graph tags. Every href in
a view is relative to the page it is rendered on, so the gallery works under any sub-path.
Text from STAC stays plain text (the templates autoescape it) except collection descriptions,
which go through ``markup.render_markdown`` (CommonMark without raw HTML, vetted links).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from markupsafe import Markup, escape

from generator.core import buildcache
from generator.core.model import MEDIA_STATUSES, AnimationRecord, FramePlan, FrameStats, SiteInfo
from generator.core.redaction import public_url_or_none
from generator.encode.registry import REQUIRED_FORMAT, encoders
from generator.site.charts import StatsRow, has_stats, stats_chart, stats_entry, stats_path, stats_rows
from generator.site.locator import locator_svg
from generator.site.markup import render_markdown
from generator.site.weblinks import (  # noqa: F401 - also re-exported for the site stage
    COLLECTIONS_DIR,
    DEFAULT_FRAME_MS,
    FAVICON,
    GALLERY_SCRIPT,
    HEX_COLOUR,
    INDEX_PAGE,
    MANIFEST_FILE,
    PLAYER_SCRIPT,
    PROVENANCE_FILE,
    REGIONS_DIR,
    STATIC_DIR,
    STYLESHEET,
    absolute_url,
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

# --------------------------------------------------------------------------- view types


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
    image_href: str | None = None  # the legend exactly as drawn on the frames
    classes: tuple[tuple[str, str], ...] = ()  # categorical styles: (label, "#rrggbb")
    scale: str = "linear"  # style.scale: how values are spread between low and high
    truecolor: str | None = None  # a true-colour style: which assets or bands are red, green, blue


@dataclass(frozen=True)
class ItemView:
    id: str
    url: str | None  # the STAC item's http(s) URL when the source is remote


@dataclass(frozen=True)
class FrameRow:
    number: int
    label: str
    datetime: str  # ISO 8601 UTC, for <time datetime=...>
    items: tuple[ItemView, ...]
    kind: str
    src: str | None = None  # the frame's PNG, relative to the page

    @property
    def item_ids(self) -> tuple[str, ...]:
        return tuple(item.id for item in self.items)


@dataclass(frozen=True)
class DownloadView:
    label: str
    href: str
    primary: bool = False


@dataclass(frozen=True)
class OpenGraph:
    """Absolute URLs for social previews; only made when ``site.base_url`` is set."""

    title: str
    description: str
    url: str
    image: str | None
    image_alt: str | None


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
    # What a card plays on hover: the lossless WebP when the animation has one (the same pixels,
    # about two thirds of the GIF's bytes), else the GIF.
    preview_href: str
    poster_href: str
    thumbnail_href: str
    thumbnail_size: tuple[int, int] | None
    image_alt: str
    legend: LegendView | None
    description: Markup
    license: str | None
    providers: tuple[ProviderView, ...]
    map_credits: tuple[tuple[str, str], ...]  # (what, credit): ("Borders", "IGN, Licence Ouverte")
    frames: tuple[FrameRow, ...]
    output_hrefs: Mapping[str, str] = dataclasses.field(default_factory=dict)  # format name → file
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()  # the notes that say the result looks wrong: shown on the card too
    collection_href: str = ""
    region_href: str = ""
    provenance_href: str = ""
    doi: str | None = None
    doi_url: str | None = None
    citation: str | None = None
    frame_ms: int = DEFAULT_FRAME_MS
    downloads: tuple[DownloadView, ...] = ()
    search_text: str = ""
    # The numbers behind the picture: the chart (inline SVG), its table and stats.csv.
    stats_chart: Markup | None = None
    stats_rows: tuple[StatsRow, ...] = ()
    stats_href: str | None = None
    stats_units: str | None = None
    # The asset(s) the frames were read from, as (key, title from the collection's item_assets),
    # and the STAC collection's id when the config names the collection otherwise.
    assets: tuple[tuple[str, str | None], ...] = ()
    stac_collection_id: str | None = None

    @property
    def webp_href(self) -> str | None:
        return self.output_hrefs.get("webp")

    @property
    def mp4_href(self) -> str | None:
        return self.output_hrefs.get("mp4")

    @property
    def player_frames_json(self) -> str:
        """The player's frame list; the template puts it in an attribute (autoescaped)."""
        frames = [{"src": row.src, "label": row.label} for row in self.frames if row.src]
        return json.dumps(frames, ensure_ascii=False, separators=(",", ":"))

    @property
    def has_player(self) -> bool:
        return self.ok and len(self.frames) > 0 and all(row.src for row in self.frames)


@dataclass(frozen=True)
class PageLinks:
    """Links every page carries (header, stylesheet, scripts, footer), relative to that page."""

    home: str
    stylesheet: str
    favicon: str
    manifest: str
    gallery_script: str
    player_script: str

    @classmethod
    def for_page(cls, page: str) -> PageLinks:
        return cls(
            home=relative_href(INDEX_PAGE, page),
            stylesheet=relative_href(STYLESHEET, page),
            favicon=relative_href(FAVICON, page),
            manifest=relative_href(MANIFEST_FILE, page),
            gallery_script=relative_href(GALLERY_SCRIPT, page),
            player_script=relative_href(PLAYER_SCRIPT, page),
        )


@dataclass(frozen=True)
class FacetView:
    """One collection or region: its listing page and how many animations it has."""

    id: str
    title: str
    href: str
    count: int


# --------------------------------------------------------------------------- builders


def _provider_view(provider: Mapping[str, Any]) -> ProviderView:
    roles = provider.get("roles") or ()
    if isinstance(roles, str):
        roles = (roles,)
    return ProviderView(
        name=str(provider.get("name") or "Unnamed provider"),
        roles=tuple(str(role) for role in roles),
        url=http_url(provider.get("url")),
    )


def _legend_view(record: AnimationRecord, from_page: str) -> LegendView | None:
    if record.style is None:
        return None
    low, high = record.style.rescale
    rgb = record.style.truecolor
    if rgb is not None and len(set(rgb.rescale)) > 1:  # one rescale per channel: "red / green / blue"
        lows, highs = zip(*rgb.rescale, strict=True)
        return replace_bounds(_legend_view_of(record, from_page, low, high), lows, highs)
    return _legend_view_of(record, from_page, low, high)


def replace_bounds(view: LegendView, lows: Sequence[float], highs: Sequence[float]) -> LegendView:
    """``view`` with one bound per true-colour channel, written "red / green / blue"."""
    return dataclasses.replace(
        view, low=" / ".join(format_number(value) for value in lows),
        high=" / ".join(format_number(value) for value in highs),
    )


def _legend_view_of(record: AnimationRecord, from_page: str, low: float, high: float) -> LegendView:
    assert record.style is not None
    has_image = record.status in MEDIA_STATUSES and record.files.legend
    return LegendView(
        gradient=legend_gradient(record.legend_colors),
        low=format_number(low),
        high=format_number(high),
        units=record.style.units,
        colormap=colormap_label(record.style.colormap),
        image_href=relative_href(record.files.legend, from_page) if has_image else None,
        classes=tuple((label, colour) for label, colour in record.legend_classes if HEX_COLOUR.fullmatch(colour)),
        scale=record.style.scale,
        truecolor=record.style.truecolor.label if record.style.truecolor is not None else None,
    )


def _frame_src(record: AnimationRecord, index: int, from_page: str) -> str | None:
    if record.status not in MEDIA_STATUSES or index >= len(record.files.frames):
        return None
    return relative_href(record.files.frames[index], from_page)


def frame_rows(record: AnimationRecord, from_page: str) -> tuple[FrameRow, ...]:
    rows = []
    for index, frame in enumerate(record.frames):
        moment = iso_utc(frame.datetime)
        rows.append(
            FrameRow(
                number=index + 1,
                label=label_at(record.frame_labels, index) or moment[:10],
                datetime=moment,
                items=tuple(ItemView(item.item_id, http_url(public_url_or_none(item.item_href))) for item in frame.items),
                kind=frame.kind,
                src=_frame_src(record, index, from_page),
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


def doi_url(doi: str | None) -> str | None:
    """``https://doi.org/…`` for a bare DOI (``10.xxxx/…``); None for anything else."""
    if not doi:
        return None
    bare = doi.strip().removeprefix("https://doi.org/").removeprefix("doi:")
    if not re.fullmatch(r"10\.\d{4,9}/\S+", bare):
        return None
    return f"https://doi.org/{quote(bare, safe='/:;()._-')}"


def _downloads(record: AnimationRecord, from_page: str) -> tuple[DownloadView, ...]:
    if record.status not in MEDIA_STATUSES:
        return ()
    files = record.files
    labels = {encoder.name: encoder.label for encoder in encoders()}
    found = [
        DownloadView(
            f"Download {labels.get(name, name.upper())}", relative_href(path, from_page), primary=name == REQUIRED_FORMAT
        )
        for name, path in files.outputs.items()
    ]
    found.append(DownloadView("Download poster (PNG)", relative_href(files.poster, from_page)))
    return tuple(found)


def _frame_ms(record: AnimationRecord) -> int:
    value = record.render.get("frame_ms") if isinstance(record.render, Mapping) else None
    return int(value) if isinstance(value, int | float) and value > 0 else DEFAULT_FRAME_MS


def animation_view(
    record: AnimationRecord,
    *,
    from_page: str,
    thumbnail_size: tuple[int, int] | None = None,
) -> AnimationView:
    """The template-facing view of ``record`` for a page located at ``from_page``."""
    collection = record.collection
    collection_title = collection.title if collection else record.collection_id
    rows = frame_rows(record, from_page)
    date_range = _date_range_label(rows)
    if thumbnail_size is None and record.width > 0 and record.height > 0:
        thumbnail_size = (int(record.width), int(record.height))
    ok = record.status in MEDIA_STATUSES
    search = " ".join([collection_title, record.collection_id, record.region_title, record.region_id, date_range or "", *record.assets])
    doi = collection.doi if collection else None
    return AnimationView(
        id=record.id,
        slug=record.slug,
        status=record.status,
        ok=ok,
        error=None if record.status == "ok" else (record.error or "unknown error"),
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
        preview_href=relative_href(record.files.outputs.get("webp") or record.files.gif, from_page),
        poster_href=relative_href(record.files.poster, from_page),
        output_hrefs={name: relative_href(path, from_page) for name, path in record.files.outputs.items()},
        notes=record.notes,
        warnings=record.warnings,
        thumbnail_href=relative_href(record.files.thumbnail, from_page),
        thumbnail_size=thumbnail_size,
        image_alt=_image_alt(collection_title, record.region_title, date_range),
        legend=_legend_view(record, from_page),
        description=render_markdown(collection.description) if collection else Markup(""),
        license=collection.license if collection else None,
        providers=tuple(_provider_view(p) for p in collection.providers) if collection else (),
        map_credits=record.map_credits,
        frames=rows,
        collection_href=relative_href(collection_page(record.collection_id), from_page),
        region_href=relative_href(region_page(record.region_id), from_page),
        provenance_href=relative_href(provenance_path(record), from_page),
        doi=doi,
        doi_url=doi_url(doi),
        citation=collection.citation if collection else None,
        frame_ms=_frame_ms(record),
        downloads=_downloads(record, from_page),
        search_text=search.lower(),
        **_stats_view(record, from_page),
        **_asset_view(record),
    )


def _asset_view(record: AnimationRecord) -> dict[str, Any]:
    """The asset key(s) read (titled from the collection's ``item_assets``) and the STAC collection."""
    collection = record.collection
    described = collection.item_assets if collection else {}
    assets = tuple((key, described[key].title if key in described else None) for key in record.assets)
    stac_id = collection.id if collection and collection.id != record.collection_id else None
    return {"assets": assets, "stac_collection_id": stac_id}


def _stats_view(record: AnimationRecord, from_page: str) -> dict[str, Any]:
    """The statistics part of an animation page: only on the page itself (cards need none)."""
    if from_page != record.files.page or not has_stats(record):
        return {}
    return {
        "stats_chart": stats_chart(record),
        "stats_rows": stats_rows(record),
        "stats_href": relative_href(stats_path(record), from_page),
        "stats_units": record.style.units if record.style else None,
    }


#: A region's globe as drawn: its outline rings and the SVG's label (HTML-escaped).
Globe = tuple[tuple[tuple[tuple[float, float], ...], ...], str]

# The pages of one region (its animations and its listing) share one globe: drawn once per build,
# for every region of the gallery. A bounded cache would draw each globe of a large gallery up
# to three times (as its animation is done, on its page, on its listing: the listings come after
# every animation page), the last two at the end of the build, while the workers wait.
_globes: dict[Globe, str] = {}
buildcache.on_clear(_globes.clear)


def globe_of(record: AnimationRecord) -> Globe | None:
    """What ``record``'s globe is drawn from (``locator.locator_svg``), or None without an outline."""
    if not record.region_outline:
        return None
    label = escape(f"Where {record.region_title} is on the globe")
    return tuple(tuple((float(x), float(y)) for x, y in ring) for ring in record.region_outline), str(label)


def has_globe(globe: Globe) -> bool:
    return globe in _globes


def keep_globe(globe: Globe, svg: str) -> None:
    """Keep ``svg``, drawn elsewhere (a worker), as ``globe``'s for this build's pages."""
    _globes[globe] = svg


def locator_markup(record: AnimationRecord) -> Markup | None:
    """The inline locator globe of ``record``'s region, or None without an outline."""
    globe = globe_of(record)
    if globe is None:
        return None
    svg = _globes.get(globe)
    if svg is None:
        svg = _globes[globe] = locator_svg(*globe)
    return Markup(svg)


def facets(
    records: Sequence[AnimationRecord], from_page: str, kind: str
) -> tuple[FacetView, ...]:
    """Collections (``kind="collection"``) or regions of ``records``, in first-seen order."""
    seen: dict[str, tuple[str, int]] = {}
    for record in records:
        if kind == "collection":
            key = record.collection_id
            title = record.collection.title if record.collection else record.collection_id
        else:
            key, title = record.region_id, record.region_title
        previous = seen.get(key)
        seen[key] = (previous[0] if previous else title, (previous[1] if previous else 0) + 1)
    page_of = collection_page if kind == "collection" else region_page
    return tuple(
        FacetView(id=key, title=title, href=relative_href(page_of(key), from_page), count=count)
        for key, (title, count) in seen.items()
    )


def open_graph(
    site: SiteInfo, page: str, title: str, description: str, poster: str | None, image_alt: str | None
) -> OpenGraph | None:
    """Open Graph / Twitter card values for ``page``; None when the site has no ``base_url``."""
    if not site.base_url:
        return None
    return OpenGraph(
        title=title,
        description=description or site.description or site.title,
        url=absolute_url(site.base_url, page),
        image=absolute_url(site.base_url, poster) if poster else None,
        image_alt=image_alt if poster else None,
    )


def frame_entry(frame: FramePlan, label: str | None, stats: FrameStats | None = None) -> dict[str, Any]:
    return {
        "datetime": iso_utc(frame.datetime),
        "items": [item.item_id for item in frame.items],
        "kind": frame.kind,
        "label": label,
        "stats": stats_entry(stats),  # null: a gap frame, or no statistics (categorical style)
    }
