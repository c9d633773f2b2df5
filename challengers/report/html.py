"""The validation report as one self-contained HTML file: styles inline, plots embedded as base64
PNG, no script and no network. Renders the document model; computes nothing."""

from __future__ import annotations

import base64
import re
from html import escape
from pathlib import Path

from challengers.errors import EnvironmentFailure
from challengers.report.document import (
    Block,
    Bullets,
    Document,
    Figure,
    Findings,
    Heading,
    Table,
    Text,
    plain,
)
from challengers.results import Finding

STYLE = """
:root { --ink: #1d232a; --muted: #5b6570; --line: #d9dee3; --band: #f5f7f9; --accent: #1f5f99;
  --high: #b3261e; --medium: #b26a00; --low: #2f6f9f; --info: #6b7280; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans",
  "Liberation Sans", sans-serif; color: var(--ink); background: #fff; }
header { background: #17324d; color: #fff; padding: 28px 40px 22px; }
header h1 { margin: 0 0 6px; font-size: 26px; font-weight: 600; }
header p { margin: 0; color: #c9d6e3; }
nav { position: sticky; top: 0; z-index: 2; background: #fff; border-bottom: 1px solid var(--line);
  padding: 8px 40px; font-size: 13px; display: flex; flex-wrap: wrap; gap: 4px 16px; }
nav a { color: var(--accent); text-decoration: none; white-space: nowrap; }
main { max-width: 1180px; padding: 8px 40px 60px; }
section { padding-top: 18px; border-bottom: 1px solid var(--line); padding-bottom: 14px; }
h2 { font-size: 21px; margin: 10px 0 12px; color: #17324d; }
h3 { font-size: 16px; margin: 22px 0 8px; }
p, li, h3, figcaption { overflow-wrap: break-word; }
p.verdict { font-size: 17px; background: #eef4fa; border-left: 4px solid var(--accent);
  padding: 12px 16px; }
p.note { color: var(--muted); border-left: 3px solid var(--line); padding-left: 12px; }
code { font: 13px ui-monospace, "DejaVu Sans Mono", monospace; background: var(--band);
  padding: 1px 4px; border-radius: 3px; overflow-wrap: anywhere; }
.table-wrap { overflow-x: auto; margin: 8px 0 4px; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 5px 9px; vertical-align: top; text-align: left; }
th { background: #e9eef3; font-weight: 600; }
tbody tr:nth-child(even) td { background: var(--band); }
p.caption, figcaption { color: var(--muted); font-size: 12.5px; margin: 4px 0 12px; }
figure { margin: 14px 0; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
ul.findings { list-style: none; padding: 0; }
ul.findings li { border: 1px solid var(--line); border-left: 5px solid var(--info);
  padding: 8px 12px; margin: 8px 0; background: #fff; }
ul.findings li.sev-high { border-left-color: var(--high); }
ul.findings li.sev-medium { border-left-color: var(--medium); }
ul.findings li.sev-low { border-left-color: var(--low); }
.badge { display: inline-block; font-size: 11px; font-weight: 700; color: #fff; padding: 1px 7px;
  border-radius: 3px; margin-right: 6px; background: var(--info); letter-spacing: .04em; }
.sev-high .badge { background: var(--high); } .sev-medium .badge { background: var(--medium); }
.sev-low .badge { background: var(--low); }
.area { color: var(--muted); font-size: 12.5px; margin-right: 6px; }
.finding p { margin: 4px 0 0; }
.meta { color: var(--muted); font-size: 12.5px; }
p.recommendation { margin-top: 6px; }
@media print {
  nav { display: none; }
  header { padding: 16px 24px; }
  main { max-width: none; padding: 0 8px; }
  section { break-before: page; border-bottom: none; }
  section:first-of-type { break-before: auto; }
  figure, tr, ul.findings li { break-inside: avoid; }
  .table-wrap { overflow: visible; }
  table { font-size: 11.5px; }
  th, td { padding: 3px 6px; }
}
"""

_BOLD = re.compile(r"\*\*(.+?)\*\*")
# a code span: a run of backticks (not escaped) and the next run of the same length (CommonMark)
_CODE = re.compile(r"(?<![`\\])(`+)(?!`)(.+?)(?<!`)\1(?!`)", re.S)
_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")  # a backslash before ASCII punctuation
_HELD = re.compile("\x00(\\d+)\x00")


def inline(text: str) -> str:
    """Escape, then turn ``**bold**`` and ```code``` marks into tags; a backslash-escaped mark
    and a code span's content are text as given (document.plain, document.code)."""
    held: list[str] = []

    def hold(html: str) -> str:
        held.append(html)
        return f"\x00{len(held) - 1}\x00"

    def span(m: re.Match[str]) -> str:
        body = m.group(2)
        if len(body) > 2 and body[0] == body[-1] == " " and body.strip():
            body = body[1:-1]
        return hold(f"<code>{escape(body, quote=False)}</code>")

    out = _CODE.sub(span, text.replace("\x00", ""))
    out = _ESCAPED.sub(lambda m: hold(escape(m.group(1), quote=False)), out)
    out = _BOLD.sub(r"<strong>\1</strong>", escape(out, quote=False))
    return _HELD.sub(lambda m: held[int(m.group(1))], out)


