"""`challenge check`'s notes on the entity columns a graph challenger reads besides its features
(data/checks.py, entity_notes)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import yaml

from tests.reliability.conftest import invoke, tiny_config


def test_check_notes_a_graph_entity_with_fractional_values(
    tmp_path: Path, sim_frame: pl.DataFrame
) -> None:
    """An amount named as a graph's device made each row its own node, without a word."""
    data = tmp_path / "devices.parquet"
    sim_frame.with_columns(pl.col("TX_AMOUNT").alias("DEVICE_FLOAT")).write_parquet(data)
    cfg = tiny_config(data)
    graph = {"entities": ["CUSTOMER_ID", "DEVICE_FLOAT"], "windows_days": [1]}
    cfg["challengers"] = [{"name": "g", "kind": "graph", "graph": graph}]
    path = tmp_path / "graph.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    checked = invoke(["check", str(path)])
    assert checked.code == 0, checked.stderr
    said = " ".join(checked.stdout.split())
    assert "entity 'DEVICE_FLOAT' (read by 'g') has fractional values on" in said
    assert "each distinct value is one entity; is it an id?" in said
    assert "entity 'CUSTOMER_ID'" not in said
