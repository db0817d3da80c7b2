"""Animation records kept between builds: JSON, versioned, strict, never unpickled."""

from __future__ import annotations

import json
import logging
import pickle
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Literal

import pytest

from generator import __version__
from generator.core.memo import BuildMemo
from generator.core.model import (
    AnimationFiles,
    AnimationRecord,
    CategoricalScheme,
    Category,
    CollectionInfo,
    ColorOp,
    FramePlan,
    ItemAsset,
    Style,
)
from generator.core.records import RecordError, decode, encode
from generator.engine.output import RECORD_KIND, RecordStore, record_document, record_from_document

REPO = Path(__file__).resolve().parent.parent
PARIS = timezone(timedelta(hours=2))


@dataclass(frozen=True)
class PluginStyle(Style):
    """A subclass a plugin might use: records name it, and only an allowed one is read back."""


def rich_record(slug: str = "no2--france", style_class: type[Style] = Style) -> AnimationRecord:
    items = (
        ItemAsset("a", datetime(2024, 1, 1, tzinfo=UTC), "/data/a.tif", "/data/a.json", "2024-02-01T00:00:00Z"),
        ItemAsset("b", datetime(2024, 1, 15, 12, 30, 5, 123456, tzinfo=PARIS), "https://h.org/b.tif"),
    )
    style = style_class(
        rescale=(0.0, 2.5),
        colormap=("#000000", "#ffffff"),
        units="µmol/m²",
        nodata=-9999.0,
        bidx=2,
        resampling="bilinear",
        expression="b1/b2",
        color_ops=(ColorOp("gamma", (1.5,)), ColorOp("sigmoidal", (10.0, 0.5))),
        categories=CategoricalScheme((Category(1.0, (255, 0, 0), "one"), Category(2.0, (0, 0, 255), "two"))),
        band_chosen=True,
    )
    return AnimationRecord(
        id="no2 — France",
        slug=slug,
        status="ok",
        collection_id="no2",
        region_id="france",
        region_title="France",
        files=AnimationFiles(
            "p/index.html", {"gif": "p/a.gif", "webp": "p/a.webp"}, "p/poster.png", "p/thumb.png", frames=("p/1.png", "p/2.png"),
        ),
        collection=CollectionInfo(
            "no2", "NO₂", "desc", "CC-BY-4.0", providers=({"name": "NASA", "roles": ["host"]},),
            renders={"dashboard": {"rescale": [[0, 1]], "colormap_name": "viridis"}}, synthetic=True, doi="10.1/x",
        ),
        style=style,
        frames=(FramePlan(datetime(2024, 1, 1, tzinfo=UTC), items), FramePlan(datetime(2024, 2, 1, tzinfo=UTC), (), "gap")),
        frame_labels=("2024-01", "2024-02"),
        legend_colors=("#000000", "#ffffff"),
        legend_classes=(("one", "#ff0000"), ("two", "#0000ff")),
        fingerprint="f" * 64,
        width=512,
        height=474,
        error=None,
        notes=("dropped 1 frame",),
        crs="EPSG:3857",
        render={"frame_ms": 300, "basemap": None, "formats": ["gif", "webp"], "ratio": 0.5},
        map_credits=(("Borders", "IGN"),),
        region_outline=(((1.0, 2.0), (3.0, 4.5), (1.0, 2.0)),),
    )


def assert_same(decoded: AnimationRecord, original: AnimationRecord) -> None:
    assert decoded == original
    # Fields left out of == must survive too; and the classes and time zones exactly.
    assert decoded.render == original.render
    assert decoded.collection is not None and original.collection is not None
    assert decoded.collection.renders == original.collection.renders
    assert type(decoded.style) is type(original.style)
    assert [item.datetime.utcoffset() for item in decoded.frames[0].items] == [timedelta(0), timedelta(hours=2)]


def test_a_rich_record_round_trips_through_json() -> None:
    record = rich_record()
    text = json.dumps(encode(record, AnimationRecord))
    assert_same(decode(AnimationRecord, json.loads(text)), record)
    subclassed = rich_record(style_class=PluginStyle)
    text = json.dumps(encode(subclassed, AnimationRecord))
    assert_same(decode(AnimationRecord, json.loads(text), (PluginStyle,)), subclassed)


def test_a_plain_style_is_written_without_a_class_name() -> None:
    record = replace(rich_record(), style=Style(rescale=(0, 1)), collection=None)
    document = encode(record, AnimationRecord)
    assert "$class" not in document["style"]
    assert decode(AnimationRecord, document) == record