def _cell(text: str) -> str:
    return "<br>".join(_breakable(inline(line)) for line in text.split("\n"))


# a run of more than LONG characters without a space (a feature's name, a segment's value): a
# table is as wide as its longest word, and the PDF cut a 300-character name's table, and every
# column after it, at the page's edge (the screen scrolls it). A word past SHORT characters may
# also break after each '_' (TERMINAL_ID_amount_max_28d): the demo's SHAP table was 959 px at
# the PDF's 705, and Chromium shrank every page of the report to fit it (body text 7.5 pt)
LONG, CHUNK, SHORT = 40, 20, 16
_TAG = re.compile(r"(<[^>]*>)")
_UNIT = re.compile(r"&[#\w]+;|.", re.S)  # an entity is one character


def _breakable(html: str) -> str:
    """``html`` with break opportunities (``<wbr>``) outside its tags: every :data:`CHUNK`
    characters of its words longer than :data:`LONG`, and after the underscores of its words
    longer than :data:`SHORT`."""
    parts = _TAG.split(html)
    return "".join(part if i % 2 else _break_words(part) for i, part in enumerate(parts))


def _break_words(text: str) -> str:
    out: list[str] = []
    word: list[str] = []
    for unit in [*_UNIT.findall(text), " "]:
        if not unit.isspace():
            word.append(unit)
            continue
        if len(word) > LONG:
            out.append(
                "<wbr>".join(
                    _after_underscores(word[i : i + CHUNK]) for i in range(0, len(word), CHUNK)
                )
            )
        elif len(word) > SHORT:
            out.append(_after_underscores(word))
        else:
            out.append("".join(word))
        out.append(unit)
        word = []
    return "".join(out)[:-1]


def _after_underscores(units: list[str]) -> str:
    """``units`` joined, a break opportunity after each '_' but a last one."""
    return "".join(
        u + "<wbr>" if u == "_" and i < len(units) - 1 else u for i, u in enumerate(units)
    )


def _table(block: Table) -> str:
    head = "".join(f"<th>{_cell(h)}</th>" for h in block.header)
    body = "".join(
        "<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in block.rows
    )
    caption = f'<p class="caption">{inline(block.caption)}</p>' if block.caption else ""
    return (
        f'<div class="table-wrap"><table><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>{caption}"
    )


def _figure(block: Figure, base: Path) -> str:
    path = base / block.path
    try:
        data = base64.b64encode(path.read_bytes()).decode("ascii")
    except OSError as exc:
        raise EnvironmentFailure(f"cannot read the plot {path}: {exc}") from exc
    return (
        f'<figure id="plot-{escape(block.name)}"><img alt="{escape(block.caption)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{inline(block.caption)}</figcaption>'
        "</figure>"
    )


def _plain(text: str) -> str:
    """A finding's text, which names columns and values as given: never marks."""
    return _cell(plain(text))


def _finding(f: Finding) -> str:
    meta = []
    if f.metric:
        meta.append(f"metric <code>{escape(f.metric)}</code>")
    if f.models:
        meta.append("models " + ", ".join(escape(m) for m in f.models))
    if f.effect is not None:
        meta.append(f"effect {f.effect:+.4g}")
    return (
        f'<li class="finding sev-{f.severity}"><span class="badge">{f.severity.upper()}</span>'
        f'<span class="area">{escape(f.area)}</span><strong>{_plain(f.title)}</strong>'
        f"<p>{_plain(f.detail)}</p>"
        + (
            f'<p class="recommendation"><strong>Recommendation:</strong> '
            f"{_plain(f.recommendation)}</p>"
            if f.recommendation
            else ""
        )
        + (f'<p class="meta">{" · ".join(meta)}</p>' if meta else "")
        + "</li>"
    )


def _block(block: Block, base: Path) -> str:
    if isinstance(block, Text):
        tone = f' class="{block.tone}"' if block.tone else ""
        return f"<p{tone}>{inline(block.text)}</p>"
    if isinstance(block, Heading):
        return f"<h3>{inline(block.text)}</h3>"
    if isinstance(block, Bullets):
        return "<ul>" + "".join(f"<li>{inline(i)}</li>" for i in block.items) + "</ul>"
    if isinstance(block, Table):
        return _table(block)
    if isinstance(block, Figure):
        return _figure(block, base)
    if isinstance(block, Findings):
        return '<ul class="findings">' + "".join(_finding(f) for f in block.findings) + "</ul>"
    raise TypeError(f"unknown block {type(block).__name__}")


def to_html(doc: Document, *, base: Path) -> str:
    """The whole report; figures are read from ``base`` and embedded."""
    nav = "".join(f'<a href="#{s.id}">{escape(s.title)}</a>' for s in doc.sections)
    sections = "".join(
        f'<section id="{s.id}"><h2>{escape(s.title)}</h2>'
        + "".join(_block(b, base) for b in s.blocks)
        + "</section>"
        for s in doc.sections
    )
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(doc.title)}</title><style>{STYLE}</style></head><body>"
        f"<header><h1>{escape(doc.title)}</h1><p>{inline(doc.subtitle)}</p></header>"
        f"<nav>{nav}</nav><main>{sections}</main></body></html>\n"
    )
