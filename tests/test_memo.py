"""core.memo: the bounded memo, and the memo a build is handed (fresh per build unless given)."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.core.memo import BoundedMemo, BuildMemo
from generator.core.model import AnimationRecord


def test_the_oldest_values_go_once_their_sizes_pass_the_limit() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(10)
    memo.put("a", 1, size=4)
    memo.put("b", 2, size=4)
    memo.put("c", 3, size=4)  # 12 > 10: "a" goes
    assert (memo.get("a"), memo.get("b"), memo.get("c")) == (None, 2, 3)


def test_a_value_over_the_limit_is_returned_but_not_kept_and_a_key_is_replaced() -> None:
    memo: BoundedMemo[str, int] = BoundedMemo(2)
    assert memo.put("big", 7, size=3) == 7
    assert memo.get("big") is None
    memo.put("a", 1)
    memo.put("a", 5)
    memo.put("b", 2)  # "a" counted once: both fit
    assert (memo.get("a"), memo.get("b")) == (5, 2)


# --------------------------------------------------------------------------- a build's memo


def _builds_memos(monkeypatch: pytest.MonkeyPatch) -> list[BuildMemo]:
    """The memos ``build`` makes for itself (a build given one makes none)."""
    import generator.engine.build as engine_build

    made: list[BuildMemo] = []

    def fresh() -> BuildMemo:
        made.append(BuildMemo())
        return made[-1]

    monkeypatch.setattr(engine_build, "BuildMemo", fresh)
    return made


def _decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The slugs of the records decoded from their documents from now on."""
    import generator.engine.output as output

    decoded: list[str] = []
    original = output.record_from_document

    def counting(document: object) -> AnimationRecord:
        record = original(document)
        decoded.append(record.slug)
        return record

    monkeypatch.setattr(output, "record_from_document", counting)
    return decoded


def test_builds_with_default_options_each_decode_into_a_memo_of_their_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator.engine.build import build

    from .test_engine import make_site

    config = make_site(tmp_path)
    made, decoded = _builds_memos(monkeypatch), _decodes(monkeypatch)
    build(config)  # cold: no record to load
    build(config)
    build(config)
    assert len(made) == 3 and len({id(memo) for memo in made}) == 3
    assert made[0].records.keys() == [] and decoded == ["c--a", "c--a"]  # each warm build decoded it
    (digest,) = made[1].records.keys()
    assert made[2].records.keys() == [digest]
    first, second = made[1].records.get(digest), made[2].records.get(digest)
    assert first is not None and first == second and first is not second  # nothing shared


def test_builds_given_one_memo_find_the_record_and_the_search_entry_decoded_before(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator.engine.build import BuildOptions, build

    from .test_build_caches import _age
    from .test_engine import make_site

    config = make_site(tmp_path)
    _age(tmp_path / "catalog", 60)  # a static catalog's walk is kept only once its files are not racy
    memo = BuildMemo()
    options = BuildOptions(memo=memo)
    made, decoded = _builds_memos(monkeypatch), _decodes(monkeypatch)
    build(config, options=options)
    assert memo.records.keys() == [] and len(memo.search_entries.keys()) == 1  # the entry it wrote
    (entry,) = memo.search_entries.keys()
    found = memo.search_entries.get(entry)
    build(config, options=options)
    assert decoded == ["c--a"]
    (digest,) = memo.records.keys()
    record = memo.records.get(digest)
    (warm,) = build(config, options=options).records
    assert decoded == ["c--a"] and warm is record  # not decoded again: the memo's record itself
    assert memo.records.keys() == [digest] and memo.search_entries.keys() == [entry]
    assert memo.search_entries.get(entry) is found  # read from the memo, not its file
    assert made == []
