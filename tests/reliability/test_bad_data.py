"""Catalogue of bad data: each ends in exit 2 and one line naming the file, column or window and the
fix; what is allowed (missing feature values, a constant feature) is shown to be allowed."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from tests.conftest import sim_config
from tests.reliability.conftest import invoke, tiny_config

TX = pl.col("TRANSACTION_ID")
IN_TRAIN = pl.col("TX_DATETIME").is_between(datetime(2024, 1, 31), datetime(2024, 2, 21))
IN_TEST = pl.col("TX_DATETIME").is_between(datetime(2024, 2, 28), datetime(2024, 3, 11))
IN_GAP = pl.col("TX_DATETIME").is_between(datetime(2024, 2, 21), datetime(2024, 2, 28), "left")
ISO = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class BadData:
    id: str
    make: Callable[[pl.DataFrame, Path], Path]  # writes the data into the directory, returns it
    expect: tuple[str, ...]
    edit: Callable[[dict[str, Any]], Any] | None = None


def parquet(change: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[[pl.DataFrame, Path], Path]:
    def make(frame: pl.DataFrame, directory: Path) -> Path:
        path = directory / "data.parquet"
        change(frame).write_parquet(path)
        return path

    return make


def text(name: str, content: Callable[[pl.DataFrame], str | bytes]) -> Callable[..., Path]:
    def make(frame: pl.DataFrame, directory: Path) -> Path:
        path = directory / name
        body = content(frame)
        path.write_bytes(body if isinstance(body, bytes) else body.encode())
        return path

    return make


def csv_with(edit: Callable[[list[str]], None]) -> Callable[[pl.DataFrame], str]:
    def content(frame: pl.DataFrame) -> str:
        lines = frame.write_csv().splitlines()
        edit(lines)
        return "\n".join(lines) + "\n"

    return content


def _set_line(i: int, change: Callable[[str], str]) -> Callable[[list[str]], None]:
    def edit(lines: list[str]) -> None:
        lines[i] = change(lines[i])

    return edit


def _rename_header(lines: list[str]) -> None:
    lines[0] = lines[0].replace("TERMINAL_ID", "CUSTOMER_ID")


def _to_a_known_fraudster(moved: pl.Expr) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """The ``moved`` rows given to a customer with a fraud in the training window, whose rows
    the test window leaves out (split.exclude_known_frauds)."""

    def change(frame: pl.DataFrame) -> pl.DataFrame:
        fraudster = frame.filter(IN_TRAIN & (pl.col("TX_FRAUD") == 1)).item(0, "CUSTOMER_ID")
        return _column("CUSTOMER_ID", pl.lit(fraudster), moved)(frame)

    return change


def _glob_of(change_second: Callable[[pl.DataFrame], pl.DataFrame]) -> Callable[..., Path]:
    def make(frame: pl.DataFrame, directory: Path) -> Path:
        cut = pl.col("TX_DATETIME") < datetime(2024, 2, 15)
        frame.filter(cut).write_parquet(directory / "part-1.parquet")
        change_second(frame.filter(~cut)).write_parquet(directory / "part-2.parquet")
        return directory / "part-*.parquet"

    return make


def _column(name: str, value: pl.Expr, where: pl.Expr | None = None) -> Callable[..., Any]:
    def change(frame: pl.DataFrame) -> pl.DataFrame:
        new = value if where is None else pl.when(where).then(value).otherwise(pl.col(name))
        return frame.with_columns(new.alias(name))

    return change


def _float_entity(value: pl.Expr, where: pl.Expr) -> Callable[[pl.DataFrame], pl.DataFrame]:
    """CUSTOMER_ID as Float64 (ids read from a CSV with gaps, or a pandas export), ``value``
    (a NaN: no id, but not null) on the ``where`` rows."""

    def change(frame: pl.DataFrame) -> pl.DataFrame:
        floats = frame.with_columns(pl.col("CUSTOMER_ID").cast(pl.Float64))
        return _column("CUSTOMER_ID", value, where)(floats)

    return change


FRAUD = pl.col("TX_FRAUD") == 1
NAN = pl.lit(float("nan"))


def _value_metric(cfg: dict[str, Any]) -> None:
    cfg["evaluation"].update(metrics=["pr_auc", "value_detection_at_alerts@0.01"])


def _amount_cost(cfg: dict[str, Any]) -> None:
    cfg["evaluation"].update(
        metrics=["pr_auc", "expected_cost"],
        cost={"false_positive": 5.0, "false_negative": "amount"},
    )


def _score_champion(cfg: dict[str, Any]) -> None:
    cfg["champion"] = {"name": "champ", "score": "PROD_SCORE"}


def _with_score(value: pl.Expr) -> Callable[[pl.DataFrame], pl.DataFrame]:
    return lambda f: f.with_columns(value.alias("PROD_SCORE"))


CASES = [
    BadData(
        "file-missing",
        lambda f, d: d / "absent.parquet",
        ("data.path: file not found:", "absent.parquet", "check data.path in the config"),
    ),
    BadData(
        "file-empty",
        text("data.parquet", lambda f: b""),
        ("data.path:", "data.parquet is empty (0 bytes); regenerate or remove it"),
    ),
    BadData(
        "parquet-unreadable",
        text("data.parquet", lambda f: b"PAR1 this is not a parquet file at all"),
        ("data.path: cannot read", "data.parquet"),
    ),
    BadData(
        "parquet-truncated",
        lambda f, d: _truncated(f, d),
        ("data.path: cannot read", "data.parquet"),
    ),
    BadData(
        "parquet-without-rows",
        parquet(lambda f: f.head(0)),
        ("data.parquet holds no rows (only a header or a schema)",),
    ),
    BadData(
        "csv-header-only",
        text("data.csv", lambda f: f.head(0).write_csv()),
        ("data.csv holds no rows",),
    ),
    BadData(
        "csv-row-with-extra-fields",
        text("data.csv", csv_with(_set_line(20_000, lambda s: s + ",1,2"))),
        ("data.path:", "data.csv line 20001 has 20 fields, the header 18", "fix or remove the row"),
    ),
    BadData(
        "csv-row-with-other-separator",
        text("data.csv", csv_with(_set_line(30_000, lambda s: s.replace(",", ";", 4)))),
        ("data.csv line 30001 has 14 fields, the header 18",),
    ),
    BadData(
        "csv-text-in-a-number-column",
        text("data.csv", csv_with(_set_line(35_000, lambda s: "n/a" + s[s.index(",") :]))),
        ("data.path:", "could not parse `n/a`", "TRANSACTION_ID"),
    ),
    BadData(
        "csv-repeated-column",
        text("data.csv", csv_with(_rename_header)),
        ("data.path: the header of", "repeats the column 'CUSTOMER_ID'; rename one"),
    ),
    BadData(
        "glob-matches-nothing",
        lambda f, d: d / "nothing-*.parquet",
        ("data.path: no file matches", "nothing-*.parquet", "check the pattern"),
    ),
    BadData(
        "path-is-a-directory",
        lambda f, d: d,
        ("is a directory; give a file or a glob such as dir/*.parquet",),
    ),
    BadData(
        "unsupported-file-type",
        text("data.json", lambda f: "[]"),
        ("unsupported file type '.json'", "use .parquet or .csv"),
    ),
    BadData(
        "glob-files-with-other-columns",
        _glob_of(lambda f: f.drop("MCC")),
        ("data.path: the files do not share one schema", "MCC", "same columns and types"),
    ),
    BadData(
        "glob-files-with-other-types",
        _glob_of(lambda f: f.with_columns(pl.col("MCC").cast(pl.String))),
        ("data.path: the files do not share one schema", "MCC"),
    ),
    BadData(
        "misspelt-time-column",
        parquet(lambda f: f),
        ("'TX_DATETME' (data.time), did you mean 'TX_DATETIME'?", "Available:"),
        edit=lambda c: c["data"].update(time="TX_DATETME"),
    ),
    BadData(
        "misspelt-segment-column",
        parquet(lambda f: f),
        ("'REGIONS' (data.segments), did you mean 'REGION'?",),
        edit=lambda c: c["data"].update(segments=["REGIONS"]),
    ),
    BadData(
        "target-with-nulls",
        parquet(_column("TX_FRAUD", pl.lit(None, pl.Int8), IN_TRAIN & (TX % 400 == 0))),
        (
            "data.target: column 'TX_FRAUD' has",
            "null labels in the training window (2024-01-31..2024-02-20; the first on 2024-",
            "the models learn from them: fill them with the labels as known now",
        ),
    ),
    BadData(  # said as "3964 null values": where, and what to fill them with, unsaid
        "target-null-in-the-gap-between-the-windows",
        parquet(_column("TX_FRAUD", pl.lit(None, pl.Int8), IN_GAP)),
        (
            "null labels in the gap between the training and test windows (2024-02-21..2024-02-27;"
            " the first on 2024-02-21)",
            "production knows a day's labels 8 days later, during the test window, where the "
            "known-fraud exclusion reads them",
            "fill them with the labels as known now (0 where no fraud was reported)",
        ),
    ),
    BadData(
        "target-null-in-the-gap-and-the-test-window",
        parquet(
            _column("TX_FRAUD", pl.lit(None, pl.Int8), (IN_GAP & (TX % 2 == 0)) | (TX == 39_000))
        ),
        ("null labels (", " in the gap between the training and test windows (", "1 in the test"),
    ),
    BadData(
        "target-as-text",
        parquet(_column("TX_FRAUD", pl.col("TX_FRAUD").cast(pl.String))),
        ("data.target: column 'TX_FRAUD' is String; labels must be 0 or 1",),
    ),
    BadData(
        "target-with-fractions",
        parquet(_column("TX_FRAUD", pl.col("TX_FRAUD") * 0.5)),
        ("holds values other than 0/1 (0.5); map it to 0 = genuine, 1 = fraud",),
    ),
    BadData(
        "training-window-only-frauds",
        parquet(_column("TX_FRAUD", pl.lit(1, pl.Int8), IN_TRAIN)),
        ("split.train: every row of the window 2024-01-31..2024-02-20 is a fraud",),
    ),
    BadData(
        "training-window-without-frauds",
        parquet(_column("TX_FRAUD", pl.lit(0, pl.Int8), IN_TRAIN)),
        ("split.train: the window 2024-01-31..2024-02-20 has", "but no frauds", "widen or move"),
    ),
    BadData(
        "test-window-only-known-fraudsters",
        parquet(_to_a_known_fraudster(IN_TEST)),
        (
            "split.test: the window 2024-02-28..2024-03-10 has no rows left once the",
            "rows of entities (CUSTOMER_ID) with a fraud known before their day are left out",
            "set split.exclude_known_frauds: false",
        ),
    ),
    BadData(
        "test-frauds-only-of-known-fraudsters",
        parquet(_to_a_known_fraudster(IN_TEST & (pl.col("TX_FRAUD") == 1))),
        ("split.test: the window 2024-02-28..2024-03-10 has", "rows but no frauds left once the"),
    ),
    BadData(
        "windows-before-the-data",
        parquet(lambda f: f),
        ("split.train: the window 2023-01-01..2023-01-31 has no rows; the data covers",),
        edit=lambda c: c["split"].update(
            train={"start": "2023-01-01", "end": "2023-01-31"},
            test={"start": "2023-02-10", "end": "2023-02-20"},
        ),
    ),
    BadData(
        "time-not-a-timestamp",
        parquet(_column("TX_DATETIME", pl.col("TX_DATETIME").dt.epoch("s"))),
        ("data.time: column 'TX_DATETIME' is Int64, not a timestamp",),
    ),
    BadData(
        "time-unparsable-value",
        parquet(
            _column(
                "TX_DATETIME",
                pl.when(TX == 20_000)
                .then(pl.lit("yesterday"))
                .otherwise(pl.col("TX_DATETIME").dt.strftime(ISO)),
            )
        ),
        ("data.time: column 'TX_DATETIME' has values that are not timestamps", "ISO 8601"),
    ),
    BadData(
        "time-day-month-text",
        parquet(_column("TX_DATETIME", pl.col("TX_DATETIME").dt.strftime("%d/%m/%Y %H:%M"))),
        ("holds text like '01/01/2024 00:00', not ISO 8601", "ambiguous"),
    ),
    BadData(
        "time-zones-mixed",
        parquet(
            _column(
                "TX_DATETIME",
                pl.when(TX % 2 == 0)
                .then(pl.col("TX_DATETIME").dt.strftime(ISO + "+02:00"))
                .otherwise(pl.col("TX_DATETIME").dt.strftime(ISO)),
            )
        ),
        ("data.time: column 'TX_DATETIME' mixes times with a UTC offset", "offset or none"),
    ),
    BadData(
        "infinite-feature",
        parquet(_column("TX_AMOUNT", pl.lit(float("inf")), IN_TEST & (TX % 97 == 0))),
        ("data.features: feature 'TX_AMOUNT' has", "infinite values; replace them with null"),
    ),
    BadData(
        "feature-beyond-float32",  # a legacy extract's "missing": the models' float32 reads inf
        parquet(_column("TX_AMOUNT", pl.lit(1.7976931348623157e308), IN_TRAIN & (TX % 89 == 0))),
        ("data.features: feature 'TX_AMOUNT' has", "values beyond float32's range", "with null"),
    ),
    BadData(
        "text-column-as-feature",
        parquet(lambda f: f),
        ("data.features: feature 'REGION' is String, not numeric", "add it to data.drop"),
        edit=lambda c: c["data"].update(features=["TX_AMOUNT", "REGION"]),
    ),
    BadData(
        "challenger-without-features",
        parquet(lambda f: f),
        ("challengers.lgbm.features: the challenger has no features",),
        edit=lambda c: c["data"].update(features=[]),
    ),
    BadData(
        "label-as-feature",
        parquet(lambda f: f),
        ("data.features: 'TX_FRAUD' is the label (data.target), which a model must not read",),
        edit=lambda c: c["data"].update(features=["TX_AMOUNT", "TX_FRAUD"]),
    ),
    BadData(
        "label-as-a-challengers-feature",
        parquet(lambda f: f),
        (
            "challengers.lgbm.features: 'TX_FRAUD' is the label (data.target), which a model "
            "must not read: it would be judged against its own input; leave it out",
        ),
        edit=lambda c: c["challengers"][0].update(features=["TX_AMOUNT", "TX_FRAUD"]),
    ),
    BadData(
        "label-as-a-graphs-entity",
        parquet(lambda f: f),
        ("challengers.g.graph.entities: 'TX_FRAUD' is the label (data.target)",),
        edit=lambda c: c["challengers"].append(
            {"name": "g", "kind": "graph", "graph": {"entities": ["CUSTOMER_ID", "TX_FRAUD"]}}
        ),
    ),
    # a graph's features are named after its entities: named like a column the run reads, the
    # challenger failed at training after check had passed and the audit had run ("graph features
    # would overwrite the data column ..."); named with a '[' it failed in the library
    BadData(
        "graph-feature-named-like-a-data-column",
        parquet(lambda f: f.rename({"CUSTOMER_NB_TX_1D": "CUSTOMER_ID_tx_7d"})),
        (
            "challengers.g: its graph features include 'CUSTOMER_ID_tx_7d', the name of a column "
            "the run reads, which they would replace; rename the column, or leave it out "
            "(data.drop)",
        ),
        edit=lambda c: c["challengers"].append(
            {
                "name": "g",
                "kind": "graph",
                "graph": {"entities": ["CUSTOMER_ID", "TERMINAL_ID"], "windows_days": [7]},
            }
        ),
    ),
    BadData(
        "graph-entity-named-with-a-bracket",
        parquet(lambda f: f.rename({"TERMINAL_ID": "TERMINAL[ID]"})),
        (
            "challengers.g: its graph features include 'TERMINAL[ID]_tx_7d', named after a column "
            "holding '[', which LightGBM/XGBoost do not accept in a feature name",
        ),
        edit=lambda c: (
            c["data"].update(drop=["TX_FRAUD_SCENARIO", "TERMINAL[ID]", "DEVICE_ID"]),
            c["challengers"].append(
                {
                    "name": "g",
                    "kind": "graph",
                    "graph": {"entities": ["CUSTOMER_ID", "TERMINAL[ID]"], "windows_days": [7]},
                }
            ),
        ),
    ),
    BadData(
        "scenario-as-the-retrained-champions-feature",
        parquet(lambda f: f),
        (
            "champion.features: 'TX_FRAUD_SCENARIO' is the fraud's scenario (data.scenario), "
            "the label by another name",
        ),
        edit=lambda c: (
            c["data"].update(scenario="TX_FRAUD_SCENARIO"),
            c["champion"].update(features=["TX_AMOUNT", "TX_FRAUD_SCENARIO"]),
        ),
    ),
    BadData(  # read as floats, ids that differ in a cent would be one customer, or not
        "entity-decimal-with-decimals",
        parquet(_column("CUSTOMER_ID", pl.col("CUSTOMER_ID").cast(pl.Decimal(12, 2)))),
        (
            "data.entity: column 'CUSTOMER_ID' is Decimal(12, 2), an id with decimals",
            "store the ids as whole numbers",
        ),
    ),
    BadData(  # a warehouse's NUMBER(38): beyond 64-bit integers, inexact as floats
        "id-decimal-of-38-digits",
        parquet(_column("TRANSACTION_ID", TX.cast(pl.Decimal(38, 0)))),
        (
            "data.id: column 'TRANSACTION_ID' is Decimal(38, 0): ids of up to 38 digits",
            "store them as a 64-bit integer, Decimal(18, 0) or text",
        ),
    ),
    BadData(
        "entity-all-null",
        parquet(_column("CUSTOMER_ID", pl.lit(None, pl.Int64))),
        ("data.entity: column 'CUSTOMER_ID' is null in", "need an id on every row"),
    ),
    BadData(
        "entity-null-in-some-test-rows",
        parquet(_column("CUSTOMER_ID", pl.lit(None, pl.Int64), IN_TEST & (TX % 5 == 0))),
        ("data.entity: column 'CUSTOMER_ID' is null in", "test rows", "or unset data.entity"),
    ),
    BadData(  # its in-sample code was a NaN cast to int32: a segmentation fault after training
        "entity-null-in-one-training-row",
        parquet(_column("CUSTOMER_ID", pl.lit(None, pl.Int64), TX == 20_000)),
        (
            "data.entity: column 'CUSTOMER_ID' is null in 1 of the",
            "rows of the training window",
            "or unset data.entity",
        ),
    ),
    BadData(  # NaN pooled these rows into one customer, a fraudster the test window left out
        "entity-nan-in-some-test-rows",
        parquet(_float_entity(NAN, IN_TEST & (TX % 50 == 0))),
        ("data.entity: column 'CUSTOMER_ID' is NaN in", "test rows", "or unset data.entity"),
    ),
    BadData(
        "entity-nan-in-some-training-rows",
        parquet(_float_entity(NAN, IN_TRAIN & (TX % 50 == 0))),
        ("data.entity: column 'CUSTOMER_ID' is NaN in", "rows of the training window"),
    ),
    BadData(
        "amount-null-with-value-metric",
        parquet(_column("TX_AMOUNT", pl.lit(None, pl.Float64), IN_TEST & (TX % 5 == 0))),
        ("data.amount: column 'TX_AMOUNT' is null in", "value_detection_at_alerts"),
        edit=lambda c: c["evaluation"].update(metrics=["pr_auc", "value_detection_at_alerts@0.01"]),
    ),
    BadData(  # the value metrics read n/a, the primary one too, and the run exited 0
        "amount-nan-with-value-metric",
        parquet(_column("TX_AMOUNT", NAN, IN_TEST & (TX % 5 == 0))),
        ("data.amount: column 'TX_AMOUNT' is NaN in", "test rows", "fill the amounts or drop"),
        edit=_value_metric,
    ),
    BadData(  # the share of fraud amount caught read -1,025%
        "amount-negative-on-test-frauds-with-value-metric",
        parquet(_column("TX_AMOUNT", -pl.col("TX_AMOUNT"), IN_TEST & FRAUD & (TX % 2 == 0))),
        (
            "data.amount: column 'TX_AMOUNT' is negative on",
            "frauds of the",
            "test rows",
            "use absolute amounts or drop value_detection_at_alerts",
        ),
        edit=_value_metric,
    ),
    BadData(  # a missed fraud lowered the expected cost
        "amount-negative-on-a-test-fraud-with-amount-cost",
        parquet(_column("TX_AMOUNT", -pl.col("TX_AMOUNT"), IN_TEST & FRAUD)),
        ("data.amount: column 'TX_AMOUNT' is negative on", "false_negative: amount"),
        edit=_amount_cost,
    ),
    BadData(
        "score-column-of-text",
        parquet(_with_score(pl.col("TX_AMOUNT").cast(pl.String))),
        ("champion.score: column 'PROD_SCORE' is String; production scores must be numbers",),
        edit=_score_champion,
    ),
    BadData(
        "score-column-null-in-test-rows",
        parquet(_with_score(pl.when(IN_TEST & (TX % 3 == 0)).then(None).otherwise(TX * 1.0))),
        ("champion.score: column 'PROD_SCORE' has", "missing scores in the", "test rows"),
        edit=_score_champion,
    ),
    BadData(
        "score-column-infinite",
        parquet(_with_score(pl.when(TX == 35_000).then(float("inf")).otherwise(TX * 1.0))),
        ("champion.score: column 'PROD_SCORE' has 1 infinite scores",),
        edit=_score_champion,
    ),
]


def _renamed(old: str, new: str) -> Callable[[pl.DataFrame], pl.DataFrame]:
    return lambda f: f.rename({old: new})


def _mixed_glob(frame: pl.DataFrame, directory: Path) -> Path:
    frame.write_parquet(directory / "part-1.parquet")
    frame.head(100).write_csv(directory / "part-2.csv")
    return directory / "part-*"


SECOND_ROUND = [
    *(
        BadData(
            f"column-name-with-{label}",
            parquet(_renamed("MCC", f"MCC{ch}1")),
            (f"data.features: the column 'MCC{ch}1' has '{ch}' in its name", "LightGBM/XGBoost"),
        )
        for ch, label in (("[", "bracket"), ("<", "less-than"), (",", "comma"), (":", "colon"))
    ),
    # a line break or an escape in a feature's name broke every line quoting it in two (the
    # errors, the findings, the report's tables) or played the escape on the terminal
    *(
        BadData(
            f"column-name-with-{label}",
            parquet(_renamed("MCC", f"MCC{ch}1")),
            (
                f"data: the column {f'MCC{ch}1'!r} holds the control character {ch!r} in its name; "
                "rename the column, or list the columns to read in data.features",
            ),
        )
        for ch, label in (("\n", "newline"), ("\x1b", "escape"))
    ),
    BadData(
        "column-in-the-tool-namespace",
        parquet(_column("__challenge:day", pl.lit(1))),
        ("data: the column '__challenge:day' uses the prefix '__challenge:'", "rename it"),
    ),
    BadData(
        "target-named-like-a-predictions-column",
        parquet(_renamed("TX_FRAUD", "day")),
        ("data: the column name 'day' clashes with predictions.parquet's own columns",),
        edit=lambda c: c["data"].update(target="day"),
    ),
    BadData(
        "csv-in-utf16",
        text("data.csv", lambda f: f.head(3000).write_csv().encode("utf-16")),
        (
            "data.path:",
            "data.csv is UTF-16 (or binary), not UTF-8 text; save it as UTF-8 CSV",
        ),
    ),
    BadData(
        "csv-with-semicolons",
        text("data.csv", lambda f: f.head(3000).write_csv(separator=";")),
        ("data.csv has one column", "its separator is ';', not a comma"),
    ),
    BadData(
        "glob-over-parquet-and-csv",
        _mixed_glob,
        ("matches files of different types", "part-2.csv", "matches one type"),
    ),
]
CASES += SECOND_ROUND


def _truncated(frame: pl.DataFrame, directory: Path) -> Path:
    path = directory / "data.parquet"
    frame.write_parquet(path)
    content = path.read_bytes()
    path.write_bytes(content[: len(content) // 2])
    return path


def _check(data: Path, tmp_path: Path, edit: Callable[[dict[str, Any]], Any] | None) -> Any:
    cfg = sim_config(data)
    if edit is not None:
        edit(cfg)
    path = tmp_path / "experiment.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return invoke(["check", path, "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}", "-q"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_data(case: BadData, tmp_path: Path, sim_frame: pl.DataFrame) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    data = case.make(sim_frame, data_dir)
    _check(data, tmp_path, case.edit).error(2, *case.expect)


@pytest.mark.parametrize(
    ("change", "note"),
    [
        (_column("TX_AMOUNT", pl.lit(float("nan")), TX % 3 == 0), None),  # NaN: missing, fine
        (_column("TX_AMOUNT", pl.lit(None, pl.Float64), TX % 3 == 0), None),  # null: fine
        (_column("MCC", pl.lit(7, pl.Int16)), "constant in the training window"),
        (_column("TX_DATETIME", pl.lit(None, pl.Datetime("us")), TX % 50 == 0), "no timestamp"),
        (lambda f: f.filter(pl.col("TX_DATETIME") >= datetime(2024, 2, 5)), "split.train: 5 of"),
        (  # read in UTC: 142 of a probe's 5,718 test rows fell on another day than their local one
            lambda f: f.with_columns(pl.col("TX_DATETIME").dt.replace_time_zone("Europe/Paris")),
            "data.time: 'TX_DATETIME' is in Europe/Paris; the windows, days and label",
        ),
    ],
    ids=[
        "nan-feature",
        "null-feature",
        "constant-feature",
        "null-times",
        "window-partly-out",
        "zoned-times",
    ],
)
def test_allowed_oddities_pass_the_check_with_a_note(
    change: Callable[[pl.DataFrame], pl.DataFrame],
    note: str | None,
    tmp_path: Path,
    sim_frame: pl.DataFrame,
) -> None:
    """Missing feature values are allowed (trees route them, the anomaly kind imputes them); a
    constant feature, rows without a time and windows partly outside the data are notes."""
    data = tmp_path / "data.parquet"
    change(sim_frame).write_parquet(data)
    outcome = _check(data, tmp_path, None)
    assert outcome.code == 0, outcome.stderr
    cfg = tmp_path / "experiment.yaml"
    loud = invoke(["check", cfg, "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}"])
    notes = [line for line in loud.stdout.splitlines() if line.strip().startswith("!")]
    if note is None:
        assert not [n for n in notes if "TX_AMOUNT" in n], notes
    else:
        assert any(note in n for n in notes), notes


def test_ids_missing_before_training_and_refunds_do_not_stop_a_run(
    tmp_path: Path, sim_frame: pl.DataFrame, store: str
) -> None:
    """Rows before the training window need no entity (history: no metric groups them), and a
    genuine test row may have a negative amount (a refund: the value metrics and the cost of a
    missed fraud weigh frauds only); the windows' missing ids and negative fraud amounts are
    refused above."""
    before = pl.col("TX_DATETIME") < datetime(2024, 1, 31)
    no_id = _column("CUSTOMER_ID", pl.lit(None, pl.Int64), before & (TX % 7 == 0))
    refunds = _column("TX_AMOUNT", -pl.col("TX_AMOUNT"), IN_TEST & ~FRAUD & (TX % 20 == 0))
    data = tmp_path / "data.parquet"
    refunds(no_id(sim_frame)).write_parquet(data)
    cfg = tiny_config(data)
    cfg["evaluation"].update(
        metrics=["pr_auc", "value_detection_at_alerts@0.01", "expected_cost"],
        cost={"false_positive": 5.0, "false_negative": "amount"},
    )
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    outcome = invoke(["run", config, "-o", tmp_path / "out", "--tracking-uri", store, "-q"])
    assert outcome.code == 0, outcome.stderr
    comparison = json.loads((tmp_path / "out" / "comparison.json").read_text())
    for model in comparison["models"]:
        assert model["status"] == "ok", model
        assert 0.0 <= model["metrics"]["value_detection_at_alerts_0.01"] <= 1.0, model["metrics"]
        assert model["metrics"]["expected_cost"] > 0.0, model["metrics"]


DECIMALS = {  # a warehouse extract's types: NUMBER(18) ids and labels, NUMBER(12, 2) money
    "CUSTOMER_ID": (pl.Decimal(18, 0), pl.Int64),
    "TX_FRAUD": (pl.Decimal(1, 0), pl.Int64),
    "TX_AMOUNT": (pl.Decimal(12, 2), pl.Float64),
    "CUSTOMER_AVG_AMOUNT_30D": (pl.Decimal(12, 2), pl.Float64),
}


def test_decimal_columns_are_numbers_through_a_run(
    tmp_path: Path, sim_frame: pl.DataFrame, store: str
) -> None:
    """A Decimal entity was a traceback (its Int128 codes: 'cannot do arithmetic'), a Decimal
    feature or amount an exit 3 after training (MLflow's input example: 'Object of type Decimal
    is not JSON serializable', blaming the store). Whole Decimals of up to 18 digits are read as
    Int64, the others as Float64: the run, its fingerprint included, is the run of the same
    values stored so."""
    decimals = sim_frame.with_columns(pl.col(c).cast(d) for c, (d, _) in DECIMALS.items())
    numbers = decimals.with_columns(pl.col(c).cast(n) for c, (_, n) in DECIMALS.items())
    runs = []
    for name, frame in (("decimals", decimals), ("numbers", numbers)):
        data = tmp_path / f"{name}.parquet"
        frame.write_parquet(data)
        cfg = tiny_config(data)
        cfg["evaluation"].update(
            metrics=["pr_auc", "entity_precision_at@20", "value_detection_at_alerts@0.01"]
        )
        config = tmp_path / f"{name}.yaml"
        config.write_text(yaml.safe_dump(cfg, sort_keys=False))
        out = tmp_path / name
        outcome = invoke(["run", config, "-o", out, "--tracking-uri", store, "-q"])
        assert outcome.code == 0, outcome.stderr
        assert (out / "audit.json").exists()
        runs.append(json.loads((out / "comparison.json").read_text()))
    read, expected = runs
    assert read["data"]["fingerprint"] == expected["data"]["fingerprint"]
    assert [m["status"] for m in read["models"]] == ["ok", "ok"]
    assert [m["metrics"] for m in read["models"]] == [m["metrics"] for m in expected["models"]]


def test_columns_named_like_the_tools_own_are_data(
    tmp_path: Path, sim_frame: pl.DataFrame, store: str
) -> None:
    """Data columns `_day`, `_known`, `_first_fraud_day` are features like any other (the tool's
    own columns live under '__challenge:'); challengers named like the target and the id get their
    own score columns in predictions.parquet, and the labels and ids stay as they were."""
    data = tmp_path / "data.parquet"
    sim_frame.with_columns(
        (pl.col("TX_AMOUNT") * 3).alias("_day"),  # the user's own numbers, not days since 1970
        (TX % 7).alias("_known"),
        (TX % 11).alias("_first_fraud_day"),
    ).write_parquet(data)
    cfg = tiny_config(data)
    cfg["challengers"] = [
        {"name": "TX_FRAUD", "kind": "lightgbm", "params": {"n_estimators": 10}},
        {"name": "TRANSACTION_ID", "kind": "lightgbm", "params": {"n_estimators": 10}},
    ]
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump(cfg, sort_keys=False))
    out = tmp_path / "out"
    outcome = invoke(["run", config, "-o", out, "--tracking-uri", store, "-q"])
    assert outcome.code == 0, outcome.stderr
    comparison = json.loads((out / "comparison.json").read_text())
    assert [m["status"] for m in comparison["models"]] == ["ok", "ok", "ok"]
    assert {"_day", "_known", "_first_fraud_day"} <= set(comparison["data"]["features"])
    predictions = pl.read_parquet(out / "predictions.parquet")
    assert predictions.columns == [
        "TRANSACTION_ID",
        "day",
        "TX_FRAUD",
        "score:champ",
        "score:TX_FRAUD",
        "score:TRANSACTION_ID",
    ]
    truth = sim_frame.select("TRANSACTION_ID", "TX_FRAUD")
    joined = predictions.join(truth, on="TRANSACTION_ID", suffix="_data")
    assert joined.height == predictions.height == comparison["data"]["rows_test"]
    assert joined.get_column("TX_FRAUD").equals(joined.get_column("TX_FRAUD_data"))


def test_one_fraud_in_the_test_window_never_reads_as_a_significant_win() -> None:
    """DeLong on one positive has zero variance by construction (p = 0 before): no p-value, and
    no 'significantly outperformed' beside the finding that the test window has too few frauds."""
    import dataclasses

    import numpy as np

    from challengers.evaluation.delong import delong_test
    from challengers.findings import derive_findings
    from challengers.findings.comparison import MIN_FRAUDS_TO_CLAIM
    from tests.findings.test_comparison import context

    y = np.zeros(500, dtype=np.int8)
    y[17] = 1
    rng = np.random.default_rng(3)
    strong, weak = rng.random(500), rng.random(500)
    strong[17] = 2.0  # the one fraud ranked first by one model only
    assert np.isnan(delong_test(y, strong, weak).p_value)

    for positives, claimed in ((1, False), (MIN_FRAUDS_TO_CLAIM - 1, False), (500, True)):
        findings = derive_findings(dataclasses.replace(context(p=0.0), positives_test=positives))
        ids = {f.id for f in findings}
        assert ("outcome-better-chall" in ids) is claimed, (positives, ids)
        assert ("data-few-test-frauds" in ids) is (positives < 100)


def test_a_test_window_inside_the_label_delay_is_a_note_before_the_run(
    tmp_path: Path, sim_frame: pl.DataFrame
) -> None:
    """The run reports it as a finding (split-gap-shorter-than-delay); `check` says it first,
    with the first test day that leaves the delay free (the training window ends 2024-02-20)."""
    data = tmp_path / "data.parquet"
    sim_frame.write_parquet(data)
    _check(data, tmp_path, lambda c: c["split"]["test"].update(start="2024-02-24"))
    cfg = tmp_path / "experiment.yaml"
    loud = invoke(["check", cfg, "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}"])
    assert loud.code == 0, loud.stderr
    text = " ".join(loud.stdout.split())  # the note wraps at the terminal's width
    assert (
        "! split: 3 day(s) between the training and test windows, but labels take 7: production "
        "would not know the last training labels yet, so the evaluation is optimistic (the run "
        "reports it); a test window from 2024-02-28 has none"
    ) in text
    _check(data, tmp_path, None)  # the suite's split: 7 days between the windows, as the delay
    again = invoke(["check", cfg, "--tracking-uri", f"sqlite:///{tmp_path / 'm.db'}"])
    assert again.code == 0 and "between the training and test windows" not in again.stdout


def test_budgets_the_test_window_makes_degenerate_are_notes_before_the_run(
    tmp_path: Path, sim_frame: pl.DataFrame
) -> None:
    """precision_at_alerts@1e-07 alerted 1 row and read 1.0 for every model; a k above every
    day's entities alerts them all."""
    data = tmp_path / "data.parquet"
    sim_frame.write_parquet(data)
    cfg = tmp_path / "experiment.yaml"
    store = f"sqlite:///{tmp_path / 'm.db'}"

    def notes(metrics: list[str]) -> str:
        _check(data, tmp_path, lambda c: c["evaluation"].update(metrics=metrics))
        loud = invoke(["check", cfg, "--tracking-uri", store])
        assert loud.code == 0, loud.stderr
        return " ".join(loud.stdout.split())

    found = notes(["pr_auc", "precision_at_alerts@0.0001", "entity_precision_at@100000"])
    assert "! evaluation.metrics precision_at_alerts_0.0001: 0.0001 of the" in found
    assert "test rows is 1 alert(s); a figure on fewer than 10 rows says little" in found
    assert "! evaluation.metrics entity_precision_at_100000: k = 100000 is more than any" in found
    assert "every entity is alerted each day, and the figure is their frauds over k" in found
    assert "says little" not in notes(["pr_auc", "precision_at_alerts@0.05", "recall_at_fpr@0.01"])


def test_entity_ids_that_read_as_formulas_are_text_in_the_scores_sample(
    tmp_path: Path, sim_frame: pl.DataFrame, store: str
) -> None:
    """scores_sample.csv is opened in a spreadsheet: an entity id '=HYPERLINK(...)' from the
    delivered data was written as is, a formula Excel runs (CSV injection). Such values are
    written with a quote before them; the others as they are."""
    evil = pl.lit("=HYPERLINK(") + pl.col("CUSTOMER_ID").cast(pl.String) + pl.lit(")")
    ids = pl.when(pl.col("CUSTOMER_ID") % 2 == 0).then(evil)
    data = tmp_path / "data.parquet"
    sim_frame.with_columns(
        ids.otherwise(pl.col("CUSTOMER_ID").cast(pl.String)).alias("CUSTOMER_ID")
    ).write_parquet(data)
    config = tmp_path / "experiment.yaml"
    config.write_text(yaml.safe_dump(tiny_config(data), sort_keys=False))
    outcome = invoke(["run", config, "-o", tmp_path / "out", "--tracking-uri", store, "-q"])
    assert outcome.code == 0, outcome.stderr
    samples = sorted((tmp_path / "out" / "models").glob("*/scores_sample.csv"))
    assert samples
    for sample in samples:
        entities = pl.read_csv(sample, infer_schema=False)["CUSTOMER_ID"].to_list()
        formulas = [e for e in entities if e.startswith("'=HYPERLINK(")]
        assert formulas and len(formulas) + sum(e.isdigit() for e in entities) == len(entities)
