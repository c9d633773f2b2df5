"""Reading a YAML config safely, and errors that name the key, its file:line and the closest valid key."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import yaml
from pydantic import (
    BaseModel,
    ValidationError,
)

from challengers.config.base import FieldError
from challengers.config.experiment import ExperimentConfig
from challengers.config.models import KIND_CONFIGS
from challengers.errors import ConfigError, control_character, did_you_mean


def load_config(path: str | Path) -> ExperimentConfig:
    """Read, validate and resolve an experiment config. Raises ConfigError with file:line."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: config file not found; check the path")
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; give the YAML config file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}:{line}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x}); save the "
            "config as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config: {exc.strerror or exc}") from exc
    return parse_config(text, source=path)


def parse_config(text: str, source: Path) -> ExperimentConfig:
    """Validate YAML text as an experiment config; ``source`` names it in errors and anchors paths."""
    raw, lines = _read_yaml(text, source)
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}:1: the config must be a YAML mapping (key: value lines)")
    _refuse_control_characters(raw, (), source, lines)
    try:
        return ExperimentConfig.model_validate(
            raw, context={"base_dir": str(source.resolve().parent)}
        )
    except ValidationError as exc:
        raise ConfigError(_format_validation(exc, source, lines)) from None


# the config's free text, where a line break is text ("\n" in a YAML string, or a block scalar)
FREE_TEXT = (("description",), ("governance",), ("data", "scenario_names"))


def _refuse_control_characters(
    node: Any, path: tuple[Any, ...], source: Path, lines: dict[tuple[Any, ...], int]
) -> None:
    """A name (a column, a model, a key) holding a line break or an escape: the one-line errors
    that quote it broke in two ('error: column not in the data: 'TX' / 'error: FRAUD' ...'), and
    an escape sequence reached the terminal. Free text (description, governance, scenario names)
    may hold line breaks and tabs."""
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else ()
    )
    for key, value in items:
        here = (*path, key)
        free = any(here[: len(f)] == f for f in FREE_TEXT)
        for text, what in ((key, "the key "), (value, "")):
            allowed = "\n\r\t" if free and not what else ""
            bad = control_character(text, allowed) if isinstance(text, str) else None
            if bad is None:
                continue
            field = _dotted(path if what else here)
            fix = (
                "remove it (text may hold line breaks and tabs)"
                if allowed
                else "a name is one line of printable text: remove it"
            )
            raise ConfigError(
                f"{source}:{_line_for(here, lines) or 1}: {field + ': ' if field else ''}{what}"
                f"{text!r} holds the control character {bad!r}; {fix}"
            )
        _refuse_control_characters(value, here, source, lines)


MAX_VALUES = 100_000  # a config is a page of settings: more values is an alias bomb or a mistake


def _read_yaml(text: str, source: Path) -> tuple[Any, dict[tuple[Any, ...], int]]:
    try:
        return _read_yaml_safely(text, source)
    except RecursionError:
        raise ConfigError(
            f"{source}: the YAML is nested too deeply to be a config; check its brackets"
        ) from None


