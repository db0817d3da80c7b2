"""Renderers are found by kind in one registry; each renderer module registers itself."""

from __future__ import annotations

from typing import get_args

import pytest

from generator.core.errors import ConfigError
from generator.core.specs import HttpSpec, RendererName, SourceSpec
from generator.render.local import LocalRenderer
from generator.render.registry import RendererSetup, make_renderer, register_renderer, renderer_kinds
from generator.render.titiler import TitilerRenderer
from generator.sources.http import HttpSettings

SOURCE = SourceSpec(name="s", where="site_config.yml: sources.s", catalog="/data/catalog.json")


def test_every_configurable_renderer_kind_is_registered() -> None:
    assert set(renderer_kinds()) == set(get_args(RendererName))


def test_local_runs_in_the_process_pool_and_titiler_in_threads_as_wide_as_the_host_bound() -> None:
    local = make_renderer("local", SOURCE)
    assert isinstance(local.renderer, LocalRenderer) and (local.cache_name, local.threads) == ("local", None)
    api = SourceSpec(
        name="s", where="w", api="https://stac.example.org", raster_api="https://tiles.example.org/raster?key=SECRET",
        http=HttpSpec(max_per_host=3),
    )
    titiler = make_renderer("titiler", api)
    assert isinstance(titiler.renderer, TitilerRenderer) and titiler.renderer.concurrency == 3
    assert (titiler.cache_name, titiler.threads) == ("titiler:https://tiles.example.org/raster", 3)
    with pytest.raises(ConfigError, match="raster_api"):
        make_renderer("titiler", SOURCE)


def test_a_new_renderer_is_one_registration() -> None:
    @register_renderer("probe")
    def probe(source: SourceSpec, settings: HttpSettings) -> RendererSetup:
        return RendererSetup(LocalRenderer(), f"probe:{source.name}:{settings.max_per_host}", threads=2)

    try:
        setup = make_renderer("probe", SOURCE)
        assert (setup.cache_name, setup.threads) == ("probe:s:4", 2)
        with pytest.raises(ValueError, match="twice"):
            register_renderer("probe")(lambda source, settings: setup)
    finally:
        from generator.render import registry

        registry._factories.pop("probe")
    with pytest.raises(ConfigError, match="unknown renderer 'probe'"):
        make_renderer("probe", SOURCE)
