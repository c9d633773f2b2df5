"""The validation report as Markdown. Renders the document model; computes nothing."""

from __future__ import annotations

from collections.abc import Sequence

from challengers.experiment_result import ExperimentResult
from challengers.report.document import (
    Block,
    Bullets,
    Document,
    Figure,
    Findings,
    Heading,
    Table,
    Text,
    code,
    fmt,
    interval,
    plain,
)
from challengers.results import Finding

__all__ = ["fmt", "interval", "render", "to_markdown"]


def render(result: ExperimentResult, *, audit: Sequence[Block] = ()) -> str:
    """report.md of a finished run."""
    from challengers.report.sections import build_document

    return to_markdown(build_document(result, audit=audit))


def to_markdown(doc: Document) -> str:
    lines = [f"# {doc.title}", "", f"*{doc.subtitle}*", ""]
    lines += [f"- [{s.title}](#{s.id})" for s in doc.sections]
    for section in doc.sections:
        lines += ["", f'<a id="{section.id}"></a>', "", f"## {section.title}", ""]
        for block in section.blocks:
            lines += [*_block(block), ""]
    return "\n".join(lines).rstrip() + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def finding_line(f: Finding) -> str:
    """A finding's texts are plain (they name columns and values as given), never marks."""
    meta = [f"metric {code(f.metric)}" if f.metric else "", ", ".join(f.models)]
    if f.effect is not None:
        meta.append(f"effect {f.effect:+.4g}")
    tail = "; ".join(m for m in meta if m)
    line = f"- **{f.severity.upper()}** [{f.area}] **{_line(f.title)}**: {_line(f.detail)}" + (
        f" *({tail})*" if tail else ""
    )
    return line + (f" **Recommendation:** {_line(f.recommendation)}" if f.recommendation else "")


def _line(text: str) -> str:
    """Plain text inside a list item: a line break in it (a segment's value) stays in the item."""
    return plain(text).replace("\n", "<br>")


def _block(block: Block) -> list[str]:
    if isinstance(block, Text):
        return [f"> {block.text}" if block.tone == "note" else block.text]
    if isinstance(block, Heading):
        return [f"### {block.text}"]
    if isinstance(block, Bullets):
        return [f"- {item}" for item in block.items]
    if isinstance(block, Table):
        out = [
            "| " + " | ".join(_cell(h) for h in block.header) + " |",
            "|" + "---|" * len(block.header),
        ]
        out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in block.rows]
        return out + ([f"*{block.caption}*"] if block.caption else [])
    if isinstance(block, Figure):
        return [f"![{block.caption}]({block.path})", f"*{block.caption}*"]
    if isinstance(block, Findings):
        return [finding_line(f) for f in block.findings]
    raise TypeError(f"unknown block {type(block).__name__}")
