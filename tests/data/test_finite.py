"""The finiteness check refuses what the models' float32 matrices would hold as infinite: the
infinities, and the float64 values too large for float32, exactly where ``to_matrix`` makes them
infinite (numpy's float32 conversion is the reference)."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from challengers.data.frames import FLOAT32_OVERFLOW, check_finite, to_matrix
from challengers.errors import DataError

FLT_MAX = float(np.finfo(np.float32).max)
LARGEST_KEPT = float(np.nextafter(FLOAT32_OVERFLOW, 0.0))  # rounds down to FLT_MAX


def test_the_threshold_is_where_float32_overflows() -> None:
    with np.errstate(over="ignore"):
        as_float32 = np.array([LARGEST_KEPT, FLOAT32_OVERFLOW, -FLOAT32_OVERFLOW]).astype(
            np.float32
        )
    assert as_float32[0] == FLT_MAX and np.isinf(as_float32[1:]).all()


@pytest.mark.parametrize(
    "value", [LARGEST_KEPT, -LARGEST_KEPT, FLT_MAX, 1e38, 5e-324, float("nan"), None]
)
def test_values_float32_holds_are_accepted(value: float | None) -> None:
    frame = pl.DataFrame({"x": [1.0, value, 2.0]}, schema={"x": pl.Float64})
    check_finite(frame, ["x"], "data.features")
    assert np.isfinite(to_matrix(frame, ["x"])[[0, 2]]).all()


@pytest.mark.parametrize(
    "value", [FLOAT32_OVERFLOW, -FLOAT32_OVERFLOW, 1e300, -1.7976931348623157e308]
)
def test_values_beyond_float32_are_counted_and_refused(value: float) -> None:
    frame = pl.DataFrame({"ok": [1.0] * 4, "x": [value, 0.0, value, None]})
    with pytest.raises(DataError) as raised:
        check_finite([frame.head(1), frame.tail(3)], ["ok", "x"], "data.features")
    assert str(raised.value).startswith(
        "data.features: feature 'x' has 2 values beyond float32's range (magnitude 3.4e38 or more)"
    )
    assert np.isinf(to_matrix(frame, ["x"])[:, 0]).sum() == 2


def test_an_infinity_is_named_as_one() -> None:
    frame = pl.DataFrame({"x": [float("-inf"), 1e300, float("inf")]})
    with pytest.raises(DataError, match="feature 'x' has 2 infinite values; replace them"):
        check_finite(frame, ["x"], "data.features")


def test_a_float32_column_holds_its_largest_values() -> None:
    frame = pl.DataFrame({"x": [FLT_MAX, -FLT_MAX]}, schema={"x": pl.Float32})
    check_finite(frame, ["x"], "data.features")


def test_random_extremes_agree_with_the_float32_matrix() -> None:
    """Magnitudes around the threshold, in float64: refused exactly when to_matrix gives an
    infinity from a finite value."""
    rng = np.random.default_rng(7)
    near = FLOAT32_OVERFLOW * (1 + rng.normal(0, 1e-7, 2_000))
    values = np.concatenate([near, -near, np.nextafter(near, np.inf), rng.normal(0, 1e38, 500)])
    for chunk in np.array_split(values, 40):
        frame = pl.DataFrame({"x": chunk})
        infinite = int(np.isinf(to_matrix(frame, ["x"])).sum())
        if infinite:
            with pytest.raises(DataError, match=f"has {infinite} values beyond float32"):
                check_finite(frame, ["x"], "data.features")
        else:
            check_finite(frame, ["x"], "data.features")
