"""Config loading: every error names file:line, the field, and the fix."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from challengers.config import load_config, parse_config
from challengers.errors import ConfigError
from tests.conftest import sim_config


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_demo_config_loads_and_resolves_paths() -> None:
    root = Path(__file__).resolve().parents[1]
    cfg = load_config(root / "configs" / "demo.yaml")
    assert Path(cfg.data.path) == root / "data" / "demo.parquet"  # normalised: no "configs/.."
    assert Path(cfg.data.path).exists()
    assert cfg.champion.model is not None and Path(cfg.champion.model).exists()
    # one challenger of each family, the scenario column named and kept out of the features
    assert [c.kind for c in cfg.challengers] == ["lightgbm", "graph", "anomaly"]
    assert cfg.data.scenario == "TX_FRAUD_SCENARIO" and cfg.data.scenario in cfg.data.drop
    assert cfg.evaluation.alert_rate == 0.02
    assert cfg.governance.fields()["Model id (inventory)"] == "FRD-DEMO-001"


def test_paths_are_normalised_so_a_moved_or_copied_config_keeps_them(tmp_path: Path) -> None:
    """``../data/x`` joined to the config's directory was kept as ``<dir>/../data/x``: once that
    directory moved, a replication read "file not found" though the data was where it was, and
    the same config copied into a sibling directory hashed differently. Normalised by the text
    only: a symbolic link in the path stays (the path the user gave)."""
    import shutil

    root = tmp_path.resolve()
    (root / "data").mkdir()
    (root / "data" / "sim.parquet").write_bytes(b"not read here")
    config = sim_config(Path("../data/sim.parquet"))
    config["champion"] = {"name": "champ", "model": "../data/champ.json"}
    copies = [root / folder / "experiment.yaml" for folder in ("cfgtmp", "sibling")]
    for path in copies:
        path.parent.mkdir()
        path.write_text(yaml.safe_dump(config, sort_keys=False))
    first, sibling = (load_config(path) for path in copies)
    assert first.data.path == str(root / "data" / "sim.parquet")
    assert first.champion.model == str(root / "data" / "champ.json")
    assert first.fingerprint() == sibling.fingerprint()

    resolved = yaml.safe_dump(first.resolved().model_dump(mode="json"))
    shutil.rmtree(root / "cfgtmp")  # the config's directory moved away
    replayed = parse_config(resolved, source=root / "run" / "config.resolved.yaml")
    assert replayed.data.path is not None and Path(replayed.data.path).exists()

    (root / "link").symlink_to(root / "data")
    config["data"]["path"] = "../link/./sim.parquet"
    copies[1].write_text(yaml.safe_dump(config, sort_keys=False))
    assert load_config(copies[1]).data.path == str(root / "link" / "sim.parquet")


def test_the_spark_demo_is_the_demo_on_spark() -> None:
    """configs/demo-spark.yaml is the demo's experiment (the same config hash, every section but
    the engine equal), run by Spark in this process."""
    root = Path(__file__).resolve().parents[1]
    demo = load_config(root / "configs" / "demo.yaml")
    spark = load_config(root / "configs" / "demo-spark.yaml")
    assert spark.engine.kind == "spark" and spark.engine.master == "local[2]"
    assert demo.engine.kind == "local"
    assert spark.fingerprint() == demo.fingerprint()
    assert spark.model_dump(exclude={"engine"}) == demo.model_dump(exclude={"engine"})
    assert spark.with_engine("local", None).model_dump() == demo.model_dump()


def test_unknown_key_names_line_and_closest_key(tmp_path: Path) -> None:
    text = (
        "name: x\n"
        "data:\n  path: d.parquet\n  target: y\n  time: t\n  featurs: [a]\n"
        "split:\n  train: {start: 2024-01-01, end: 2024-01-10}\n"
        "  test: {start: 2024-01-20, end: 2024-01-30}\n"
        "champion: {score: s}\n"
    )
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert (
        _error(path) == f"{path}:6: data.featurs: unknown key 'featurs'; did you mean 'features'?"
    )


def test_unknown_key_inside_a_challenger_uses_that_kind(
    sim_parquet: Path, write_config: Callable[..., Path]
) -> None:
    cfg = sim_config(sim_parquet)
    cfg["challengers"] = [
        {"name": "a", "kind": "graph", "graph": {"entities": ["A", "B"]}, "parms": {}}
    ]
    message = _error(write_config(cfg))
    assert "challengers[0].parms: unknown key 'parms'" in message
    assert message.split(":")[1].isdigit()


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        (
            lambda c: c["challengers"].append({"name": "z", "kind": "lgbm"}),
            "unknown challenger kind 'lgbm'",
        ),
        (
            lambda c: c["split"].update(test={"start": "2024-02-01", "end": "2024-03-01"}),
            "test window starts 2024-02-01, not after the training window ends 2024-02-20",
        ),
        (
            lambda c: c["split"]["train"].update(end="2024-01-01"),
            "end 2024-01-01 is before start 2024-01-31; swap them",
        ),
        (lambda c: c["split"]["train"].update(start="31/01/2024"), "write dates as YYYY-MM-DD"),
        (
            lambda c: c["champion"].update(model="m.json"),
            "champion.model and champion.retrain are exclusive",
        ),
        (lambda c: c["champion"].pop("retrain"), "give champion.model"),
        (
            lambda c: c["evaluation"].update(metrics=["roc_auc", "recall_at_fpr@1.5"]),
            "the rate must be in (0, 1]",
        ),
        (lambda c: c["evaluation"].update(bootstrap=-1), "greater than or equal to 0"),
        (lambda c: c["data"].pop("entity"), "needs data.entity"),
        (lambda c: c.update(name="has space"), "should match pattern"),
        (
            lambda c: c["challengers"].append({"name": "lgbm", "kind": "xgboost"}),
            "model names must be unique; repeated: lgbm",
        ),
        # models/lgbm and models/LGBM are one directory on macOS: one model's files replaced
        (
            lambda c: c["challengers"].append({"name": "LGBM", "kind": "xgboost"}),
            ":42: model names must differ by more than letter case: 'LGBM' and 'lgbm' name one "
            "directory where case is ignored (macOS, Windows); rename one",
        ),
        (lambda c: c["data"].pop("target"), "data.target: required key is missing"),
        (
            lambda c: c["challengers"].append(
                {"name": "g", "kind": "graph", "graph": {"entities": ["CUSTOMER_ID"] * 2}}
            ),
            "challengers[2].graph.entities: lists CUSTOMER_ID more than once; keep one",
        ),
        (
            lambda c: c["challengers"].append(
                {
                    "name": "g",
                    "kind": "graph",
                    "graph": {"entities": ["A", "B"], "windows_days": [7, 7]},
                }
            ),
            "challengers[2].graph.windows_days: lists 7 more than once; keep one",
        ),
        (lambda c: c["champion"].update(claimed={"auc": 0.9}), "'auc' is not a metric key"),
        (
            lambda c: c["champion"].update(
                claimed={"recall_at_fpr_0.010": 0.5, "recall_at_fpr@0.01": 0.6}
            ),
            "recall_at_fpr@0.01: claimed twice (as recall_at_fpr_0.01); keep one",
        ),
        (
            lambda c: c["data"].update(table="db.transactions"),
            "data: give data.path (files) or data.table (a Spark catalog table), not both",
        ),
        (lambda c: c["data"].pop("path"), "data: data needs path (a parquet or csv file, or a"),
        (
            lambda c: c["data"].pop("path") and c["data"].update(table="db.trans-actions"),
            "data.table: String should match pattern",
        ),
    ],
)
def test_invalid_configs_are_one_clear_line_each(
    sim_parquet: Path, write_config: Callable[..., Path], patch: Callable, expected: str
) -> None:
    cfg = sim_config(sim_parquet)
    patch(cfg)
    message = _error(write_config(cfg))
    assert expected in message
    assert "Traceback" not in message


TUNED_GRAPH = {
    "name": "g",
    "kind": "graph",
    "graph": {"entities": ["CUSTOMER_ID", "TERMINAL_ID"]},
    "model": {"kind": "lightgbm", "tune": {"validation_days": 20, "folds": 3}},
}


@pytest.mark.parametrize(
    ("patch", "line_holds", "expected"),
    [
        (
            lambda c: c["challengers"].append({"name": "lgbm", "kind": "xgboost"}),
            "- name: lgbm",
            "model names must be unique; repeated: lgbm",
        ),
        (
            lambda c: c["data"].pop("entity"),
            "exclude_known_frauds: true",
            "split.exclude_known_frauds needs data.entity",
        ),
        (
            lambda c: c["data"].pop("entity") and c["split"].update(exclude_known_frauds=False),
            "metrics:",
            "needs data.entity (the card/customer id)",
        ),
        (
            lambda c: c["champion"]["retrain"].update(tune={"trials": 2}),
            "tune:",
            "champion.retrain.tune: the champion replicates the documented spec",
        ),
        (
            lambda c: c["challengers"].append(
                {"name": "t", "kind": "xgboost", "tune": {"validation_days": 20, "folds": 3}}
            ),
            "tune:",
            "challenger 't' tune: the training window 2024-01-31..2024-02-20 (21 days) is too short",
        ),
        (
            lambda c: c["challengers"].append(TUNED_GRAPH),
            "tune:",
            "challenger 'g' tune: the training window",
        ),
    ],
)
def test_checks_across_sections_name_the_line_of_the_field_to_fix(
    sim_parquet: Path,
    write_config: Callable[..., Path],
    patch: Callable,
    line_holds: str,
    expected: str,
) -> None:
    """A check that reads several sections (pydantic gives it no line) points at the line where
    the fix goes: the repeated name, the tune block, the exclusion that needs an entity."""
    cfg = sim_config(sim_parquet)
    patch(cfg)
    path = write_config(cfg)
    message = _error(path)
    where, line, text = message.split(":", 2)
    assert where == str(path) and expected in text
    assert path.read_text().splitlines()[int(line) - 1].strip() == line_holds


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ndata:\n  path: [unclosed\n  target: y\n")
    message = _error(path)
    assert message.startswith(f"{path}:")
    assert "YAML syntax error" in message


def test_duplicate_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("name: x\nname: y\n")
    assert _error(path) == f"{path}:2: key 'name' appears twice; keep one"


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    assert "config file not found" in _error(tmp_path / "nope.yaml")
    path = tmp_path / "list.yaml"
    path.write_text("- a\n- b\n")
    assert "must be a YAML mapping" in _error(path)


def test_yaml_is_loaded_safely(tmp_path: Path) -> None:
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    assert "YAML" in _error(path)


def test_config_hash_is_stable_and_sensitive(sim_parquet: Path) -> None:
    text = yaml.safe_dump(sim_config(sim_parquet))
    a = parse_config(text, Path("a.yaml"))
    b = parse_config(text, Path("b.yaml"))
    c = parse_config(text.replace("seed: 7", "seed: 8"), Path("c.yaml"))
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_a_resolved_config_reads_back_on_either_engine(tmp_path: Path) -> None:
    """config.resolved.yaml writes every default, the engine's Spark-only settings included; a
    replication parses it back, so on the local engine those defaults are not refused (values set
    to other than the default still are)."""
    for engine in ({}, {"kind": "spark", "master": "local[2]", "sample_rows": 5000}):
        source = tmp_path / "experiment.yaml"
        config = sim_config(tmp_path / "x.parquet", engine=engine)
        cfg = parse_config(yaml.safe_dump(config), source)
        text = yaml.safe_dump(cfg.resolved().model_dump(mode="json"), sort_keys=False)
        assert parse_config(text, source).engine == cfg.engine
    local = sim_config(tmp_path / "x.parquet", engine={"kind": "local", "sample_rows": 5000})
    with pytest.raises(ConfigError, match=r"engine\.sample_rows needs engine\.kind: spark"):
        parse_config(yaml.safe_dump(local), tmp_path / "experiment.yaml")


def test_a_claim_is_filed_under_the_key_its_metric_is_logged_with(
    sim_parquet: Path, write_config: Callable[..., Path]
) -> None:
    """A documented 'precision_at_alerts_0.020' is the evaluated precision_at_alerts_0.02: under
    its own spelling it was never compared ('not evaluated; add it to evaluation.metrics')."""
    cfg = sim_config(sim_parquet)
    cfg["champion"]["claimed"] = {"precision_at_alerts_0.020": 0.9, "recall_at_fpr@0.010": 0.4}
    claimed = load_config(write_config(cfg)).champion.claimed
    assert claimed == {"precision_at_alerts_0.02": 0.9, "recall_at_fpr_0.01": 0.4}


def test_a_model_name_the_config_takes_is_one_mlflow_logs_a_model_under() -> None:
    """A challenger named ``lgbm.v2`` passed the config, trained, and ended the run at MLflow's
    logged-model check (exit 3, blaming the store). Every character MLflow refuses there is
    refused when the config loads, and the names the config takes pass MLflow's check."""
    from mlflow.exceptions import MlflowException
    from mlflow.utils.validation import _validate_logged_model_name
    from pydantic import ValidationError

    from challengers.config.models import ChampionConfig

    for good in ("lgbm", "LGBM-2_b", "0xgb"):
        _validate_logged_model_name(ChampionConfig(name=good, score="s").name)
    for char in "/:.%\"'":
        name = f"a{char}b"
        with pytest.raises(MlflowException):
            _validate_logged_model_name(name)
        with pytest.raises(ValidationError, match="a model's name is letters, digits"):
            ChampionConfig(name=name, score="s")


