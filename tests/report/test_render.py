"""The renderers translate blocks faithfully and safely."""

from __future__ import annotations

import base64
import shutil
from pathlib import Path

import pytest

from challengers.errors import EnvironmentFailure
from challengers.report.document import (
    Bullets,
    Document,
    Figure,
    Findings,
    Heading,
    Section,
    Table,
    Text,
    code,
    interval,
    money,
    p_is,
    plain,
    pvalue,
    signed_money,
)
from challengers.report.html import inline, to_html
from challengers.report.markdown import to_markdown
from challengers.report.pdf import browser
from challengers.results import Finding

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def document() -> Document:
    finding = Finding(
        "f-1", "high", "outcomes", "Model <b> wins", "p < 0.05 & more", metric="roc_auc",
        models=("a", "b"), effect=0.0123, evidence={"x": 1},
    )  # fmt: skip
    return Document(
        "Report <1>",
        "sub",
        [
            Section(
                "summary",
                "Summary",
                [
                    Text("**Verdict.** model `m<x>` is <fine>", "verdict"),
                    Heading("Part"),
                    Bullets(["one", "two | three"]),
                    Table(["a", "b|c"], [["1\n[0, 2]", "<script>"]], caption="note"),
                    Figure("roc", "plots/roc.png", "ROC"),
                    Findings([finding]),
                ],
            )
        ],
    )


def test_html_escapes_text_and_keeps_inline_marks(tmp_path: Path) -> None:
    (tmp_path / "plots").mkdir()
    (tmp_path / "plots" / "roc.png").write_bytes(PNG)
    html = to_html(document(), base=tmp_path)
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<strong>Verdict.</strong> model <code>m&lt;x&gt;</code> is &lt;fine&gt;" in html
    assert "<td>1<br>[0, 2]</td>" in html
    assert f'src="data:image/png;base64,{base64.b64encode(PNG).decode()}"' in html
    assert 'class="finding sev-high"' in html and "Model &lt;b&gt; wins" in html
    assert "metric <code>roc_auc</code> · models a, b · effect +0.0123" in html
    assert '<section id="summary">' in html and '<a href="#summary">Summary</a>' in html


def test_a_missing_plot_is_an_environment_failure(tmp_path: Path) -> None:
    with pytest.raises(EnvironmentFailure, match=r"roc\.png"):
        to_html(document(), base=tmp_path)


def test_markdown_tables_findings_and_figures() -> None:
    md = to_markdown(document())
    assert "| a | b\\|c |" in md and "| 1<br>[0, 2] | <script> |" in md
    assert "![ROC](plots/roc.png)" in md
    assert (
        "- **HIGH** [outcomes] **Model \\<b> wins**: p \\< 0.05 \\& more *(metric `roc_auc`; a, b;"
        in md
    )  # a finding's text is plain: '<b>' is shown, not a tag
    assert '<a id="summary"></a>' in md and "- [Summary](#summary)" in md


def test_inline_and_number_formats() -> None:
    assert inline("a **b** `c`") == "a <strong>b</strong> <code>c</code>"
    assert interval((0.1, float("nan"))) == "[0.1000, n/a]"
    assert pvalue(0.0004) == "<0.001" and pvalue(0.25) == "0.250"
    assert p_is(0.0004) == "p<0.001" and p_is(0.25) == "p=0.250"  # not "p=<0.001"
    # an amount that rounds to nothing: "savings +0 [-0, -0]" read as a saving of something
    assert (signed_money(-0.2), money(-0.3), signed_money(12.6)) == ("0", "0", "+13")


