"""core.memo: the bounded process memo behind the decoded-record and search-entry memos."""

from generator.core.memo import BoundedMemo


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
