"""Catalogue of bad configs and bad arguments: each ends in exit 2 (3 for the environment) and one
stderr line saying what, where and how to fix it, never a traceback.

Bad data is in test_bad_data.py, bad champion models in test_bad_models.py, the tracking store in
test_tracking_store.py. Cases already covered elsewhere are not repeated here: a YAML syntax error,
duplicate keys, a list as config, a missing config file, an unsafe YAML tag (tests/test_config.py);
an unknown key, a missing column, a 0/1 target with other values, an empty or fraud-less test
window, a missing model file, missing champion features, a pickle without --allow-pickle, an
unreachable tracking server on `run` (tests/cli/test_cli.py).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import sim_config
from tests.reliability.conftest import CHALLENGE, Outcome, invoke


@dataclass(frozen=True)
class Bad:
    """A config edit (or raw text), the command's extra arguments, and the expected answer."""

    id: str
    edit: Callable[[dict[str, Any]], Any] | str | bytes | None = None
    expect: tuple[str, ...] = ()
    args: tuple[str, ...] = ()
    command: str = "check"
    code: int = 2


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """An edit setting a dotted key (integers index lists)."""

    def edit(cfg: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = cfg
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return edit


CONFIGS = [
    Bad("empty-file", "", ("the config must be a YAML mapping",)),
    Bad("only-a-comment", "# nothing here\n", ("the config must be a YAML mapping",)),
    Bad("a-scalar", "just a sentence\n", ("must be a YAML mapping (key: value lines)",)),
    Bad(
        "tab-indentation",
        "name: x\ndata:\n\tpath: d.parquet\n",
        (":3: YAML syntax error", "check indentation and quoting"),
    ),
    Bad("not-utf8", b"name: caf\xe9\n", (":1: not UTF-8 text (byte 0xe9)", "save the config")),
    Bad(
        "seed-not-a-number",
        _set("seed", "abc"),
        ("seed: Input should be a valid integer", "(got 'abc')"),
    ),
    Bad(
        "seed-beyond-64-bits",
        _set("seed", 10**23),
        ("seed: Input should be less than or equal to 9223372036854775807",),
    ),
    Bad("data-a-string", _set("data", "x.parquet"), ("data: Input should be a valid dictionary",)),
    Bad("challengers-a-mapping", _set("challengers", {"a": 1}), ("challengers: Input should be",)),
    Bad(
        "challenger-a-string",
        _set("challengers", ["lgbm"]),
        ("challengers[0]: Input should be a valid dictionary", "(got 'lgbm')"),
    ),
    Bad(
        "unknown-section",
        lambda c: c.update(evaluaton={"bootstrap": 10}),
        ("evaluaton: unknown key 'evaluaton'; did you mean 'evaluation'?",),
    ),
    Bad(
        "unknown-key-in-cost",
        _set("evaluation.cost", {"false_positives": 3}),
        ("evaluation.cost.false_positives", "did you mean 'false_positive'?"),
    ),
    Bad(
        "unknown-metric",
        _set("evaluation.metrics", ["roc_auc", "prauc"]),
        ("evaluation.metrics: unknown metric 'prauc'; did you mean 'pr_auc'?",),
    ),
    Bad(
        "metric-rate-out-of-range",
        _set("evaluation.metrics", ["precision_at_alerts@2"]),
        ("metric 'precision_at_alerts@2': the rate must be in (0, 1], got 2",),
    ),
    Bad(
        "metric-parameter-not-a-number",
        _set("evaluation.metrics", ["recall_at_fpr@low"]),
        ("metric 'recall_at_fpr@low': parameter 'low' is not a number",),
    ),
    Bad(
        "metric-takes-no-parameter",
        _set("evaluation.metrics", ["roc_auc@3"]),
        ("metric 'roc_auc' takes no parameter; write 'roc_auc'",),
    ),
    Bad(
        "entity-k-zero",
        _set("evaluation.metrics", ["entity_precision_at@0"]),
        ("k must be a positive integer, got 0",),
    ),
    Bad("no-metrics", _set("evaluation.metrics", []), ("list at least one metric",)),
    Bad("alpha-above-half", _set("evaluation.alpha", 1.5), ("evaluation.alpha", "less than 0.5")),
    Bad("alpha-zero", _set("evaluation.alpha", 0), ("evaluation.alpha", "greater than 0")),
    Bad(
        "bootstrap-too-large",
        _set("evaluation.bootstrap", 10**7),
        ("evaluation.bootstrap", "less than or equal to 100000"),
    ),
    Bad(
        "bootstrap-a-word",
        _set("evaluation.bootstrap", "many"),
        ("evaluation.bootstrap: Input should be a valid integer", "(got 'many')"),
    ),
    Bad(
        "resample-unknown",
        _set("evaluation.resample", "bootstrap"),
        ("evaluation.resample: Input should be 'entity', 'day' or 'row'",),
    ),
    Bad(
        "misspelt-kind",
        lambda c: c["challengers"].append({"name": "x", "kind": "xgbost"}),
        ("unknown challenger kind 'xgbost'; did you mean 'xgboost'?",),
    ),
    Bad(
        "challenger-without-kind",
        lambda c: c["challengers"].append({"name": "x"}),
        ("each challenger needs 'kind'",),
    ),
    Bad(
        "misspelt-detector",
        lambda c: c["challengers"].append({"name": "a", "kind": "anomaly", "detector": "iforst"}),
        ("challengers[2].detector: unknown detector 'iforst'; did you mean 'iforest'?",),
    ),
    Bad(
        "day-that-does-not-exist",
        _set("split.train.start", "2024-02-30"),
        ("split.train.start", "day value is outside expected range", "YYYY-MM-DD"),
    ),
    Bad(
        "test-window-starts-on-last-training-day",
        _set("split.test.start", "2024-02-20"),
        ("test window starts 2024-02-20, not after the training window ends 2024-02-20",),
    ),
    Bad(
        "negative-label-delay",
        _set("split.label_delay_days", -1),
        ("split.label_delay_days", "greater than or equal to 0"),
    ),
    Bad(
        "feature-listed-twice",
        _set("data.features", ["TX_AMOUNT", "MCC", "TX_AMOUNT"]),
        ("data.features: lists TX_AMOUNT more than once; keep one",),
    ),
    Bad(
        "name-with-path-separator",
        _set("name", "../../etc/evil"),
        ("name: String should match pattern",),
    ),
    Bad(
        "model-name-with-path-separator",
        _set("challengers.0.name", "a/../../b"),
        ("challengers[0].name: a model's name is letters, digits, '_' and '-'", "'a/../../b'"),
    ),
    # MLflow refuses a logged model named with a '.': the run failed after every model had trained
    # ("tracking store ... failed while logging model lgbm.v2", exit 3)
    Bad(
        "model-name-with-a-dot",
        _set("challengers.0.name", "lgbm.v2"),
        (
            "challengers[0].name: a model's name is letters, digits, '_' and '-', starting with a "
            "letter or digit; got 'lgbm.v2': MLflow refuses '.' in a logged model's name; use '-' "
            "or '_' instead",
        ),
    ),
    Bad(
        "champion-name-with-a-dot",
        _set("champion.name", "xgb.2024"),
        ("champion.name: a model's name is letters", "got 'xgb.2024'"),
    ),
    # a name with a line break broke the one-line error quoting it in two ("error: column not in
    # the data: 'TX" / "error: FRAUD' ..."); an escape sequence was played on the terminal
    Bad(
        "column-name-with-a-newline",
        _set("data.target", "TX\nFRAUD"),
        (
            ":6: data.target: 'TX\\nFRAUD' holds the control character '\\n'; a name is one "
            "line of printable text: remove it",
        ),
    ),
    Bad(
        "feature-name-with-an-escape",
        _set("challengers.0.features", ["TX_AMOUNT", "MCC\x1b[2J"]),
        ("challengers[0].features[1]: 'MCC\\x1b[2J' holds the control character '\\x1b'",),
    ),
    Bad(
        "params-key-with-a-newline",
        _set("challengers.0.params", {"num_leaves\n": 3}),
        ("challengers[0].params: the key 'num_leaves\\n' holds the control character '\\n'",),
    ),
    Bad(
        "governance-with-an-escape",
        _set("governance", {"owner": "first line\x1b[31m"}),
        (
            "governance.owner: 'first line\\x1b[31m' holds the control character '\\x1b'; "
            "remove it (text may hold line breaks and tabs)",
        ),
    ),
    Bad(
        "credentials-in-tracking-uri",
        _set("tracking", {"uri": "http://alice:s3cr3t-pw@127.0.0.1:5000"}),
        ("tracking.uri: the URI holds credentials", "MLFLOW_TRACKING_PASSWORD"),
    ),
    Bad(
        "register-alias-reserved-by-mlflow",
        _set("tracking", {"register": {"name": "fraud", "alias": "Latest"}}),
        (
            "tracking.register.alias: alias 'Latest' is reserved by the MLflow registry (latest "
            "and v<number>, in any letter case",
            "choose another alias",
        ),
    ),
    Bad(
        "register-alias-a-version",
        _set("tracking", {"register": {"name": "fraud", "alias": "v1"}}),
        ("tracking.register.alias: alias 'v1' is reserved by the MLflow registry",),
    ),
    Bad(
        "register-alias-with-a-space",
        _set("tracking", {"register": {"name": "fraud", "alias": "to review"}}),
        ("tracking.register.alias: alias 'to review' holds characters", "write e.g. to_review"),
    ),
    Bad(
        "claimed-figure-a-word",
        _set("champion.claimed", {"roc_auc": "high"}),
        ("champion.claimed.roc_auc: Input should be a valid number",),
    ),
    Bad(
        "zero-threads", _set("threads", 0), ("threads: Input should be greater than or equal to 1",)
    ),
    Bad(
        "claimed-as-a-percentage",
        _set("champion.claimed", {"roc_auc": 87}),
        (
            "champion.claimed: roc_auc: 87 is outside 0..1, where roc_auc lies; a percentage is "
            "written as a fraction (87% is 0.87)",
        ),
    ),
    Bad(
        "claimed-not-a-number",
        _set("champion.claimed", {"pr_auc": float("nan")}),
        ("champion.claimed: pr_auc: the claimed figure is nan; write the documented number",),
    ),
    Bad(
        "rounds-a-word",
        _set("challengers.0.params", {"n_estimators": "abc"}),
        ("challengers[0].params: n_estimators is 'abc'", "whole number from 1 to"),
    ),
    Bad(
        "rounds-infinite",
        _set("challengers.0.params", {"n_estimators": float("inf")}),
        ("challengers[0].params: n_estimators is inf", "write e.g. n_estimators: 100"),
    ),
    Bad(
        "rounds-negative",
        _set("champion.retrain.params", {"num_boost_round": -5}),
        ("champion.retrain.params: num_boost_round is -5", "whole number"),
    ),
    Bad(
        "tree-parameter-not-a-number",
        _set("challengers.1.params", {"learning_rate": float("nan"), "n_estimators": 5}),
        (
            "challengers[1].params: learning_rate is nan: a tree parameter is a finite number; "
            "give one, or remove learning_rate for the library's default",
        ),
    ),
    Bad(
        "tuned-range-to-infinity",
        _set("challengers.0.tune", {"space": {"lambda_l2": {"low": 0, "high": float("inf")}}}),
        ("challengers[0].tune.space.lambda_l2: low and high are finite numbers, got 0.0 and inf",),
    ),
    Bad(
        "lightgbm-misspelt-parameter",
        _set("challengers.0.params.learning_rte", 0.3),
        (
            "challengers[0].params: LightGBM has no parameter 'learning_rte' (did you mean "
            "'learning_rate'?); it would ignore it and train with its default",
        ),
    ),
    Bad(
        "xgboost-misspelt-parameters",
        _set("challengers.1.params", {"max_dept": 3, "colsample_bytre": 0.5, "n_estimators": 5}),
        (
            "challengers[1].params: XGBoost has no parameters 'max_dept' (did you mean "
            "'max_depth'?), 'colsample_bytre' (did you mean 'colsample_bytree'?); it would "
            "ignore them and train with its defaults",
        ),
    ),
    Bad(
        "retrained-champion-parameter-of-the-other-library",
        lambda c: c["champion"]["retrain"].update(kind="xgboost", params={"num_leaves": 15}),
        ("champion.retrain.params: XGBoost has no parameter 'num_leaves' (did you mean",),
    ),
    Bad(
        "tuned-space-misspelt-parameter",
        _set("challengers.0.tune", {"trials": 2, "space": {"num_leavs": {"low": 8, "high": 64}}}),
        ("challengers[0].tune: LightGBM has no parameter 'num_leavs' (did you mean",),
    ),
    Bad(
        "graph-rounds-fractional",
        lambda c: c["challengers"].append(
            {
                "name": "g",
                "kind": "graph",
                "graph": {"entities": ["CUSTOMER_ID", "TERMINAL_ID"]},
                "model": {"kind": "xgboost", "params": {"num_round": 2.5}},
            }
        ),
        ("challengers[2].model.params: num_round is 2.5",),
    ),
    Bad(
        "experiment-name-too-long-for-the-file-system",
        _set("name", "a" * 300),
        ("name: 'aaaa", "is 300 bytes; file names on this file system hold at most"),
    ),
    Bad(
        "challenger-name-too-long-for-the-file-system",
        _set("challengers.0.name", "b" * 240),
        ("challengers[0].name:", "is 240 bytes", "shorten it to at most"),
    ),
    Bad(
        "champion-score-is-the-target",
        _set("champion", {"name": "champ", "score": "TX_FRAUD"}),
        ("champion.score: 'TX_FRAUD' is the target column (data.target)",),
    ),
    Bad(
        "champion-model-an-http-url",
        _set("champion", {"name": "champ", "model": "http://models.example/champion.txt"}),
        ("champion.model: 'http://models.example/champion.txt' is a http:// URL", "models:/"),
    ),
    Bad(
        "false-negative-cost-a-word",
        _set("evaluation.cost", {"false_negative": "amt"}),
        ("evaluation.cost.false_negative: give a cost per missed fraud (a number) or 'amount'",),
    ),
    Bad(
        "entity-metric-without-entity",
        lambda c: (c["data"].pop("entity"), c["split"].update(exclude_known_frauds=False)),
        ("metric entity_precision_at needs data.entity",),
    ),
    Bad(
        "primary-not-a-metric",
        _set("evaluation.primary", "ks"),
        ("primary 'ks' is not among evaluation.metrics; use one of: roc_auc, pr_auc",),
    ),
    Bad(
        "day-blocks-over-a-short-window-and-cards-spanning-days",
        _set("evaluation.resample", "day"),
        (
            "evaluation.resample: day blocks do not hold here: the test rows fall on 12 days "
            "(day blocks need 20);",
            "entities have rows on several test days; use entity (or row), or set "
            "evaluation.resample_force: true to use days anyway",
        ),
    ),
]


ARGUMENTS = [
    Bad(
        "only-unknown",
        expect=("--only lgbn: no such challenger; did you mean 'lgbm'?",),
        args=("--only", "lgbn"),
        command="run",
    ),
    Bad(
        "only-the-champion",
        expect=(
            "--only champ: 'champ' is the champion, which every run scores;",
            "challengers: lgbm, xgb",
        ),
        args=("--only", "champ"),
        command="run",
    ),
    Bad(
        "fail-on-unknown",
        expect=("--fail-on severe: use high, medium or low",),
        args=("--fail-on", "severe"),
        command="run",
    ),
    Bad(
        "resume-without-output",
        expect=("--resume needs --output DIR",),
        args=("--resume",),
        command="run",
    ),
    Bad(
        "resume-missing-directory",
        expect=("--resume:", "does not exist; give the --output directory of the interrupted run"),
        args=("--resume", "--output", "{tmp}/never-ran"),
        command="run",
    ),
    Bad(
        "output-is-a-file",
        expect=("--output", "a-file is a file, not a directory; choose a directory path"),
        args=("--output", "{tmp}/a-file"),
        command="run",
    ),
    Bad(
        "output-below-a-file",
        expect=("--output", "a-file is a file, not a directory"),
        args=("--output", "{tmp}/a-file/run"),
        command="run",
    ),
    Bad(
        "tracking-uri-unknown-scheme",
        expect=(
            "tracking URI 'ftp://host/store' has an unknown scheme 'ftp'",
            "sqlite:///mlflow.db",
        ),
        args=("--tracking-uri", "ftp://host/store"),
    ),
    Bad(
        "tracking-uri-file-store",
        expect=("tracking URI 'file:///tmp/mlruns' is a directory store", "sqlite:///mlflow.db"),
        args=("--tracking-uri", "file:///tmp/mlruns"),
    ),
    Bad(
        "tracking-uri-a-database-path",
        expect=("runs.db' is a database file's path, not a URI; write sqlite:////",),
        args=("--tracking-uri", "{tmp}/runs.db"),
    ),
    Bad(
        "tracking-uri-garbage",
        expect=("tracking URI 'not a uri' is a directory store", "http://host:port"),
        args=("--tracking-uri", "not a uri"),
        command="run",
    ),
    Bad(
        "tracking-uri-sqlite-without-path",
        expect=("tracking URI 'sqlite://' names no database file",),
        args=("--tracking-uri", "sqlite://"),
    ),
    Bad(
        "output-too-long-for-the-file-system",
        expect=("--output: the path component", "file names on this file system hold at most"),
        args=("--output", "{tmp}/" + "o" * 300),
        command="run",
    ),
    Bad(
        "audit-fail-on-unknown",
        expect=("--fail-on never: use high, medium or low",),
        args=("--fail-on", "never"),
        command="audit",
    ),
]


def _invoke(case: Bad, tmp_path: Path, sim_parquet: Path) -> str:
    cfg = sim_config(sim_parquet)
    path = tmp_path / "experiment.yaml"
    if isinstance(case.edit, bytes):
        path.write_bytes(case.edit)
    elif isinstance(case.edit, str):
        path.write_text(case.edit)
    else:
        import yaml

        if case.edit is not None:
            case.edit(cfg)
        path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    (tmp_path / "a-file").write_text("not a directory")
    args = [a.replace("{tmp}", str(tmp_path)) for a in case.args]
    if "--tracking-uri" not in args and case.command != "audit":
        args += ["--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"]
    outcome = invoke([case.command, str(path), *args, "-q"])
    return outcome.error(case.code, *case.expect)


@pytest.mark.parametrize("case", CONFIGS, ids=lambda c: c.id)
def test_bad_config(case: Bad, tmp_path: Path, sim_parquet: Path) -> None:
    line = _invoke(case, tmp_path, sim_parquet)
    if not isinstance(case.edit, bytes | str):
        # where: the file and the line of the offending key (file:line), or the field's path
        where = line.split(":")[1]
        assert f"{tmp_path / 'experiment.yaml'}:" in line or "." in where or where == " name"


@pytest.mark.parametrize("case", ARGUMENTS, ids=lambda c: c.id)
def test_bad_argument(case: Bad, tmp_path: Path, sim_parquet: Path) -> None:
    _invoke(case, tmp_path, sim_parquet)
    # refused before any work: no output directory, no run left behind (the store may be opened)
    left = {p.name for p in tmp_path.iterdir()} - {"experiment.yaml", "a-file"}
    assert left <= {"mlflow.db", ".mlflow.db.lock", "mlruns"}, left


def test_config_path_is_a_directory(tmp_path: Path) -> None:
    invoke(["check", str(tmp_path)]).error(2, "is a directory; give the YAML config file")


def test_replicate_needs_a_run_or_a_config() -> None:
    invoke(["replicate"]).error(2, "give a RUN_ID or --config PATH (one of them)")


@pytest.mark.parametrize("tolerance", ["nan", "-1", "-inf"])
def test_replicate_tolerance_is_a_number_at_least_0(tolerance: str) -> None:
    """NaN failed click's range check, which answered "should be greater than or equal to 0"."""
    invoke(["replicate", "0123abcd", "--tolerance", tolerance]).error(
        2, f"--tolerance {tolerance}: give a number >= 0, e.g. 1e-6"
    )


def test_no_secret_in_the_refusal(tmp_path: Path, sim_parquet: Path) -> None:
    """The refusal of a URI with credentials does not repeat them."""
    case = next(c for c in CONFIGS if c.id == "credentials-in-tracking-uri")
    assert "s3cr3t-pw" not in _invoke(case, tmp_path, sim_parquet)


SIMULATE = [
    (["--out", "{tmp}"], 2, "is a directory; give a file name such as"),
    (["--out", "{tmp}/x.csv"], 2, "simulate writes parquet; name the file"),
    (["--out", "{tmp}/x.parquet", "--days", "0"], 2, "days must be from 1 to 36,600 (a century)"),
    (["--out", "{tmp}/x.parquet", "--days", "100000"], 2, "(a century), got 100000"),
    (["--out", "{tmp}/x.parquet", "--seed", "-5"], 2, "seed must be 0 or more, got -5"),
    (
        ["--out", "{tmp}/x.parquet", "--start", "9999-12-01", "--days", "100"],
        2,
        "simulate: 100 days from 9999-12-01 end past 9999-12-31; start earlier",
    ),
]


@pytest.mark.parametrize(
    ("args", "code", "expect"),
    SIMULATE,
    ids=["dir", "csv", "days-0", "days-1e5", "seed-negative", "past-9999"],
)
def test_bad_simulate_arguments(args: list[str], code: int, expect: str, tmp_path: Path) -> None:
    filled = [a.replace("{tmp}", str(tmp_path)) for a in args]
    invoke(["simulate", "--rows", "2000", *filled, "-q"]).error(code, expect)
    assert not list(tmp_path.iterdir())  # nothing written, no parquet bytes in x.csv


def test_a_simulation_the_memory_cannot_hold_is_refused_before_any_work(tmp_path: Path) -> None:
    """50M rows over 10 days: 5M customers, about 5.1 GB with a row group, against a budget of
    100 MB (less what this process holds)."""
    out = tmp_path / "x.parquet"
    invoke(
        ["simulate", "--rows", "50000000", "--days", "10", "--out", out, "-q"],
        env={"CHALLENGE_MEMORY": "100M"},
    ).error(
        3,
        "simulate: 50,000,000 rows over 10 days simulate 5,000,000 customers, about 5.1 GB of "
        "memory, but ",
        "is left (CHALLENGE_MEMORY=100M); ask for fewer rows or more --days",
    )
    assert not list(tmp_path.iterdir())


def test_a_file_the_disk_cannot_hold_is_refused_before_any_work(tmp_path: Path) -> None:
    """10^11 rows over a century: 2.7 million customers (about 3 GB of memory, which passes) and
    a file of about 2,049 GB."""
    import shutil

    from challengers.simulate import SimulationSpec

    spec = SimulationSpec(rows=10**11, days=36_600)
    if shutil.disk_usage(tmp_path).free >= spec.file_bytes():
        pytest.skip("this disk holds the 2 TB file")
    out = tmp_path / "new" / "x.parquet"  # its folder does not exist yet: the disk's is measured
    line = invoke(["simulate", "--rows", str(10**11), "--days", "36600", "--out", out, "-q"]).error(
        3, f"--out {out}: 100,000,000,000 rows take about 2048.9 GB on disk, but {tmp_path} has"
    )
    assert line.endswith("free; ask for fewer rows or write elsewhere")
    assert not list(tmp_path.iterdir())


def test_simulate_into_an_unwritable_directory(unwritable_dir: Path) -> None:
    target = unwritable_dir / "x.parquet"
    invoke(["simulate", "--rows", "2000", "--out", str(target), "-q"]).error(
        3, f"--out {target}: cannot write in {unwritable_dir}", "choose a writable location"
    )


def test_a_deleted_working_directory_is_one_line(tmp_path: Path, sim_parquet: Path) -> None:
    """`challenge check` from a directory that was removed: exit 3, not a FileNotFoundError."""
    import yaml

    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump(sim_config(sim_parquet)))
    gone = tmp_path / "gone"
    gone.mkdir()
    process = subprocess.Popen(
        [CHALLENGE, "check", str(config), "-q"],
        cwd=gone,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=gone.rmdir,
    )
    _, stderr = process.communicate(timeout=120)
    outcome = Outcome(process.returncode, "", stderr)
    outcome.error(3, "the working directory no longer exists", "cd into an existing directory")


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_a_port_no_server_can_bind_is_refused_before_one_starts(port: str) -> None:
    """It started MLflow's server, which failed, and the line asked whether the port was free."""
    outcome = invoke(["ui", "--port", port])
    assert outcome.code == 2 and "Invalid value for '--port'" in outcome.stderr
    assert "MLflow server" not in outcome.stderr + outcome.stdout