def test_free_text_may_hold_line_breaks(tmp_path: Path, sim_parquet: Path) -> None:
    """Names are refused with a control character; the governance's text and the description keep
    their line breaks (a YAML block scalar)."""
    cfg = sim_config(sim_parquet)
    cfg["description"] = "first line\nsecond line"
    cfg["governance"] = {"purpose": "score\tcard transactions\nat authorisation"}
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump(cfg))
    loaded = load_config(path)
    assert loaded.description == "first line\nsecond line"
    assert loaded.governance.purpose == "score\tcard transactions\nat authorisation"


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("on", "True"),
        ("NO", "False"),
        ("null", "None"),
        ("2024-01-01", "datetime.date(2024, 1, 1)"),
        ("1", "1"),
    ],
)
def test_a_name_yaml_reads_as_another_type_says_to_quote_it(
    written: str, read: str, tmp_path: Path, sim_parquet: Path
) -> None:
    """A column named on, NO (Norway's code), null, a date or a number, written unquoted, reaches
    the config as YAML's own reading: the line said 'Input should be a valid string (got True)'
    of a name the user wrote as on."""
    cfg = sim_config(sim_parquet)
    text = yaml.safe_dump(cfg, sort_keys=False).replace("- REGION", f"- {written}", 1)
    path = tmp_path / "c.yaml"
    path.write_text(text)
    assert f"- {written}\n" in text
    message = _error(path)
    assert (
        f"data.segments[0]: Input should be a valid string (got {read}); YAML reads on/off, "
        in message
    )
    assert message.endswith("quote a name that looks like one ('on')")
