"""Acceptance: a small simulated run writes a complete validation report.

A weak champion (four features) against two challengers on the simulated data: the report must have
every section, every plot embedded, findings that name the metric, the models, the effect and the
evidence, comparison.json the diagnostics keys, and MLflow the report and plots as artifacts. A real
headless Chromium renders report.html; its screenshot is kept with the test output (and copied to
$CHALLENGE_TEST_OUTPUT when set).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import re
import shutil
import subprocess
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from challengers.config import load_config
from challengers.experiment_result import ExperimentResult
from challengers.figures import NO_PLOTS_NOTE
from challengers.pipeline import RunOptions, run_experiment
from challengers.report import plots, start_report
from challengers.report.document import SECTION_IDS
from challengers.report.plots import PLOTS, write_plots
from tests.conftest import PLOTS_ON, sim_config

WEAK_CHAMPION = ["TX_HOUR", "MCC", "TX_DURING_WEEKEND", "CUSTOMER_NB_TX_1D"]
ANALYSIS_AREAS = {"outcomes", "stability", "segments", "calibration", "explanations", "replication"}
# one worker, so the module's run is set up once (the suite at a load of 5 set it up
# on both workers: 38 s and 30 s)
pytestmark = [pytest.mark.xdist_group("report-run"), PLOTS_ON]


@pytest.fixture(scope="module")
def run(
    tmp_path_factory: pytest.TempPathFactory, sim_parquet: Path
) -> tuple[ExperimentResult, Path, str]:
    root = tmp_path_factory.mktemp("report-run")
    config = sim_config(sim_parquet, threads=1)
    config["champion"] = {
        "name": "champ",
        "retrain": {"kind": "lightgbm", "params": {"n_estimators": 30}},
        "features": WEAK_CHAMPION,
        "claimed": {"roc_auc": 0.95},
    }
    config["evaluation"]["metrics"] += ["expected_cost", "brier"]
    config["evaluation"]["primary"] = "pr_auc"  # the verdict's metric (default: roc_auc, first)
    config["evaluation"]["diagnostics"] = {"explain_rows": 500}
    config["governance"] = {"model_id": "FRD-0042", "owner": "first-line fraud analytics"}
    path = root / "experiment.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    uri = f"sqlite:///{root / 'mlflow.db'}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("CHALLENGE_PDF", "auto")  # the suite turns the PDF off; this run prints it
        env.setenv("CHALLENGE_PLOTS", "on")  # and the plots: this run draws them
        result = run_experiment(
            load_config(path), RunOptions(output_dir=root / "out", tracking_uri=uri)
        )
    return result, root / "out", uri


def _audit_charts(result: ExperimentResult) -> int:
    """The data audit's charts (label rate over time) are embedded under conceptual soundness."""
    return len(result.audit.charts) if result.audit is not None else 0


def test_every_section_and_plot_is_in_both_reports(run: tuple[ExperimentResult, Path, str]) -> None:
    result, out, _ = run
    assert set(result.plots) == set(PLOTS)  # every plot has data in this run
    for name in PLOTS:
        assert (out / "plots" / f"{name}.png").stat().st_size > 5_000
    markdown = (out / "report.md").read_text()
    html = (out / "report.html").read_text()
    for section in SECTION_IDS:
        assert f'<a id="{section}"></a>' in markdown
        assert f'<section id="{section}">' in html
    assert markdown.count("](plots/") == len(PLOTS)
    assert html.count('src="data:image/png;base64,') == len(PLOTS) + _audit_charts(result)


def test_the_objects_frozen_while_logging_are_collected_again_after(
    run: tuple[ExperimentResult, Path, str],
) -> None:
    """log_run leaves the objects made before it out of the collector's passes only meanwhile."""
    assert gc.get_freeze_count() == 0


