"""One exception family. The library raises these; only the CLI turns them into exit codes.

Each message is one line saying what was wrong, where, and how to fix it.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable


class ChallengeError(Exception):
    """Base of every error the tool reports to the user without a traceback."""

    exit_code: int = 2


class ConfigError(ChallengeError):
    """The experiment config is invalid (exit 2). Names file:line and the field path."""


class DataError(ChallengeError):
    """The data does not fit the config (exit 2). Names the column or window."""


class ModelError(ChallengeError):
    """The champion model cannot be used (exit 2): unreadable, wrong library, features missing."""


class EnvironmentFailure(ChallengeError):
    """The environment failed (exit 3): tracking store unreachable, disk full, unwritable output."""

    exit_code = 3


class RunInterrupted(ChallengeError):
    """SIGINT/SIGTERM arrived; finished work is kept (exit 130)."""

    exit_code = 130


# XGBoost starts its messages with the time and its source file ("[05:24:20]
# /workspace/include/xgboost/json.h:88: Invalid cast, ..."): noise to a validator, and a message
# that changes from run to run
NATIVE_PREFIX = re.compile(r"^\[\d\d:\d\d:\d\d\] \S+:\d+: ")


def first_line(exc: BaseException, limit: int | None = 200) -> str:
    """The first line of an exception's message (or its type's name), cut at ``limit`` characters:
    native libraries put whole dumps in their messages, and errors here are one line."""
    lines = str(exc).strip().splitlines()
    return NATIVE_PREFIX.sub("", lines[0])[:limit] if lines else type(exc).__name__


def describe(exc: BaseException, limit: int | None = None) -> str:
    """``Type: first line of the message``, or the type alone when the message is blank."""
    line = first_line(exc, limit)
    name = type(exc).__name__
    return name if line == name else f"{name}: {line}"


def closest(word: str, choices: Iterable[str]) -> str | None:
    """The closest valid name to a misspelt one, or None when nothing is close."""
    import difflib

    pool = sorted(choices)
    matches = difflib.get_close_matches(word, pool, n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in pool}
        matches = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
        matches = [lowered[m] for m in matches]
    return matches[0] if matches else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A ' (did you mean 'x'?)' suffix, or '' when nothing is close."""
    match = closest(word, choices)
    return f"; did you mean '{match}'?" if match else ""


SECRET_VARIABLES = ("MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")
USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def scrub(text: str) -> str:
    """The text without credentials: the user:password@ of URLs, and the tracking secrets of the
    environment. The one scrubber: every message, log line and URI the tool shows goes through it."""
    text = USERINFO.sub("***@", text)
    for name in SECRET_VARIABLES:
        secret = os.environ.get(name)
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def control_character(text: str, allowed: str = "") -> str | None:
    """The first control character of ``text`` (a line break, a tab, an escape), if any, but
    those in ``allowed``: a name holding one breaks the one-line messages that quote it."""
    return next((ch for ch in text if unicodedata.category(ch) == "Cc" and ch not in allowed), None)