@pytest.mark.parametrize("command", ["check", "run"])
def test_a_deleted_experiment_is_refused_before_any_work(
    command: str, tmp_path: Path, sim_parquet: Path, empty_store: Path
) -> None:
    """`check` said the config was valid; `run` failed with MLflow's 'Cannot set a deleted
    experiment' (exit 3) once the data was loaded and audited, leaving audit.json, config.yaml and
    fingerprint.json behind, so the same command then said the directory held an earlier run.
    Exit 3: the config is sound; the store's state stops it (as an unreachable store does)."""
    import yaml
    from mlflow import MlflowClient

    from tests.conftest import new_store

    uri = new_store(empty_store, tmp_path)
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("sim")
    client.delete_experiment(experiment)
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump(sim_config(sim_parquet)))
    out = tmp_path / "out"
    extra = ["--output", str(out)] if command == "run" else []
    outcome = invoke([command, str(config), "--tracking-uri", uri, *extra, "-q"])
    outcome.error(
        3,
        f"experiment 'sim' is deleted in the tracking store {uri} (id {experiment}), so nothing "
        "can be logged to it; restore it with "
        f"`MLFLOW_TRACKING_URI={uri} mlflow experiments restore --experiment-id {experiment}`",
        "or set another name in the config (`name:`)",
    )
    assert not out.exists()
    assert client.get_experiment(experiment).lifecycle_stage == "deleted"


