"""A Ctrl-C that lands inside a Python callback of native code stays a Ctrl-C.

polars runs Python while it works (a UDF, the dtypes of a schema it hands back). A signal handler
raising there comes out as polars' own error, or as a ``PanicException`` when polars unwraps the
callback's result. The signal is injected at exactly such a point: the real polars, with
``Datetime.__init__`` (called by polars' Rust code while it builds a schema) sending SIGINT first.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import polars.datatypes.classes as dtypes
import pytest

from challengers import interrupts
from challengers.errors import DataError, RunInterrupted
from tests.reliability.conftest import invoke, tiny_config
from tests.reliability.test_interrupt_resume import _runs


def _sigint_in_udf(value: int) -> int:
    os.kill(os.getpid(), signal.SIGINT)
    return value


class SigintInSchema:
    """Once armed, the first Datetime polars builds sends SIGINT from inside its Rust caller."""

    def __init__(self) -> None:
        self.armed = False
        self.sent: list[int] = []

    def __call__(self) -> None:
        if self.armed and not self.sent:
            self.sent.append(signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)


@pytest.fixture
def sigint_in_schema(monkeypatch: pytest.MonkeyPatch) -> Iterator[SigintInSchema]:
    injected = SigintInSchema()
    built = dtypes.Datetime.__init__

    def init(self: dtypes.Datetime, *args: object, **kwargs: object) -> None:
        injected()
        built(self, *args, **kwargs)

    monkeypatch.setattr(dtypes.Datetime, "__init__", init)
    yield injected


def test_a_sigint_polars_turned_into_a_panic_leaves_the_block_as_the_interrupt(
    sigint_in_schema: SigintInSchema,
) -> None:
    frame = pl.LazyFrame({"at": [0]}, schema={"at": pl.Datetime("us")})
    with pytest.raises(interrupts.Interrupted) as caught, interrupts.handled():
        sigint_in_schema.armed = True
        frame.collect_schema()
    assert sigint_in_schema.sent == [signal.SIGINT]
    assert caught.value.name == "SIGINT"
    assert type(caught.value.__cause__).__name__ == "PanicException"  # what polars raised


def test_a_sigint_polars_raised_again_with_its_message_leaves_the_block_as_the_interrupt() -> None:
    ints = pl.DataFrame({"a": [1, 2]})
    with pytest.raises(interrupts.Interrupted) as caught, interrupts.handled():
        # polars raises type(exc)(its message, naming the expression) again
        ints.select(pl.col("a").map_elements(_sigint_in_udf, return_dtype=pl.Int64))
    assert caught.value.name == "SIGINT"


def test_errors_without_a_signal_and_the_run_s_own_interrupt_pass_unchanged() -> None:
    with pytest.raises(DataError), interrupts.handled():
        raise DataError("a real error")
    assert interrupts.interrupt_behind(ValueError("no signal")) is None
    with pytest.raises(RunInterrupted), interrupts.handled():
        try:
            _sigint_in_udf(0)
        except KeyboardInterrupt:
            raise RunInterrupted("interrupted: resume with ...") from None


@pytest.mark.parametrize(
    ("command", "line"),
    [
        ("run", "interrupted (SIGINT) before any model finished: nothing to resume"),
        ("audit", "interrupted (SIGINT): challenge audit stopped before it finished"),
    ],
)
def test_a_sigint_while_a_command_reads_the_schema_is_one_line_and_exit_130(
    tmp_path: Path,
    sim_parquet: Path,
    write_yaml: Callable[..., Path],
    sigint_in_schema: SigintInSchema,
    store: str,
    command: str,
    line: str,
) -> None:
    """The failure CI saw once (stop 35): a Ctrl-C inside polars' collect_schema while the run
    planned its windows ended in a PanicException traceback and exit 1. The line offers no
    resume where there is nothing to resume from."""
    config = write_yaml(tiny_config(sim_parquet))
    out = tmp_path / "out"
    args = {"run": ["--tracking-uri", store, "-q"], "audit": []}[command]
    sigint_in_schema.armed = True  # the command hands SIGINT to the run before it reads the data
    outcome = invoke([command, config, "-o", out, *args])
    assert sigint_in_schema.sent == [signal.SIGINT]
    assert outcome.code == 130, outcome.stderr
    assert outcome.stderr.strip().splitlines()[-1:] == [line]
    assert "Traceback" not in outcome.stderr
    assert not (out / "comparison.json").exists() and not (out / "audit.json").exists()


def test_the_commands_that_resume_are_commands() -> None:
    """cli/errors.TRAINS names the commands whose interrupt line speaks of models and resuming."""
    from challengers.cli import errors, replicate, run

    commands = {run.run_command.__name__, replicate.replicate_command.__name__}
    assert commands == errors.TRAINS


# Run in a fresh interpreter: the command, with SIGINT sent by the import machinery right after
# the main thread executed MLflow's table declarations (the module is then dropped, as for any
# import an exception cut short, while its classes stay declared in SQLAlchemy's registry).
CUT_IMPORT = """
import importlib.abc, importlib.util, os, signal, sys, threading
from pathlib import Path