def test_no_chromium_no_pdf_and_one_note(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from challengers.report.pdf import NO_BROWSER, write_pdf

    monkeypatch.setenv("PATH", str(tmp_path))  # no browser on it
    html = tmp_path / "report.html"
    html.write_text("<html><body>x</body></html>")
    assert write_pdf(html, tmp_path / "report.pdf") == NO_BROWSER
    assert not (tmp_path / "report.pdf").exists()


def test_the_headless_shell_is_preferred_to_the_full_browser(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("google-chrome", "chromium", "chromium-headless-shell"):
        (tmp_path / name).write_text("#!/bin/sh\n")
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert browser() == str(tmp_path / "chromium-headless-shell")
    (tmp_path / "chromium-headless-shell").unlink()
    assert browser() == str(tmp_path / "chromium")


PAGED = """<html><head><style>section { break-before: page; }</style></head><body>
<h1>Report</h1><section><h2>One</h2><p>first</p></section>
<section><h2>Two</h2><p>second ﬁt</p><table><tr><td>0.8733</td></tr></table></section>
</body></html>"""


@pytest.mark.skipif(
    not (shutil.which("chromium-headless-shell") and shutil.which("chromium")),
    reason="needs both Chromium's headless shell and the full browser",
)
def test_the_headless_shell_prints_the_pages_the_full_browser_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The PDF a run prints with the headless shell has the pages and the text of the full
    browser's print (the report's print rules: a page a section)."""
    import pypdf

    from challengers.report import pdf

    html = tmp_path / "report.html"
    html.write_text(PAGED)
    printed = {}
    for name in ("chromium-headless-shell", "chromium"):
        monkeypatch.setattr(pdf, "BROWSERS", (name,))
        assert pdf.write_pdf(html, tmp_path / f"{name}.pdf") is None
        pages = pypdf.PdfReader(tmp_path / f"{name}.pdf").pages
        printed[name] = [(list(p.mediabox), p.extract_text()) for p in pages]
    assert len(printed["chromium"]) == 3
    assert printed["chromium-headless-shell"] == printed["chromium"]


@pytest.mark.skipif(browser() is None, reason="no headless Chromium")
def test_a_print_not_waited_for_is_stopped_and_its_profile_removed(tmp_path: Path) -> None:
    """start_pdf returns while the browser prints; closing it (a run stopped meanwhile) kills
    the browser and removes its profile; a print waited for writes the PDF."""
    from challengers.report.pdf import start_pdf

    html = tmp_path / "report.html"
    html.write_text("<html><body>x</body></html>")
    with start_pdf(html, tmp_path / "stopped.pdf") as printing:
        process, profile = printing._process, printing._profile
        assert process is not None and process.poll() is None  # started, not finished
        assert profile is not None and Path(profile.name).is_dir()
    assert process.returncode is not None  # stopped and reaped
    assert not Path(profile.name).exists()
    assert start_pdf(html, tmp_path / "report.pdf").wait() is None
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF")


# names from the config or the data, each holding marks of the report's inline markup or HTML
NAMES = [
    "amt | ratio `x` **bold** & 'q' $x \\ end",
    "<script>alert(1)</script>",
    "Région <b>&amp;</b> [bold]x[/]",
    "`tick",
    "_day_",
    "a\\*b*",
    "[link](http://x)",
    "# not a heading",
    "1. not a list",
    "- not an item",
    "> not a quote",
]


def _named(name: str) -> Document:
    finding = Finding("drift-x", "medium", "drift", f"Feature '{name}' shifts", f"PSI of {name}")
    blocks = [
        Text(f"**Reads** {code(name)} and {plain(name)}."),
        Heading(plain(name)),
        Bullets([plain(name)]),
        Table(["feature", "value"], [[code(name), plain(name)]]),
        Findings([finding]),
    ]
    return Document("r", "s", [Section("summary", "Summary", blocks)])


@pytest.mark.parametrize("name", NAMES)
def test_names_are_shown_as_given_in_html_and_markdown(name: str, tmp_path: Path) -> None:
    """A feature named 'amt `x` **bold**' read 'amt <code>x</code> <strong>bold</strong>' in
    report.html, and report.md passed '<b>' and '[link](...)' through as HTML and a link: the
    names went into the inline markup as marks. The Markdown is read back by a CommonMark
    renderer (markdown-it, with GFM tables): both reports show each name as given."""
    from html import escape

    from markdown_it import MarkdownIt

    shown = escape(name, quote=False)
    from_md = MarkdownIt("commonmark").enable("table").render(to_markdown(_named(name)))
    for html in (to_html(_named(name), base=tmp_path), from_md):
        assert f"<strong>Reads</strong> <code>{shown}</code> and {shown}." in html
        assert f"<h3>{shown}</h3>" in html and f"<li>{shown}</li>" in html
        assert f"<td><code>{shown}</code></td>" in html and f"<td>{shown}</td>" in html
        assert f"Feature '{shown}' shifts" in html.replace("&#x27;", "'")
        assert f"PSI of {shown}" in html


def test_a_control_character_in_a_value_is_written_out() -> None:
    """A segment's value holding an escape sequence: report.md played it on a terminal (cat)."""
    md = to_markdown(_named("red\x1b[31m"))
    assert "\x1b" not in md and "red\\\\x1b\\[31m" in md
    assert inline(plain("red\x1b[31m")) == "red\\x1b[31m"


def test_a_long_name_can_break_in_a_table(tmp_path: Path) -> None:
    """A table is as wide as its longest word: a 300-character feature name made the drift
    table 2,300 px wide and the PDF cut it, and every column after it, at the page's edge. Words
    past 40 characters get a break opportunity every 20; short ones, numbers and tags stay."""
    import re

    name = "L" * 300
    doc = Document(
        "r", "s", [Section("s", "S", [Table(["feature", "PSI"], [[plain(name), "0.3"]])])]
    )
    html = to_html(doc, base=tmp_path)
    (cell,) = re.findall(r"<td>(L[^/]*?)</td>", html)
    assert cell == "<wbr>".join(["L" * 20] * 15) and "<td>0.3</td>" in html
    assert re.sub("<wbr>", "", cell) == name
    table = Table(["a"], [[plain("&" * 40)]])  # 40 characters, an entity counted as one
    short = to_html(Document("r", "s", [Section("s", "S", [table])]), base=tmp_path)
    assert "<wbr>" not in short and "<td>" + "&amp;" * 40 + "</td>" in short


def test_an_identifier_breaks_after_its_underscores(tmp_path: Path) -> None:
    """TERMINAL_ID_amount_max_28d: a break opportunity after each '_' (not a last one), where a
    word past 16 characters holds one; short names stay whole."""
    table = Table(["rank", "model"], [["1", plain("TERMINAL_ID_amount_max_28d (6.3%)")]])
    html = to_html(Document("r", "s", [Section("s", "S", [table])]), base=tmp_path)
    assert "<td>TERMINAL_<wbr>ID_<wbr>amount_<wbr>max_<wbr>28d (6.3%)</td>" in html
    short = Table(["a"], [[plain("IS_ONLINE_FLAG_1")]])  # 16 characters
    assert "<td>IS_ONLINE_FLAG_1</td>" in to_html(
        Document("r", "s", [Section("s", "S", [short])]), base=tmp_path
    )