def test_a_style_subclass_must_be_allowed_by_name() -> None:
    document = encode(rich_record(style_class=PluginStyle), AnimationRecord)
    with pytest.raises(RecordError, match="not allowed"):
        decode(AnimationRecord, document)  # PluginStyle not in the allowlist
    document["style"]["$class"] = "Popen"
    with pytest.raises(RecordError, match="not allowed"):
        decode(AnimationRecord, document, (PluginStyle,))


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d.pop("width"),  # a missing field
        lambda d: d.update(colour="red"),  # an unknown field
        lambda d: d["frames"][0]["items"][0].update(extra=1),  # an unknown nested field
        lambda d: d.update(status="great"),  # not one of the Literal's values
        lambda d: d.update(width="512"),  # the wrong type
        lambda d: d.update(width=True),  # bool is not int
        lambda d: d["frames"][0].update(datetime="yesterday"),
        lambda d: d["legend_classes"][0].append("x"),  # a pair with three values
        lambda d: d["style"].update(rescale=None),
    ],
)
def test_decoding_is_strict(damage: Any) -> None:
    document = encode(rich_record(), AnimationRecord)
    damage(document)
    with pytest.raises(RecordError):
        decode(AnimationRecord, document)


@dataclass(frozen=True)
class Inner:
    when: datetime
    kind: Literal["a", "b"] = "a"


@dataclass(frozen=True)
class Outer:
    inner: Inner | None
    many: tuple[Inner, ...]
    pair: tuple[int, str]
    table: dict[str, tuple[float, ...]]
    either: str | tuple[str, ...] = "x"


def test_fields_added_later_are_handled_from_their_type_hints() -> None:
    value = Outer(Inner(datetime(2020, 1, 1, tzinfo=UTC), "b"), (Inner(datetime(2021, 1, 1)),), (1, "x"), {"k": (1.5, 2.0)}, ("a", "b"))
    assert decode(Outer, json.loads(json.dumps(encode(value, Outer)))) == value


def test_numpy_scalars_are_written_as_json_numbers() -> None:
    np = pytest.importorskip("numpy")
    record = replace(rich_record(), width=np.int64(5), style=Style(rescale=(np.float32(0.5), np.float64(2.0))))
    decoded = decode(AnimationRecord, json.loads(json.dumps(encode(record, AnimationRecord))))
    assert decoded.width == 5 and decoded.style is not None and decoded.style.rescale == (0.5, 2.0)


# --------------------------------------------------------------------------- the store


@pytest.fixture
def store(tmp_path: Path) -> RecordStore:
    return RecordStore(tmp_path / "state")


def record_path(store: RecordStore, slug: str) -> Path:
    assert store.root is not None
    return store.root / "records" / f"{slug}.json"


def test_the_store_keeps_a_readable_versioned_json_record(store: RecordStore) -> None:
    record = rich_record()
    store.save(record)
    document = json.loads(record_path(store, record.slug).read_text(encoding="utf-8"))
    assert (document["kind"], document["version"], document["generator"]) == (RECORD_KIND, 2, __version__)
    assert "$class" not in document["record"]["style"]  # the one resolved Style needs no class name
    loaded = store.load(record.slug)
    assert loaded is not None
    assert_same(loaded, record)
    assert [path.name for path in record_path(store, record.slug).parent.iterdir()] == [f"{record.slug}.json"]


def test_the_store_writes_no_secret_hrefs(store: RecordStore) -> None:
    signed = ItemAsset("s", datetime(2024, 1, 1, tzinfo=UTC), "https://u:pw@a.blob.core.windows.net/c/s.tif?sv=1&sig=SECRET",
                       "https://stac.example.org/items/s?token=SECRET")
    record = replace(rich_record(), frames=(FramePlan(datetime(2024, 1, 1, tzinfo=UTC), (signed,)),))
    store.save(record)
    text = record_path(store, record.slug).read_text(encoding="utf-8")
    assert "SECRET" not in text and "pw@" not in text
    loaded = store.load(record.slug)
    assert loaded is not None
    assert loaded.frames[0].items[0].href == "https://a.blob.core.windows.net/c/s.tif"
    assert loaded.frames[0].items[0].item_href == "https://stac.example.org/items/s"


class _CreatesAFileWhenUnpickled:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