CUT = "mlflow.store.tracking.dbmodels.models"

class CutAfterExecution(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != CUT or threading.current_thread() is not threading.main_thread():
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            Path(os.environ["CUT_PROBE"]).write_text("cut")
            os.kill(os.getpid(), signal.SIGINT)

        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, CutAfterExecution())
sys.argv = ["challenge", *sys.argv[1:]]
from challengers.cli.main import main
main()
"""


def test_a_sigint_that_cuts_mlflow_s_import_in_half_still_prints_one_line(
    tmp_path: Path, sim_parquet: Path, write_yaml: Callable[..., Path]
) -> None:
    """Seen in a stress run (1 in 30 Ctrl-Cs 2-4 s into a run): marking the run KILLED imported
    MLflow's tables again, and SQLAlchemy's warnings about each one declared twice came before
    the one line that says what was kept. That line also said the MLflow run was marked KILLED:
    there was none yet."""
    config = write_yaml(tiny_config(sim_parquet))
    out = tmp_path / "out"
    command = [sys.executable, "-c", CUT_IMPORT, "run", str(config), "-o", str(out)]
    command += ["--tracking-uri", f"sqlite:///{tmp_path}/m.db", "-q"]
    probe = tmp_path / "cut"
    env = {**os.environ, "CUT_PROBE": str(probe)}
    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert probe.exists(), "the main thread did not import MLflow's tables"
    assert done.returncode == 130, done.stderr
    lines = done.stderr.strip().splitlines()
    # cut while the store opened: no run to mark, and the line does not claim one
    assert lines == [
        f"interrupted (SIGINT): no MLflow run was started; 0 finished model(s) kept in {out}/models"
        f" (none); resume with: challenge run {config} --resume --output {out} --tracking-uri "
        f"sqlite:///{tmp_path}/m.db"
    ]
    assert _runs(f"sqlite:///{tmp_path}/m.db") == []


def _swallowed_sigint() -> None:
    """A SIGINT that a library's bare ``except:`` catches (imports do it) and never raises again."""
    try:
        os.kill(os.getpid(), signal.SIGINT)
        for _ in range(1000):  # the handler runs at a bytecode boundary in here
            pass
    except BaseException:  # a library's own bare except, on purpose
        pass


class _SigintInFinalizer:
    def __del__(self) -> None:
        os.kill(os.getpid(), signal.SIGINT)  # raised inside the finalizer: "Exception ignored"
        for _ in range(1000):
            pass


def test_an_interrupt_raised_in_a_finalizer_leaves_the_block_as_the_interrupt() -> None:
    """Python cannot raise out of a finalizer: the interrupt is kept and the block raises it."""
    ran_on: list[str] = []
    with pytest.raises(interrupts.Interrupted) as caught, interrupts.handled():
        _SigintInFinalizer()  # freed at once
        ran_on.append("after")
    assert ran_on == ["after"] and caught.value.name == "SIGINT"


def test_a_swallowed_interrupt_stops_a_block_opened_inside_its_own() -> None:
    """A command's block swallowed it (the command's imports); the run's block, opened next,
    raises it before its body starts. It once cleared it instead, and the run went on."""
    started: list[str] = []
    with pytest.raises(interrupts.Interrupted), interrupts.handled():
        _swallowed_sigint()
        with interrupts.handled():
            started.append("run")
    assert started == []


def test_a_sigint_swallowed_before_the_run_starts_is_exit_130_and_writes_nothing(
    tmp_path: Path,
    sim_parquet: Path,
    write_yaml: Callable[..., Path],
    store: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """What CI saw once (stop 54): a Ctrl-C 0.8 s into `challenge run`, while the command still
    imported, ended in exit 0 with the whole run done. The store's check swallows one here."""
    from challengers.pipeline import run as pipeline_run

    reachable = pipeline_run.check_reachable

    def swallowing(uri: str, **kwargs: object) -> None:
        _swallowed_sigint()
        reachable(uri, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline_run, "check_reachable", swallowing)
    config = write_yaml(tiny_config(sim_parquet))
    out = tmp_path / "out"
    outcome = invoke(["run", config, "-o", out, "--tracking-uri", store, "-q"])
    assert outcome.code == 130, outcome.stderr
    lines = outcome.stderr.strip().splitlines()
    assert lines == ["interrupted (SIGINT) before any model finished: nothing to resume"], lines
    assert not (out / "comparison.json").exists()
    assert all(r.info.status != "FINISHED" for r in _runs(store))
