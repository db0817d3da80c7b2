"""The config turned into resolved, immutable specs: the only door from ``generator.config`` down.

Owns ``load_site``: read and validate ``site_config.yml``, expand its animations, and hand back
a ``SitePlan`` of the frozen dataclasses of ``generator.core.specs`` (converted by
``plan.specs``: paths resolved against the config's folder, render overrides merged, the names
messages use kept as ``where``). Every stage below the CLI gets these types, never a config
model. No I/O besides reading the config file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from generator.core.errors import ConfigError
from generator.core.model import SiteInfo
from generator.core.paths import local_folder, resolve_ref, storage_url
from generator.core.specs import CacheSpec, CollectionSpec, ExecutorSpec, RegionSpec, SourceSpec
from generator.plan.animations import AnimationSpec, plan_animations
from generator.plan.specs import collection_spec, region_spec, source_spec

if TYPE_CHECKING:  # the config models load with a config
    from generator.config import CacheSection, LoadedConfig


@dataclass(frozen=True)
class SitePlan:
    """Everything a build, ``validate`` or ``list`` needs from the config, resolved."""

    path: Path  # the config file, absolute
    info: SiteInfo
    sources: Mapping[str, SourceSpec]
    collections: tuple[CollectionSpec, ...]
    regions: tuple[RegionSpec, ...]
    animations: tuple[AnimationSpec, ...]  # every animation, in config order
    cache: CacheSpec
    executor: ExecutorSpec = ExecutorSpec()

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def output(self) -> Path:
        """The default output folder: ``output/`` beside the config."""
        return self.base_dir / "output"

    def select(self, only: Sequence[str] | None) -> tuple[AnimationSpec, ...]:
        """The animations ``--only`` keeps (all without it); unknown ids are a ``ConfigError``."""
        if not only:
            return self.animations
        ids = [spec.id for spec in self.animations]
        unknown = [wanted for wanted in only if wanted not in ids]
        if unknown:
            raise ConfigError(
                f"--only: unknown animation id(s) {', '.join(map(repr, unknown))} "
                f"(animations in {self.path.name}: {', '.join(ids)})"
            )
        return tuple(spec for spec in self.animations if spec.id in only)


def load_site(config_path: Path) -> SitePlan:
    """Read, validate and resolve ``site_config.yml``; raises ``ConfigError`` listing every problem."""
    from generator.config import load_config

    return site_plan(load_config(config_path))


@dataclass(frozen=True)
class SiteFolders:
    """The folders a config names (resolved), for commands that need nothing else."""

    output: Path  # the default output folder: ``output/`` beside the config
    cache: Path  # ``cache.dir`` (the local folder: `.cache/` beside the config when it is a URL)
    cache_url: str | None = None  # ``cache.dir`` given as a URL: where the frames are


def site_folders(config_path: Path) -> SiteFolders:
    """The folders of a valid config, without expanding its animations or resolving the rest."""
    from generator.config import load_config

    config = load_config(config_path)
    cache = cache_spec(config.model.cache, config.base_dir)
    return SiteFolders(output=config.base_dir / "output", cache=cache.dir, cache_url=cache.url)


#: The build's own state (records, searches, tiles, the lock) when ``cache.dir`` is a URL.
LOCAL_STATE_DIR = ".cache"


def cache_spec(section: CacheSection, base_dir: Path) -> CacheSpec:
    """``cache:`` resolved: a local folder, or a URL for the frames with the state kept locally."""
    url = storage_url(section.dir)
    folder = local_folder(LOCAL_STATE_DIR if url else section.dir, base_dir)
    return CacheSpec(dir=folder, search_ttl=section.search_ttl, url=url, storage_options=dict(section.storage_options))


def site_plan(config: LoadedConfig) -> SitePlan:
    model = config.model
    section = model.site
    return SitePlan(
        path=config.path,
        info=SiteInfo(
            title=section.title,
            description=section.description,
            base_url=section.base_url,
            templates=Path(resolve_ref(section.templates, config.base_dir)) if section.templates else None,
            source_root=config.base_dir,
        ),
        sources={name: source_spec(name, source, config) for name, source in model.sources.items()},
        collections=tuple(collection_spec(collection, index) for index, collection in enumerate(model.collections)),
        regions=tuple(region_spec(region, index, config) for index, region in enumerate(model.regions)),
        animations=tuple(plan_animations(config)),
        cache=cache_spec(model.cache, config.base_dir),
        executor=ExecutorSpec(kind=model.executor.kind, scheduler=model.executor.scheduler),
    )
