"""The data audit's section of the report: its tables as a committee reads them."""

from __future__ import annotations

from challengers.report.audit_section import _future_rows


def _record(model: str, feature: str, changed: int, compared: int = 500) -> dict[str, object]:
    return {"model": model, "feature": feature, "rows_compared": compared, "rows_changed": changed}


def test_unchanged_recomputed_features_are_one_row_per_model_and_changed_ones_each_their_own() -> (
    None
):
    """The demo's graph challenger listed 94 rows of '0 changed', one per derived feature."""
    records = [_record("graph", f"f{i}", 0) for i in range(94)]
    records += [
        _record("leaky", "future_sum", 37),
        _record("leaky", "a", 0),
        _record("leaky", "b", 0),
    ]
    records += [_record("one", "only", 0, compared=20)]
    assert _future_rows(records) == [
        ["graph", "every feature it derives (94)", "500", "0"],
        ["leaky", "`future_sum`", "500", "37"],
        ["leaky", "its other features (2)", "500", "0"],
        ["one", "`only`", "20", "0"],
    ]