def _read_yaml_safely(text: str, source: Path) -> tuple[Any, dict[tuple[Any, ...], int]]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        if node is not None and _expanded_size(node, {}, source) > MAX_VALUES:
            raise ConfigError(
                f"{source}: the YAML expands to more than {MAX_VALUES:,} values (through "
                "anchors and aliases); a config is much smaller: remove the repeated aliases"
            )
        raw = yaml.load(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        raise ConfigError(
            f"{source}{line}: YAML syntax error: {problem}; check indentation and quoting"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: YAML error: {exc}") from None
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _index_lines(node, (), lines, source)
    return raw, lines


def _expanded_size(node: yaml.Node, memo: dict[int, int], source: Path) -> int:
    """How many values the document holds once every alias is expanded (each node counted once
    per reference, computed once per node)."""
    if memo.get(id(node)) == -1:
        raise ConfigError(
            f"{source}:{node.start_mark.line + 1}: a YAML alias refers to a value that contains "
            "it; remove the loop"
        )
    if id(node) not in memo:
        memo[id(node)] = -1  # in progress: meeting it again below is a loop
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [part for pair in node.value for part in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        memo[id(node)] = 1 + sum(_expanded_size(child, memo, source) for child in children)
    return memo[id(node)]


def _index_lines(
    node: yaml.Node,
    path: tuple[Any, ...],
    lines: dict[tuple[Any, ...], int],
    source: Path,
    visited: set[int] | None = None,
) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    visited = set() if visited is None else visited
    if id(node) in visited:  # an alias: its lines were indexed where the anchor is
        return
    visited.add(id(node))
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = key_node.value
            if key in seen:
                raise ConfigError(
                    f"{source}:{key_node.start_mark.line + 1}: key '{key}' appears twice; keep one"
                )
            seen.add(key)
            lines[(*path, key)] = key_node.start_mark.line + 1
            _index_lines(value_node, (*path, key), lines, source, visited)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _index_lines(item, (*path, i), lines, source, visited)


def _format_validation(
    exc: ValidationError, source: Path, lines: dict[tuple[Any, ...], int]
) -> str:
    """One line per problem: file:line: field.path: what; how to fix."""
    out = []
    for err in exc.errors():
        loc = _strip_union_tag(err["loc"])
        cause = err.get("ctx", {}).get("error")
        if isinstance(cause, FieldError):  # a check across sections: its message names the field
            loc = cause.path
        line = _line_for(loc, lines)
        where = f"{source}:{line}" if line else str(source)
        field = "" if isinstance(cause, FieldError) else _dotted(loc)
        problem = _explain(err, tuple(err["loc"]))
        out.append(f"{where}: {field}: {problem}" if field else f"{where}: {problem}")
    return "\n".join(dict.fromkeys(out))


def _is_union_tag(loc: tuple[Any, ...], i: int) -> bool:
    """pydantic inserts the discriminator value after a challenger's index: challengers.0.graph.x"""
    return i == 2 and loc[0] == "challengers" and isinstance(loc[1], int) and loc[2] in KIND_CONFIGS


def _strip_union_tag(loc: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(p for i, p in enumerate(loc) if not _is_union_tag(loc, i))


def _line_for(loc: tuple[Any, ...], lines: dict[tuple[Any, ...], int]) -> int | None:
    for cut in range(len(loc), -1, -1):
        if loc[:cut] in lines:
            return lines[loc[:cut]]
    return None


def _dotted(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _explain(err: Any, loc: tuple[Any, ...]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        key = str(loc[-1])
        valid = _valid_keys(loc[:-1])
        hint = did_you_mean(key, valid)
        listing = f"; valid keys here: {', '.join(valid)}" if valid and not hint else ""
        return f"unknown key '{key}'{hint}{listing}"
    if kind == "missing":
        return "required key is missing; add it"
    if kind == "union_tag_invalid":
        tag = str(err.get("ctx", {}).get("tag", "?"))
        return (
            f"unknown challenger kind '{tag}'{did_you_mean(tag, list(KIND_CONFIGS))} "
            f"(valid kinds: {', '.join(KIND_CONFIGS)})"
        )
    if kind == "union_tag_not_found":
        return f"each challenger needs 'kind': one of {', '.join(KIND_CONFIGS)}"
    message = str(err.get("msg", "invalid value"))
    message = re.sub(r"^(Value error|Assertion failed), ", "", message)
    if kind.startswith(("date_", "datetime_")):
        message += "; write dates as YYYY-MM-DD"
    value = err.get("input")
    if kind not in ("value_error", "assertion_error") and not isinstance(value, dict | list):
        message += f" (got {value!r})"
    if kind == "string_type" and (value is None or isinstance(value, bool | int | float | date)):
        # a column named on, no, Y, null, 1, 2024-01-01: YAML's own reading, not the name
        message += (
            "; YAML reads on/off, yes/no, y/n, true/false, null, numbers and dates as such: "
            "quote a name that looks like one ('on')"
        )
    return message


def _valid_keys(loc: tuple[Any, ...]) -> list[str]:
    """Field names of the config section at ``loc`` (a pydantic error location, tags included)."""
    model: Any = ExperimentConfig
    for i, part in enumerate(loc):
        if _is_union_tag(loc, i):
            model = KIND_CONFIGS[part]
            continue
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        model = _section_model(field.annotation) if field is not None else None
        if model is None:
            return []
    return list(model.model_fields)


def _section_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation such as ``X | None`` or ``list[X]``."""
    import typing

    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _section_model(arg)
        if found is not None:
            return found
    return None
