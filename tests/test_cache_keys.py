"""Cache keys are computed from the resolved values, every field of them: none can be forgotten.

Two values differing in any one field get different keys — the frame-cache key for every style
field that is not marked layer-neutral, the animation fingerprint for every field of the style,
the collection and the region — and a field added to a style later is covered with no change to
the key code.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

import pytest
import shapely
import shapely.affinity
from affine import Affine

from generator.core.canonical import canonical
from generator.core.model import (
    LAYER_NEUTRAL_KEY,
    AssetDescription,
    BandScaling,
    CategoricalScheme,
    Category,
    ChannelAsset,
    CollectionInfo,
    ColorOp,
    FramePlan,
    Grid,
    ItemAsset,
    Style,
    TrueColor,
)
from generator.render.cache import animation_fingerprint, layer_key
from generator.sources.regions import BorderLayer, Region

GRID = Grid("EPSG:4326", Affine(0.1, 0, 0, 0, -0.1, 10), 100, 100)
FRAME = FramePlan(
    datetime=datetime(2021, 1, 1, tzinfo=UTC),
    items=(ItemAsset("a", datetime(2021, 1, 1, tzinfo=UTC), "https://example.org/a.tif"),),
)
STYLE = Style(rescale=(0.0, 1.0))
COLLECTION = CollectionInfo(id="c", title="C")
REGION = Region(
    id="r", title="R", geometry=shapely.box(0, 0, 10, 10),
    border_layers=(BorderLayer(shapely.box(1, 1, 2, 2).boundary),),
)
SCHEME = CategoricalScheme((Category(1.0, (255, 0, 0), "one"), Category(2.0, (0, 0, 255), "two")))

#: Values for fields whose default gives nothing to vary generically (None, empty tuple).
WHEN_UNSET: dict[str, Any] = {
    "units": "K",
    "nodata": -9999.0,
    "expression": "b1 * 2",
    "color_ops": (ColorOp("gamma", (2.0,)),),
    "categories": SCHEME,
    "license": "CC-BY-4.0",
    "providers": ({"name": "Agency"},),
    "renders": {"dashboard": {"rescale": [[0, 1]]}},
    "doi": "10.0000/x",
    "citation": "Cite us",
    "time_density": "month",
    "borders": shapely.box(3, 3, 4, 4),
    "width": 3,
    "halo": "#ffffff",
    "attribution": "IGN",
    "nodata_color": "#ff00ff",
    "item_asset_bands": {"red": (BandScaling(0.0001, 0.0, 0.0),)},
    "ticks": (0.5,),
    "item_assets": {"red": AssetDescription("Red", ("data",))},
    "truecolor": TrueColor(),
}


def _other(name: str, value: Any) -> Any:
    """A value different from ``value`` for the field ``name``."""
    if value is None or value == () or value == {}:
        if name not in WHEN_UNSET:
            pytest.fail(f"field {name!r} has no test value: add one to WHEN_UNSET")
        return WHEN_UNSET[name]
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    if isinstance(value, str):
        return value + "-changed"
    if isinstance(value, tuple) and all(isinstance(part, (int, float)) for part in value):
        return (*value[:-1], value[-1] + 1)
    if isinstance(value, tuple) and dataclasses.is_dataclass(value[0]):
        return (_variants(value[0])[0][1], *value[1:])
    if isinstance(value, tuple):
        return (*value, value[-1])
    if isinstance(value, shapely.Geometry):
        return shapely.affinity.translate(value, 0.5, 0.5)
    pytest.fail(f"field {name!r}: no way to vary a {type(value).__name__}")


def _variants(value: Any) -> list[tuple[str, Any]]:
    """(field name, ``value`` with only that field changed), for every field."""
    return [
        (item.name, dataclasses.replace(value, **{item.name: _other(item.name, getattr(value, item.name))}))
        for item in dataclasses.fields(value)
    ]


def _layer_key(style: Style) -> str:
    return layer_key(FRAME, GRID, style, "region", 240, "local")


def _fingerprint(style: Style = STYLE, collection: CollectionInfo = COLLECTION, region: Region = REGION) -> str:
    return animation_fingerprint({"size": 512}, region, style, collection, (FRAME,), "local")


@pytest.mark.parametrize(("field", "changed"), _variants(STYLE), ids=[name for name, _ in _variants(STYLE)])
def test_every_style_field_changes_the_keys(field: str, changed: Style) -> None:
    assert _fingerprint(changed) != _fingerprint()
    neutral = next(item for item in dataclasses.fields(Style) if item.name == field).metadata.get(LAYER_NEUTRAL_KEY)
    if neutral:
        assert _layer_key(changed) == _layer_key(STYLE)  # colours only: the cached indices still hold
    else:
        assert _layer_key(changed) != _layer_key(STYLE)


def test_only_colours_are_layer_neutral() -> None:
    neutral = {item.name for item in dataclasses.fields(Style) if item.metadata.get(LAYER_NEUTRAL_KEY)}
    assert neutral == {"colormap", "units", "nodata_color", "ticks"}
    categorical = Style(rescale=(1.0, 2.0), categories=SCHEME)
    relabelled = CategoricalScheme(tuple(dataclasses.replace(c, label=c.label.upper()) for c in SCHEME.categories))
    assert _layer_key(dataclasses.replace(categorical, categories=relabelled)) == _layer_key(categorical)
    recoloured = CategoricalScheme((dataclasses.replace(SCHEME.categories[0], rgb=(0, 255, 0)), SCHEME.categories[1]))
    assert _layer_key(dataclasses.replace(categorical, categories=recoloured)) != _layer_key(categorical)


@pytest.mark.parametrize(
    "bands",
    [(BandScaling(0.0001, -0.1),), (BandScaling(0.0001, 0.0),), (BandScaling(nodata=0.0),), (BandScaling(), BandScaling(2.0))],
)
def test_stac_scale_offset_and_nodata_of_an_item_change_the_layer_key(bands: tuple[BandScaling, ...]) -> None:
    """What ``raster:bands`` says changes the values read; without it, keys stay as they were."""
    scaled = FramePlan(FRAME.datetime, tuple(dataclasses.replace(item, bands=bands) for item in FRAME.items))
    assert layer_key(scaled, GRID, STYLE, "region", 240, "local") != _layer_key(STYLE)
    assert animation_fingerprint({"size": 512}, REGION, STYLE, COLLECTION, (scaled,), "local") != _fingerprint()


@pytest.mark.parametrize(("field", "changed"), _variants(COLLECTION), ids=[name for name, _ in _variants(COLLECTION)])
def test_every_collection_field_changes_the_fingerprint(field: str, changed: CollectionInfo) -> None:
    assert _fingerprint(collection=changed) != _fingerprint()


@pytest.mark.parametrize(("field", "changed"), _variants(REGION), ids=[name for name, _ in _variants(REGION)])
def test_every_region_field_changes_the_fingerprint(field: str, changed: Region) -> None:
    assert _fingerprint(region=changed) != _fingerprint()


def test_a_field_added_to_the_style_later_changes_both_keys_with_no_key_code_change() -> None:
    extended = dataclasses.make_dataclass(
        "ExtendedStyle", [("new_option", int, dataclasses.field(default=0))], bases=(Style,), frozen=True
    )
    before, after = extended(rescale=(0.0, 1.0)), extended(rescale=(0.0, 1.0), new_option=1)
    assert _layer_key(after) != _layer_key(before)
    assert _fingerprint(after) != _fingerprint(before)


def test_canonical_form_refuses_unknown_types_instead_of_guessing() -> None:
    with pytest.raises(TypeError, match="object"):
        canonical({"x": object()})
    assert canonical((1, (2.0, "a"), {"k": None})) == [1, [2.0, "a"], {"k": None}]


TRUECOLOR = Style(rescale=(0.0, 255.0), truecolor=TrueColor())


@pytest.mark.parametrize(
    ("what", "changed"),
    [
        ("bidx", dataclasses.replace(TRUECOLOR.truecolor, bands=(3, 2, 1))),  # type: ignore[type-var]
        ("rescale", dataclasses.replace(TRUECOLOR.truecolor, rescale=((0.0, 200.0),) * 3)),  # type: ignore[type-var]
        ("gamma", dataclasses.replace(TRUECOLOR.truecolor, gamma=1.5)),  # type: ignore[type-var]
        ("saturation", dataclasses.replace(TRUECOLOR.truecolor, saturation=1.3)),  # type: ignore[type-var]
        ("assets", dataclasses.replace(TRUECOLOR.truecolor, assets=("red", "green", "blue"))),  # type: ignore[type-var]
    ],
)
def test_every_true_colour_setting_changes_both_keys(what: str, changed: TrueColor) -> None:
    """Band choice, rescale, gamma, saturation and the assets change pixels: a cached layer never hides them."""
    style = dataclasses.replace(TRUECOLOR, truecolor=changed)
    assert _layer_key(style) != _layer_key(TRUECOLOR)
    assert _fingerprint(style) != _fingerprint(TRUECOLOR)


def test_band_choice_of_a_colormap_style_changes_the_layer_key() -> None:
    one = Style(rescale=(0.0, 1.0), bidx=1, band_chosen=True)
    assert _layer_key(dataclasses.replace(one, bidx=2)) != _layer_key(one)
    assert _layer_key(dataclasses.replace(one, band_chosen=False)) != _layer_key(one)


def _three(hrefs: tuple[str, str, str]) -> FramePlan:
    channels = tuple(ChannelAsset(key, href) for key, href in zip(("red", "green", "blue"), hrefs, strict=True))
    item = ItemAsset("a", FRAME.datetime, hrefs[0], channels=channels)
    return FramePlan(FRAME.datetime, (item,))


def test_each_of_the_three_assets_is_in_the_layer_key() -> None:
    base = ("https://example.org/r.tif", "https://example.org/g.tif", "https://example.org/b.tif")
    key = layer_key(_three(base), GRID, TRUECOLOR, "region", 0, "local")
    for channel in range(3):
        other = tuple(href.replace(".tif", "2.tif") if n == channel else href for n, href in enumerate(base))
        assert layer_key(_three(other), GRID, TRUECOLOR, "region", 0, "local") != key  # type: ignore[arg-type]
