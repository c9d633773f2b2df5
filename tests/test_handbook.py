"""The handbook's published baseline, reproduced through the tool (skipped without ../shared).

A scikit-learn logistic regression on standardised inputs, trained on the handbook split, is fed to
the tool as a score-column champion; the tool must report the handbook's figures: AUC 0.870,
average precision 0.605, card precision@100 0.291 (±0.002).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest
import yaml

from challengers.config import load_config
from challengers.pipeline import RunOptions, run_experiment

pytestmark = pytest.mark.handbook

FEATURES = [
    "TX_AMOUNT",
    "TX_DURING_WEEKEND",
    "TX_DURING_NIGHT",
    *[f"CUSTOMER_ID_{k}_{w}DAY_WINDOW" for w in (1, 7, 30) for k in ("NB_TX", "AVG_AMOUNT")],
    *[f"TERMINAL_ID_{k}_{w}DAY_WINDOW" for w in (1, 7, 30) for k in ("NB_TX", "RISK")],
]
TRAIN = (date(2018, 7, 25), date(2018, 7, 31))
TEST = (date(2018, 8, 8), date(2018, 8, 14))


def _handbook_split(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The handbook's get_train_test_set, written independently of the tool's split module."""
    day = pl.col("TX_DATETIME").dt.date()
    frame = pl.scan_parquet(path).filter(day.is_between(TRAIN[0], TEST[1])).collect()
    train = frame.filter(day.is_between(*TRAIN))
    known = set(train.filter(pl.col("TX_FRAUD") == 1)["CUSTOMER_ID"].to_list())
    test_days = []
    for offset in range(7):
        test_day = date.fromordinal(TEST[0].toordinal() + offset)
        delay_day = date.fromordinal(TRAIN[1].toordinal() + offset)  # the day d - 8
        rows = frame.filter(day == delay_day)
        known |= set(rows.filter(pl.col("TX_FRAUD") == 1)["CUSTOMER_ID"].to_list())
        test_days.append(
            frame.filter((day == test_day) & ~pl.col("CUSTOMER_ID").is_in(list(known)))
        )
    return train, pl.concat(test_days)


@pytest.fixture(scope="module")
def scored(handbook_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    train, test = _handbook_split(handbook_path)
    assert (test.height, int(test["TX_FRAUD"].sum())) == (58_264, 385)
    scaler = StandardScaler().fit(train.select(FEATURES).to_numpy())
    model = LogisticRegression().fit(
        scaler.transform(train.select(FEATURES).to_numpy()), train["TX_FRAUD"].to_numpy()
    )
    scores = model.predict_proba(scaler.transform(test.select(FEATURES).to_numpy()))[:, 1]
    out = tmp_path_factory.mktemp("handbook") / "scored.parquet"
    day = pl.col("TX_DATETIME").dt.date()
    window = pl.scan_parquet(handbook_path).filter(day.is_between(TRAIN[0], TEST[1])).collect()
    window.join(
        test.select("TRANSACTION_ID").with_columns(pl.Series("LR_SCORE", scores)),
        on="TRANSACTION_ID",
        how="left",
    ).with_columns(pl.col("LR_SCORE").fill_null(0.0)).write_parquet(out)
    return out


def test_tool_reproduces_the_handbook_logistic_regression(scored: Path, tmp_path: Path) -> None:
    config = {
        "name": "handbook-lr",
        "data": {
            "path": str(scored),
            "target": "TX_FRAUD",
            "time": "TX_DATETIME",
            "id": "TRANSACTION_ID",
            "amount": "TX_AMOUNT",
            "entity": "CUSTOMER_ID",
            "features": FEATURES,
        },
        "split": {
            "train": {"start": str(TRAIN[0]), "end": str(TRAIN[1])},
            "test": {"start": str(TEST[0]), "end": str(TEST[1])},
            "label_delay_days": 7,
            "exclude_known_frauds": True,
        },
        "champion": {"name": "handbook-lr", "score": "LR_SCORE"},
        "evaluation": {"metrics": ["roc_auc", "pr_auc", "entity_precision_at@100"], "bootstrap": 0},
    }
    path = tmp_path / "handbook.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_experiment(
        load_config(path),
        RunOptions(output_dir=tmp_path / "out", tracking_uri=f"sqlite:///{tmp_path}/m.db"),
    )
    assert (result.data.rows_test, result.data.positives_test) == (58_264, 385)
    metrics = result.champion.metrics
    assert metrics["roc_auc"] == pytest.approx(0.870, abs=0.002)
    assert metrics["pr_auc"] == pytest.approx(0.605, abs=0.002)
    assert metrics["entity_precision_at_100"] == pytest.approx(0.291, abs=0.002)