def test_an_escape_in_a_path_is_shown_not_played(tmp_path: Path, sim_parquet: Path) -> None:
    """The error line writes a control character out: an escape sequence in the name of a file
    the data's glob matched (clear the screen, here) reached the terminal as is."""
    import yaml

    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "part\x1b[2J.parquet").write_bytes(b"")
    cfg = sim_config(sim_parquet)
    cfg["data"]["path"] = str(tmp_path / "d" / "*.parquet")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    line = invoke(["check", str(tmp_path / "c.yaml"), "-q"]).error(2)
    assert line == (
        f"error: data.path: {tmp_path}/d/part\\x1b[2J.parquet is empty (0 bytes); regenerate or "
        "remove it"
    )


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (
            ["check", "/tmp/a\nb.yaml"],
            "error: CONFIG: '/tmp/a\\nb.yaml' holds the control character '\\n'; remove it",
        ),
        (
            ["run", "c.yaml", "-o", "out\x1b[2J"],
            "error: --output: 'out\\x1b[2J' holds the control character '\\x1b'; remove it",
        ),
        (
            ["compare", "abc\ndef"],
            "error: RUN_IDS: 'abc\\ndef' holds the control character '\\n'; remove it",
        ),
    ],
)
def test_an_argument_with_a_line_break_is_one_line(args: list[str], expect: str) -> None:
    """A config path pasted with its newline printed 'error: /tmp/a' and 'error: b.yaml: config
    file not found' (every message quoting it broke in two)."""
    assert invoke(args).error(2) == expect
