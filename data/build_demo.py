"""Rebuild the embedded demo: data/demo.parquet and the champion data/champion.json.

The champion plays the first line's production model: an XGBoost trained on the demo's training
window with the first-line feature set. Deterministic: running this again gives the same files.

    .venv/bin/python data/build_demo.py
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl

from challengers.data.frames import to_matrix
from challengers.simulate import SimulationSpec, simulate

HERE = Path(__file__).resolve().parent
SPEC = SimulationSpec(rows=250_000, seed=2024, start=date(2024, 1, 1), days=91)
TRAIN = (date(2024, 2, 1), date(2024, 2, 29))
CHAMPION_FEATURES = [
    "TX_AMOUNT",
    "IS_ONLINE",
    "MCC",
    "TX_HOUR",
    "TX_DURING_NIGHT",
    "TX_DURING_WEEKEND",
    "CUSTOMER_NB_TX_1D",
    "CUSTOMER_AVG_AMOUNT_30D",
    "AMOUNT_TO_AVG_30D",
]
CHAMPION_PARAMS = {
    "objective": "binary:logistic",
    "max_depth": 4,
    "eta": 0.1,
    "subsample": 0.8,
    "seed": 7,
    "nthread": 1,
    "tree_method": "hist",
}


def build() -> None:
    import xgboost as xgb

    data = HERE / "demo.parquet"
    simulate(SPEC, data)
    frame = pl.read_parquet(data).filter(pl.col("TX_DATETIME").dt.date().is_between(*TRAIN))
    dtrain = xgb.DMatrix(
        to_matrix(frame, CHAMPION_FEATURES),
        label=frame.get_column("TX_FRAUD").to_numpy(),
        feature_names=CHAMPION_FEATURES,
    )
    booster = xgb.train(CHAMPION_PARAMS, dtrain, num_boost_round=150)
    booster.save_model(str(HERE / "champion.json"))
    print(f"wrote {data} ({data.stat().st_size / 1e6:.1f} MB) and {HERE / 'champion.json'}")


if __name__ == "__main__":
    build()
