"""The build plan: which animations exist, their ids, safe folder names and render settings.

Owns: expanding ``animations:`` (default: every collection × every region), merging each
animation's ``render:`` overrides onto the defaults and its ``style:`` over its collection's
(key by key, validated as one style), unique ids, path-safe slugs and ``--only``.
No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from generator.core.errors import ConfigError
from generator.core.slugs import animation_slug
from generator.core.specs import CollectionSpec, RegionSpec, RenderSpec
from generator.plan.specs import collection_spec, region_spec, render_spec, style_spec

if TYPE_CHECKING:  # the config models load with a config
    from generator.config import LoadedConfig, RenderOverrides


@dataclass(frozen=True)
class AnimationSpec:
    """One (collection, region) animation to build, with its effective render settings."""

    id: str
    slug: str
    collection: CollectionSpec
    region: RegionSpec
    render: RenderSpec


def animation_collection(config: LoadedConfig, collection: CollectionSpec, index: int) -> tuple[CollectionSpec, list[str]]:
    """The collection as ``animations[index]`` uses it: its ``style:`` merged over the collection's
    key by key, and one line per problem of the merged style."""
    model = config.model
    assert model.animations is not None
    override = model.animations[index].style
    if override is None:
        return collection, []
    section = next(entry for entry in model.collections if entry.id == collection.id)
    from pydantic import ValidationError

    from generator.config import dotted_path, merged_style

    try:
        merged = merged_style(section.style, override)
    except ValidationError as error:
        return collection, [
            f"animations[{index}].style{'.' + dotted_path(tuple(problem['loc'])) if problem['loc'] else ''}: "
            f"{str(problem['msg']).removeprefix('Value error, ')} (merged over {collection.where}.style)"
            for problem in error.errors()
        ]
    assert merged is not None
    return replace(collection, style=style_spec(merged)), []


def plan_animations(config: LoadedConfig, only: list[str] | None = None) -> list[AnimationSpec]:
    """Expand the config into animation specs; ``only`` keeps the listed animation ids."""
    model = config.model
    collections = {collection.id: collection_spec(collection, index) for index, collection in enumerate(model.collections)}
    regions = {region.id: region_spec(region, index, config) for index, region in enumerate(model.regions)}
    pairs: list[tuple[str, str, str, RenderOverrides | None, int | None]]
    if model.animations is None:
        pairs = [
            (f"{collection.id}--{region.id}", collection.id, region.id, None, None)
            for collection in model.collections
            for region in model.regions
        ]
    else:
        pairs = [
            (
                animation.id or f"{animation.collection}--{animation.region}",
                animation.collection,
                animation.region,
                animation.render,
                index,
            )
            for index, animation in enumerate(model.animations)
        ]

    problems: list[str] = []
    specs: list[AnimationSpec] = []
    ids: dict[str, str] = {}
    slugs: dict[str, str] = {}
    for animation_id, collection_id, region_id, overrides, index in pairs:
        where = f"animations[{index}].id" if index is not None else "animations"
        slug = animation_slug(animation_id)
        if animation_id in ids:
            problems.append(f"{where}: duplicate animation id {animation_id!r}; give each animation a unique `id`")
            continue
        if not slug:
            problems.append(f"{where}: animation id {animation_id!r} has no letters or digits to name its folder")
            continue
        if slug in slugs:
            problems.append(
                f"{where}: animation id {animation_id!r} and {slugs[slug]!r} both become the folder "
                f"name {slug!r}; choose ids that differ in letters or digits"
            )
            continue
        ids[animation_id] = slug
        slugs[slug] = animation_id
        collection = collections[collection_id]
        if index is not None:
            collection, style_problems = animation_collection(config, collection, index)
            problems += style_problems
        specs.append(
            AnimationSpec(
                id=animation_id,
                slug=slug,
                collection=collection,
                region=regions[region_id],
                render=render_spec(model.render.merged(overrides), config.base_dir),
            )
        )
    for font in sorted({str(spec.render.font) for spec in specs if spec.render.font is not None}):
        if not Path(font).is_file():
            problems.append(f"render.font: font file not found: {font} (a .ttf or .otf file, relative to the config)")
    for spec in specs:
        source = model.sources[spec.collection.source]
        if spec.render.renderer == "titiler" and source.raster_api is None:
            problems.append(
                f"animation {spec.id!r} uses render.renderer: titiler but sources.{spec.collection.source} "
                "has no `raster_api` (the TiTiler endpoint, e.g. https://example.org/api/raster)"
            )
    if problems:
        raise ConfigError([f"{config.path}: {problem}" for problem in problems])

    if only:
        unknown = [wanted for wanted in only if wanted not in ids]
        if unknown:
            raise ConfigError(
                f"--only: unknown animation id(s) {', '.join(map(repr, unknown))} "
                f"(animations in {config.path.name}: {', '.join(ids)})"
            )
        specs = [spec for spec in specs if spec.id in only]
    return specs
