"""A list logged as one MLflow param (a model's features): whole when it fits MLflow's limit, else
the names that fit and how many more, never a name cut in two."""

from __future__ import annotations

import pytest

from challengers.tracking import listed
from challengers.tracking.writing import PARAM_CHARS

WHOLE = "comparison.json lists them all"


def test_a_list_within_the_limit_is_joined_whole() -> None:
    names = [f"F{i:03d}_amountish" for i in range(300)]  # 4,799 characters
    assert listed(names, WHOLE) == ",".join(names)


@pytest.mark.parametrize(
    ("width", "count"), [(6, 999), (6, 1000), (6, 5000), (19, 301), (19, 1000), (40, 147)]
)
def test_a_longer_list_keeps_whole_names_and_counts_the_rest(width: int, count: int) -> None:
    names = [f"f{i}".ljust(width, "x") for i in range(count)]
    assert len(",".join(names)) > PARAM_CHARS  # the case is a list that does not fit
    text = listed(names, WHOLE)
    assert len(text) <= PARAM_CHARS
    head, _, tail = text.partition(",... (+")
    kept = head.split(",")
    assert kept == names[: len(kept)]  # the first names, in order, none cut
    assert tail == f"{count - len(kept)} more: {WHOLE})"
    # as many as fit beside the widest count of the rest: one more name would not have
    widest = len(f",... (+{count} more: {WHOLE})")
    assert len(head) + 1 + len(names[len(kept)]) + 1 + widest > PARAM_CHARS


def test_a_name_holding_a_comma_is_one_name_of_the_list() -> None:
    """A pure anomaly detector may read a column named 'nb,tx' (only the tree libraries refuse a
    comma): its features param read 'IS_ONLINE,nb,tx,MCC', four names for three. Quoted as in
    CSV, the param reads back as the model's list."""
    import csv

    names = ["IS_ONLINE", "nb,tx", 'say "hi"', " padded", "MCC"]
    text = listed(names, WHOLE)
    assert text == 'IS_ONLINE,"nb,tx","say ""hi"""," padded",MCC'
    assert next(csv.reader([text])) == names