def test_a_plot_drawn_with_the_shared_math_text_parser_is_the_one_drawn_alone(
    run: tuple[ExperimentResult, Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Figures share one math-text parser (its cache of the log axes' labels): the same PNG,
    byte for byte, as a figure whose renderer parses with its own."""
    result = run[0]
    shared = write_plots(result, tmp_path / "shared")
    monkeypatch.setattr(plots, "_PARSERS", type("Unshared", (dict,), {"setdefault": _own})())
    alone = write_plots(result, tmp_path / "alone")
    assert set(shared) == set(alone) == set(PLOTS)
    for name in PLOTS:
        assert shared[name].read_bytes() == alone[name].read_bytes(), name


def _own(self: dict, key: str, parser: Any) -> Any:
    return parser  # each renderer keeps the parser it made


def test_every_plot_fits_its_figure_and_no_legend_covers_an_axes(
    run: tuple[ExperimentResult, Path, str],
) -> None:
    """After the layout, each axes with its ticks, labels and title lies inside the figure, and
    the figure-level legends (overlap, segments) lie below every axes, not over one."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    result, drawn = run[0], 0
    for name, draw in PLOTS.items():
        with matplotlib.rc_context({"font.size": 9}):
            fig = draw(result)
            plots._lay_out(fig)
        renderer = FigureCanvasAgg(fig).get_renderer()
        figure_box = fig.bbox
        boxes = [ax.get_tightbbox(renderer) for ax in fig.axes if ax.get_visible()]
        for box in boxes:
            assert box.x0 >= figure_box.x0 - 1 and box.x1 <= figure_box.x1 + 1, name
            assert box.y0 >= figure_box.y0 - 1 and box.y1 <= figure_box.y1 + 1, name
        for legend in fig.legends:
            top = legend.get_window_extent(renderer).y1
            assert all(top <= box.y0 + 1 for box in boxes), name
            drawn += 1
    assert drawn == 2  # overlap's and segments' legends were checked


def test_the_governance_sections(run: tuple[ExperimentResult, Path, str]) -> None:
    result, out, _ = run
    markdown, html = (out / "report.md").read_text(), (out / "report.html").read_text()
    c = result.conclusion
    # planted: the documentation's roc_auc 0.95 is inflated -> R1, unsatisfactory
    assert c is not None and c.rating == "unsatisfactory"
    r1 = next(t for t in c.triggered if t.rule == "R1")
    assert "claim-roc_auc" in r1.findings
    title = next(f.title for f in result.findings if f.id == "claim-roc_auc")
    for text in (markdown, html.replace("&#x27;", "'")):
        assert c.sentence in text and title in text
        assert "FRD-0042" in text and "first-line fraud analytics" in text
        assert text.count("not stated") == 7  # the governance fields not given
        assert "Limitations of the model" in text and "Limitations of the analysis" in text
        assert "Ongoing monitoring" in text and "alert rate" in text and "PSI" in text
        assert "before exclusion" in text and "after exclusion" in text
        assert "retrained here" in text and "n_estimators" in text  # the champion described
    document = json.loads((out / "comparison.json").read_text())
    assert all(f["recommendation"] for f in document["findings"])
    assert document["conclusion"]["rating"] == "unsatisfactory"
    assert document["governance"]["Model id (inventory)"] == "FRD-0042"
    assert document["champion"]["training_window"].startswith(document["data"]["windows"]["train"])
    assert {"PSI", "alert rate", "weekly"} <= {
        w for m in document["monitoring"] for w in ("PSI", "alert rate", "weekly")
        if w in m["metric"]
    }  # fmt: skip


def test_the_html_is_self_contained(run: tuple[ExperimentResult, Path, str]) -> None:
    html = (run[1] / "report.html").read_text()
    sources = re.findall(r'\b(?:src|href)="([^"]*)"', html)
    assert sources and all(s.startswith(("data:image/png;base64,", "#")) for s in sources)
    assert "<script" not in html and "<link" not in html and "@import" not in html


def test_findings_name_metric_models_effect_and_evidence(
    run: tuple[ExperimentResult, Path, str],
) -> None:
    result, out, _ = run
    ids = {f.id for f in result.findings}
    # planted: a four-feature champion is beaten and ignores features the challengers use
    assert {"outcome-better-lgbm", "explain-blind-spot-lgbm", "claim-roc_auc"} <= ids
    for f in result.findings:
        if f.area in ANALYSIS_AREAS:
            assert f.metric and f.models and f.effect is not None and f.evidence, f.id
    document = json.loads((out / "comparison.json").read_text())
    assert [f["id"] for f in document["findings"]] == [f.id for f in result.findings]
    better = next(f for f in document["findings"] if f["id"] == "outcome-better-lgbm")
    assert better["models"] == ["lgbm", "champ"] and better["metric"] == "pr_auc"
    report = (out / "report.md").read_text()
    assert better["title"] in report
    assert "outperformed on the primary metric pr_auc by 'lgbm'" in report  # the verdict
    assert "pr_auc ↑<br>(primary)" in report and "roc_auc ↑<br>(secondary)" in report
    assert "resampling whole entities (default: data.entity is set)" in report
    assert "delong-clustered:entity (roc_auc); bootstrap:entity (pr_auc," in report
    assert document["evaluation"]["primary"] == "pr_auc"
    assert document["evaluation"]["resample"] == {
        "unit": "entity",
        "reason": "default: data.entity is set",
    }
    deltas = document["models"][1]["delta_vs_champion"]
    assert [k for k, d in deltas.items() if d["primary"]] == ["pr_auc"]
    assert all({"p_value_adjusted", "method", "primary"} <= d.keys() for d in deltas.values())


def test_comparison_json_has_the_diagnostics(run: tuple[ExperimentResult, Path, str]) -> None:
    result, out, _ = run
    document: dict[str, Any] = json.loads((out / "comparison.json").read_text())
    op = document["operating_point"]
    assert op["alerts"] == round(0.01 * result.data.rows_test)  # precision_at_alerts@0.01
    assert [m["model"] for m in op["models"]] == ["champ", "lgbm", "xgb"]
    assert [o["challenger"] for o in op["overlaps"]] == ["lgbm", "xgb"]
    assert document["stability"]["feature_psi"].keys() == set(WEAK_CHAMPION)
    assert [s["column"] for s in document["segments"]] == ["REGION", "CARD_TYPE"]
    assert {c["model"] for c in document["calibration"]} == {"champ", "lgbm", "xgb"}
    assert {e["model"] for e in document["explanations"]["models"]} == {"champ", "lgbm", "xgb"}
    assert document["explanations"]["sample_rows"] == 500
    assert document["plots"]["roc"] == "plots/roc.png"


def test_report_and_plots_are_logged_to_the_parent_run(
    run: tuple[ExperimentResult, Path, str],
) -> None:
    from mlflow.tracking import MlflowClient

    result, _, uri = run
    client = MlflowClient(tracking_uri=uri)
    names = {a.path for a in client.list_artifacts(result.run_id)}
    assert {"report.html", "report.md", "comparison.json", "plots"} <= names
    plots = {a.path for a in client.list_artifacts(result.run_id, "plots")}
    assert plots == {f"plots/{name}.png" for name in PLOTS}


def test_the_audit_chart_drawn_with_the_outputs_is_listed_embedded_and_logged(
    run: tuple[ExperimentResult, Path, str],
) -> None:
    """The run's audit leaves its chart to the outputs (drawn with the other plots): it is
    there all the same, named in audit.json, in report.html and in the parent run."""
    from mlflow.tracking import MlflowClient

    result, out, uri = run
    assert result.audit is not None and result.audit.charts == ["label_rate.png"]
    assert json.loads((out / "audit.json").read_text())["charts"] == ["label_rate.png"]
    assert (out / "label_rate.png").read_bytes().startswith(b"\x89PNG")
    html = (out / "report.html").read_text()
    assert html.count('src="data:image/png;base64,') == len(PLOTS) + 1
    names = {a.path for a in MlflowClient(tracking_uri=uri).list_artifacts(result.run_id)}
    assert {"audit.json", "label_rate.png"} <= names


# --------------------------------------------------------------------------- headless Chromium

PROBE = """<script>
window.addEventListener('load', () => {
  const images = [...document.images];
  const b = document.body;
  b.dataset.images = images.length;
  b.dataset.decoded = images.filter(i => i.complete && i.naturalWidth > 0).length;
  b.dataset.sections = [...document.querySelectorAll('section[id]')].map(s => s.id).join(',');
});
</script>"""


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("no chromium on PATH (CI installs Debian's `chromium`)")


def headless(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
            "--no-first-run", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--disable-dev-shm-usage", f"--user-data-dir={profile}", *args,
        ],
        capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip


def test_chromium_renders_every_section_and_decodes_every_plot(
    run: tuple[ExperimentResult, Path, str], tmp_path: Path
) -> None:
    browser = chromium()
    page = tmp_path / "probe.html"
    page.write_text((run[1] / "report.html").read_text().replace("</body>", PROBE + "</body>"))
    done = headless(
        browser, tmp_path / "profile", "--virtual-time-budget=10000", "--dump-dom", page.as_uri()
    )
    body = re.search(r"<body([^>]*)>", done.stdout)
    assert body, done.stderr[-2000:]
    attrs = dict(re.findall(r'data-(\w+)="([^"]*)"', body.group(1)))
    assert attrs["images"] == attrs["decoded"] == str(len(PLOTS) + _audit_charts(run[0]))
    assert attrs["sections"].split(",") == list(SECTION_IDS)


def test_the_pdf_prints_every_section_on_its_own_pages(
    run: tuple[ExperimentResult, Path, str],
) -> None:
    import pypdf

    from challengers.report.pdf import browser

    if browser() is None:
        pytest.skip("no headless Chromium on PATH: the run printed no PDF")
    result, out, _ = run
    reader = pypdf.PdfReader(out / "report.pdf")
    # NFKC: the PDF's text has ligatures (ﬁ for fi)
    pages = [
        unicodedata.normalize("NFKC", " ".join(p.extract_text().split())) for p in reader.pages
    ]
    assert len(pages) >= len(SECTION_IDS)
    html = (out / "report.html").read_text()
    titles = re.findall(r'<section id="[^"]+"><h2>([^<]+)</h2>', html)
    assert len(titles) == len(SECTION_IDS)
    # page breaks between sections: every section after the first opens a page of its own
    starts = [next((i for i, p in enumerate(pages) if p.startswith(t)), None) for t in titles[1:]]
    assert None not in starts and starts == sorted(set(starts)) and starts[0] > 0, list(
        zip(titles[1:], starts, strict=True)
    )
    assert result.conclusion is not None
    assert result.conclusion.sentence.replace("**", "") in " ".join(pages)


def test_chromium_screenshot_is_not_blank(
    run: tuple[ExperimentResult, Path, str], tmp_path: Path
) -> None:
    import matplotlib.image as mpimg
    import numpy as np

    browser = chromium()
    shot = tmp_path / "report.png"
    headless(
        browser, tmp_path / "profile", "--window-size=1280,2400", "--hide-scrollbars",
        f"--screenshot={shot}", (run[1] / "report.html").as_uri(),
    )  # fmt: skip
    assert shot.exists(), "chromium wrote no screenshot"
    if os.environ.get("CHALLENGE_TEST_OUTPUT"):
        target = Path(os.environ["CHALLENGE_TEST_OUTPUT"])
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target / "report.png")
    pixels = mpimg.imread(shot)[..., :3]
    colours = np.unique((pixels * 255).astype(np.uint8).reshape(-1, 3), axis=0)
    assert pixels.shape[:2] == (2400, 1280)
    assert len(colours) > 200  # text, tables and plots, not a blank or error page
    header = pixels[:60].reshape(-1, 3).mean(axis=0)
    assert header.max() < 0.35  # the dark title band rendered with the stylesheet


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork")
def test_a_forked_child_draws_with_its_own_math_text_parser() -> None:
    """The shared parser holds the parent's fonts, whose files share their read offset with the
    parent's: a child drawing with them while the parent draws broke the parent's glyphs."""
    from challengers.report import plots

    saved = dict(plots._PARSERS)
    plots._PARSERS["agg"] = object()
    try:
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: report whether it kept the parent's parser
            os.write(write, b"kept" if plots._PARSERS else b"own")
            os._exit(0)
        os.close(write)
        os.waitpid(pid, 0)
        assert os.read(read, 8) == b"own"
        os.close(read)
        assert plots._PARSERS  # the parent keeps its own
    finally:
        plots._PARSERS.clear()
        plots._PARSERS.update(saved)


def test_no_plots_where_the_environment_turns_them_off(
    run: tuple[ExperimentResult, Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CHALLENGE_PLOTS=off (the suite's setting): no figure drawn or embedded, and a note for
    the terminal says why. (That such a run's audit lists no chart, and that nothing at all is
    drawn: tests/test_pipeline.py.)"""
    monkeypatch.setenv("CHALLENGE_PLOTS", "off")
    audit = run[0].audit
    assert audit is not None
    result = dataclasses.replace(run[0], notes=[], audit=dataclasses.replace(audit, charts=[]))
    assert write_plots(result, tmp_path / "plots") == {}
    with start_report(result, tmp_path, pdf=False) as report:
        report.finish()
    assert not (tmp_path / "plots").exists() and result.plots == {}
    assert result.notes == [NO_PLOTS_NOTE]
    assert "![" not in (tmp_path / "report.md").read_text()
    assert "<img" not in (tmp_path / "report.html").read_text()


def test_names_from_the_data_are_drawn_as_given(
    run: tuple[ExperimentResult, Path, str], tmp_path: Path
) -> None:
    """Segment values and feature names are the data's: '$10-$20' was drawn as TeX (italics),
    a value TeX cannot parse ended the run with a traceback at the plots, a 300-character name
    squeezed the axes away, and a name in a script the fonts lack printed a warning per
    character and figure on the terminal (24 lines for one column name)."""
    import copy
    import warnings

    result = copy.deepcopy(run[0])
    result.notes = []
    column = result.segments[0]
    values = ["$10-$20", "a $\\frac{x$ b", "東京", "L" * 300]
    column.column = "band $ [USD]"
    for row, value in zip(column.rows, values, strict=False):
        row.value = value
    assert result.explanations is not None
    for m in result.explanations.models:
        m.features = ["時間 $x$", *m.features[1:]]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written = write_plots(result, tmp_path / "plots")
    assert {"segments", "contributions"} <= set(written)
    assert not [w for w in caught if "Glyph" in str(w.message) or "Tight layout" in str(w.message)]
    from matplotlib import font_manager, ft2font

    fonts = font_manager.fontManager.ttflist
    if not any(ord("東") in ft2font.FT2Font(f.fname).get_charmap() for f in fonts):
        assert result.notes == [
            "the plots draw 東 京 時 間 as empty boxes (no installed font has them); the report's "
            "tables and comparison.json name them as given"
        ]
    fig = plots.segments(result)
    drawn = [t._preprocess_math(t.get_text()) for t in fig.axes[0].get_xticklabels()]
    shown = [*values[:3], "L" * 39 + "…"]
    assert drawn[: len(values)] == [(v, False) for v in shown][: len(column.rows)]
    assert (
        fig.axes[0]
        .title._preprocess_math(fig.axes[0].title.get_text())[0]
        .startswith("band $ [USD]: ")
    )
    ticks = plots.contributions(result).axes[0].get_yticklabels()
    assert ("時間 $x$", False) in [t._preprocess_math(t.get_text()) for t in ticks]


def test_the_pdf_prints_at_full_size(run: tuple[ExperimentResult, Path, str]) -> None:
    """Chromium shrinks every page of a print to fit its widest element: the SHAP table of long
    feature names (959 px at the 705 px of a page) printed the whole report at 77%, its body
    text in 7.5 pt. Tables print tighter and such names break after their underscores: the
    section titles (21 px) print at 15.75 pt."""
    import pypdf

    from challengers.report.pdf import browser

    if browser() is None:
        pytest.skip("no headless Chromium on PATH: the run printed no PDF")
    sizes: set[float] = set()

    def seen(text: str, cm: list[float], tm: list[float], font: object, size: float) -> None:
        if text.strip():
            sizes.add(round(size * cm[0] * tm[0], 2))

    for page in pypdf.PdfReader(run[1] / "report.pdf").pages:
        page.extract_text(visitor_text=seen)
    assert 15.75 in sizes, sorted(sizes)
