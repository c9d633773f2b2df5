"""Regenerate demo-comparison.json: `.venv/bin/python tests/golden/regenerate.py`.

Only when a change is meant to move the numbers (say which and why in the commit): the file is the
record that a refactoring changed nothing.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))

from tests.golden.compare import stable_comparison  # noqa: E402


def main() -> None:
    from challengers.config import load_config
    from challengers.pipeline import RunOptions, run_experiment

    with tempfile.TemporaryDirectory() as tmp:
        cfg = load_config(HERE / "demo.yaml")
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        result = run_experiment(cfg, RunOptions(output_dir=Path(tmp) / "out", tracking_uri=uri))
        document = stable_comparison(result.to_comparison())
    (HERE / "demo-comparison.json").write_text(
        json.dumps(document, indent=1, sort_keys=True) + "\n"
    )


if __name__ == "__main__":
    main()
