"""The training window fed to the tree libraries block by block: XGBoost's quantile matrix and
LightGBM's dataset are built from the frame without its whole float32 matrix, and give the same
cuts, bins and models as from that matrix (tests/models/test_blocks.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import polars as pl

from challengers.allocator import drop_read_pages
from challengers.data.frames import to_matrix

# rows a tree library reads at a time while it bins the training window: 2**22 (4.2M) rows of 11
# features are 185 MB of float32, where the window's whole matrix was 1.4 GB at 100M transactions
# (31.8M rows) and 4.2 GB at 300M. A window of up to 4.2M rows (10M transactions) is one block:
# XGBoost gets the very matrix it got before
TRAIN_BLOCK = 1 << 22


def quantile_matrix(
    frame: pl.DataFrame,
    features: tuple[str, ...],
    y: np.ndarray,
    *,
    threads: int,
    max_bin: int | None = None,
) -> Any:
    """XGBoost's ``QuantileDMatrix`` of the features and labels ``y``, fed block by block of
    :data:`TRAIN_BLOCK` rows through a ``DataIter`` (XGBoost reads the blocks several times: rows
    and sketch, then bins), each block's float32 matrix made when asked for and dropped after.
    Its cuts come from one sketch pushed all blocks in row order: the same matrix as from one
    block (tests/models/test_blocks.py). ``max_bin``: the training params' (XGBoost refuses to
    train on a matrix binned otherwise); None is XGBoost's default."""
    import xgboost as xgb

    step, names = TRAIN_BLOCK, list(features)

    class Blocks(xgb.DataIter):
        def __init__(self) -> None:
            self.start, self.done = 0, False
            super().__init__(release_data=True)

        def next(self, input_data: Callable[..., None]) -> bool:
            if self.done:  # (an empty frame is one empty block)
                return False
            stop = min(self.start + step, frame.height)
            drop_read_pages()  # the block before is pushed: see FrameRows.__getitem__
            x = to_matrix(frame.slice(self.start, stop - self.start), features)
            input_data(data=x, label=y[self.start : stop], feature_names=names)
            self.start, self.done = stop, stop >= frame.height
            return True

        def reset(self) -> None:
            self.start, self.done = 0, False

    return xgb.QuantileDMatrix(Blocks(), nthread=threads, max_bin=max_bin)


def lightgbm_dataset(
    frame: pl.DataFrame,
    features: tuple[str, ...],
    y: np.ndarray,
    params: dict[str, Any],
    *,
    reference: Any = None,
) -> Any:
    """LightGBM's ``Dataset`` of the features and labels ``y``, read from the frame as a
    :class:`FrameRows` sequence, never as one float32 matrix: the same dataset, bin for bin, as
    from ``to_matrix`` (tests/models/test_blocks.py). A validation dataset gives the training
    one as ``reference``: binned with its bins.

    LightGBM's Python package builds a sequence's bins from the dataset's ``get_params()``, the
    dataset parameters alone, where a matrix's bins see every parameter: without ``seed`` (and
    ``min_data_in_leaf``, which filters features) it sampled other rows and binned them
    otherwise. The dataset here answers ``get_params()`` with all of them, as the matrix path
    reads them; training copies the same ones from it, and so does a validation dataset."""
    import lightgbm as lgb

    class Dataset(lgb.Dataset):
        def get_params(self) -> dict[str, Any]:
            return dict(self.params or {})

        @staticmethod
        def _yield_row_from_seqlist(seqs: list[Any], indices: Any) -> Iterator[np.ndarray]:
            # the bin sample's rows (LightGBM asks for them one index at a time) gathered at
            # once: LightGBM's own loop made every row of the window into float64 to keep 200k
            (rows,) = seqs
            return iter(rows.sample(np.asarray(indices)))

    lgb.Sequence.register(FrameRows)
    return Dataset(
        FrameRows(frame, features),
        label=y,
        reference=reference,
        feature_name=list(features),
        params=params,
        free_raw_data=True,
    )


class FrameRows:
    """The features of a frame as a ``lightgbm.Sequence``: LightGBM bins the training window from
    it without the window's float32 matrix.

    LightGBM reads it twice, as its numpy path reads a matrix. First its bin sample: the rows of
    ``LGBM_SampleIndices`` (the C++ sampler of ``LGBM_DatasetCreateFromMat``, same seed),
    gathered at once by :meth:`sample` (:func:`lightgbm_dataset`'s dataset asks for them so).
    They are float64 (the float32 values, exactly): LightGBM hands the sample to C++ as doubles
    whatever its dtype. Then every row, in blocks of ``batch_size`` rows (float32, as
    ``to_matrix``), pushed into the bins."""

    def __init__(
        self, frame: pl.DataFrame, features: tuple[str, ...], batch_size: int | None = None
    ) -> None:
        self.frame, self.features = frame, features
        self.batch_size = batch_size or TRAIN_BLOCK  # read by LightGBM

    def __len__(self) -> int:
        return self.frame.height

    def __getitem__(self, index: int | slice | list[int]) -> np.ndarray:
        if isinstance(index, slice):
            # the block before is pushed into the bins: its rows' pages (a spilled window's,
            # pipeline/spill.py) are let go of, so the build holds a block of the window, not
            # every page it read (100M rows: 1.0 GB of features; XGBoost's build 3.22 -> 2.54 GB)
            drop_read_pages()
            start, stop, stride = index.indices(self.frame.height)
            rows = self.frame.slice(start, max(stop - start, 0))
            return to_matrix(rows if stride == 1 else rows.gather_every(stride), self.features)
        if isinstance(index, list):  # Dataset.subset
            return to_matrix(self.frame.select(self.features)[index], self.features)
        return self.sample(np.array([index]))[0]

    def sample(self, indices: np.ndarray) -> np.ndarray:
        """The rows at ``indices`` as one float64 matrix (the float32 values, exactly): the
        features' values alone gathered (the frame's every column was: at 100M rows in the file,
        200k random rows read in all 1.4 GB of a spilled training window's pages)."""
        rows = self.frame.select(self.features)[indices]
        return to_matrix(rows, self.features).astype(np.float64)