def test_a_pickle_in_the_state_folder_is_never_loaded(store: RecordStore, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    marker = tmp_path / "unpickled"
    payload = pickle.dumps(((1, __version__), _CreatesAFileWhenUnpickled(marker)))
    folder = record_path(store, "x").parent
    folder.mkdir(parents=True)
    (folder / "x.pickle").write_bytes(payload)  # where older versions kept records
    (folder / "x.json").write_bytes(payload)
    with caplog.at_level(logging.DEBUG, logger="generator.engine.output"):
        assert store.load("x") is None
    assert not marker.exists()
    assert "ignoring the saved record" in caplog.text


@pytest.mark.parametrize(
    "change",
    [
        {"version": 1},  # written before records named their output folder and files
        {"version": 3},
        {"version": "2"},
        {"generator": "0.0.1"},
        {"kind": "something-else"},
        {"extra": 1},
    ],
)
def test_a_record_of_another_version_or_kind_is_ignored(store: RecordStore, change: dict[str, Any]) -> None:
    record = rich_record()
    document = {**record_document(record), **change}
    path = record_path(store, record.slug)
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps(document), encoding="utf-8")
    assert store.load(record.slug) is None
    with pytest.raises(RecordError):
        record_from_document(document)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "not-utf8", "a-list", "deep", "other-slug", "bad-field"])
def test_a_corrupt_record_is_ignored(store: RecordStore, damage: str) -> None:
    record = rich_record()
    store.save(record)
    path = record_path(store, record.slug)
    text = path.read_text(encoding="utf-8")
    if damage == "truncate":
        path.write_text(text[: len(text) // 2], encoding="utf-8")
    elif damage == "garbage":
        path.write_text("{not json", encoding="utf-8")
    elif damage == "not-utf8":
        path.write_bytes(b"\xff\xfe\x00garbage")
    elif damage == "a-list":
        path.write_text("[]", encoding="utf-8")
    elif damage == "deep":
        path.write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    elif damage == "other-slug":
        store.save(replace(record, slug="other"))
        record_path(store, "other").replace(path)
    else:
        path.write_text(text.replace('"width": 512', '"width": "wide"'), encoding="utf-8")
    assert store.load(record.slug) is None


def test_a_missing_record_or_no_cache_folder_is_none(store: RecordStore) -> None:
    assert store.load("nothing") is None
    assert RecordStore(None).load("x") is None
    RecordStore(None).save(rich_record())  # does nothing


def test_nothing_in_the_generator_can_unpickle() -> None:
    offenders = [
        str(path.relative_to(REPO))
        for path in (REPO / "generator").rglob("*.py")
        if re.search(r"pickle|\bdill\b|\bshelve\b|\bmarshal\b", path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_the_compiled_codecs_agree_with_the_step_by_step_ones() -> None:
    """``encode``/``decode`` run a function made once per type hint; the step-by-step walk of the hints
    is the reference (and says where a problem is)."""
    from generator.core import record_walk

    for value, cls in [(rich_record(), AnimationRecord), (rich_record(style_class=PluginStyle), AnimationRecord),
                       (Outer(None, (), (0, ""), {}, "y"), Outer)]:
        document = encode(value, cls)
        assert document == record_walk.encode_slow(value, cls)
        decoded = decode(cls, json.loads(json.dumps(document)), (PluginStyle,))
        assert decoded == record_walk.decode_slow(json.loads(json.dumps(document)), cls, {"PluginStyle": PluginStyle}, cls.__name__)
    document = encode(rich_record(), AnimationRecord)
    document["frames"][0]["items"][0]["extra"] = 1
    with pytest.raises(RecordError, match=r"AnimationRecord\.frames\[0\]\.items\[0\]: missing fields \[\], unknown fields \['extra'\]"):
        decode(AnimationRecord, document)
    with pytest.raises(TypeError, match="str where int is declared"):
        encode(replace(rich_record(), width="5"), AnimationRecord)


def test_a_records_digest_is_the_same_built_or_loaded_and_names_its_content(store: RecordStore) -> None:
    record = rich_record()
    digest = store.digest(record)
    store.save(record)
    loaded = RecordStore(store.root).load(record.slug)  # the next build's store
    assert loaded is not None
    assert RecordStore(store.root).digest(loaded) == digest  # what the site stage keys the pages by
    assert store.digest(replace(record, notes=("one more",))) != digest
    assert store.digest(replace(record, status="stale")) != digest


def test_the_same_record_bytes_are_decoded_once_per_memo_and_changed_bytes_again(store: RecordStore) -> None:
    record = rich_record()
    store.save(record)
    memo = BuildMemo().records
    first = RecordStore(store.root, decoded=memo).load(record.slug)
    assert first is not None and RecordStore(store.root, decoded=memo).load(record.slug) is first  # frozen: shared
    unshared = RecordStore(store.root).load(record.slug)  # no memo: decoded again
    assert unshared == first and unshared is not first
    store.save(replace(record, width=640))
    changed = RecordStore(store.root, decoded=memo).load(record.slug)
    assert changed is not None and changed.width == 640
    record_path(store, record.slug).write_text("{not json", encoding="utf-8")
    assert RecordStore(store.root, decoded=memo).load(record.slug) is None
