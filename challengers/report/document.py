"""The validation report as a document model: sections of blocks, rendered to Markdown and HTML.

The sections are built once from the :class:`ExperimentResult` (see :mod:`.sections`); the two
renderers only translate blocks. Text may carry ``**bold**`` and ```code``` inline marks (a code
span's fence as long as needed, and backslash escapes, as in CommonMark); a table cell may hold
several lines separated by ``\\n``. Text from the config or the data (a column's name, a segment's
value, the governance's fields) enters a block through :func:`plain` or :func:`code`, which keep
it as given: a column named ``amt `x` **y**`` or ``<b>`` is no mark.

Other parts plug blocks in: the data audit passes its blocks to ``sections.build_document``
(``audit=``) and they appear under "Conceptual soundness".
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from challengers.results import Finding


@dataclass(frozen=True)
class Text:
    text: str
    tone: str = ""  # "", "verdict", "note"


@dataclass(frozen=True)
class Heading:
    text: str


@dataclass(frozen=True)
class Bullets:
    items: Sequence[str]


@dataclass(frozen=True)
class Table:
    header: Sequence[str]
    rows: Sequence[Sequence[str]]
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    name: str  # the plot's key in ExperimentResult.plots
    path: str  # relative to the report
    caption: str


@dataclass(frozen=True)
class Findings:
    findings: Sequence[Finding]


Block = Text | Heading | Bullets | Table | Figure | Findings


@dataclass
class Section:
    id: str  # stable anchor, also what the browser test looks for
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    title: str
    subtitle: str
    sections: list[Section]


SECTION_IDS = (
    "summary",
    "conclusion",
    "governance",
    "scope",
    "champion",
    "soundness",
    "outcomes",
    "calibration",
    "stability",
    "segments",
    "explanations",
    "replication",
    "findings",
    "model-limitations",
    "monitoring",
    "limitations",
    "environment",
)


# ------------------------------------------------------------------------------------ user text

_MARKS = set("\\`*<&[]")


def plain(text: str) -> str:
    """Text from the config or the data, shown as given: its characters that would be marks
    (``*``, backticks, ``<``, ``&``, brackets, a ``_`` at a word's edge) escaped, and control
    characters but line breaks and tabs written out."""
    out = []
    for i, ch in enumerate(text):
        edge = ch == "_" and not (
            0 < i < len(text) - 1 and text[i - 1].isalnum() and text[i + 1].isalnum()
        )
        # a control character's written-out form: its backslash is no escape
        out.append(f"\\{ch}" if ch in _MARKS or edge else written_out(ch).replace("\\", "\\\\"))
    shown = "".join(out)
    # where it may open a line (a list item, a cell's line): not a heading, quote or list mark
    opening = _OPENING.match(shown)
    return f"{shown[: opening.end() - 1]}\\{shown[opening.end() - 1 :]}" if opening else shown


_OPENING = re.compile(r"\s*(?:>|(?:#{1,6}|[+-]|\d{1,9}[.)])(?=\s|$))")


def written_out(ch: str) -> str:
    """A control character but a line break or a tab as its escape (\\x1b): a terminal showing
    the report (cat report.md) would play it."""
    return repr(ch)[1:-1] if unicodedata.category(ch) == "Cc" and ch not in "\n\t" else ch


def code(text: str) -> str:
    """``text`` as a code span whatever backticks it holds: a fence longer than its longest run
    of backticks, padded with a space where it starts or ends with one (CommonMark)."""
    if not text:
        return ""
    text = "".join(written_out(ch) for ch in text)
    fence = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text[0] in "` " or text[-1] in "` " else ""
    return f"{fence}{pad}{text}{pad}{fence}"


# ------------------------------------------------------------------------------------ formatting


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}f}"


def interval(ci: Sequence[float] | None, digits: int = 4) -> str:
    if not ci:
        return ""
    return f"[{fmt(ci[0], digits)}, {fmt(ci[1], digits)}]"


def money(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{_no_negative_zero(value):,.0f}"


def signed_money(value: float | None) -> str:
    """With its sign; an amount that rounds to nothing is 0 ("+0 [-0, -0]" read as a saving)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    value = _no_negative_zero(value)
    return f"{value:+,.0f}" if value else "0"


def _no_negative_zero(value: float) -> float:
    """0 for an amount that rounds to nothing, whatever its sign (else "-0")."""
    return 0.0 if abs(value) < 0.5 else value


def pct(value: float | None, digits: int = 1) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{100 * value:.{digits}f}%"


def pvalue(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def p_is(value: float | None) -> str:
    """``p<0.001`` or ``p=0.042`` ("p=<0.001" read as a typo)."""
    shown = pvalue(value)
    return f"p{shown}" if shown.startswith("<") else f"p={shown}"
