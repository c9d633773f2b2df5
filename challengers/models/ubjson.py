"""A UBJSON reader for XGBoost's .ubj model files, so that their trees are checked before XGBoost
reads them: a tree whose parents array held -1 made XGBoost's own reader end the process (a
segmentation fault), from a .ubj file as from a .json one.

UBJSON (ubjson.org) as XGBoost writes it: big-endian numbers after a one-byte type marker, strings
and object keys after their length, and containers with a count (``#``) and often one type for
every element (``$``: XGBoost's float and integer arrays, read here at once with numpy). Anything
else, a truncated file, a count past the file's end, nesting past :data:`MAX_DEPTH`, is a
ValueError naming the byte where it happened.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NUMBERS = {"i": ">i1", "U": ">u1", "I": ">i2", "l": ">i4", "L": ">i8", "d": ">f4", "D": ">f8"}
CONSTANTS: dict[str, Any] = {"Z": None, "T": True, "F": False}
MAX_DEPTH = 64  # XGBoost's documents nest about 8 deep


def read_ubjson(data: bytes) -> Any:
    """The document ``data`` holds (dicts, lists, str, int, float, bool, None)."""
    reader = _Reader(data)
    value = reader.value(reader.marker(), 0)
    if reader.at != len(data):
        raise ValueError(f"not UBJSON: {len(data) - reader.at} bytes after the document")
    return value


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, size: int) -> bytes:
        if size < 0 or self.at + size > len(self.data):
            raise ValueError(f"not UBJSON: {size} bytes asked for at byte {self.at}, past its end")
        out = self.data[self.at : self.at + size]
        self.at += size
        return out

    def marker(self) -> str:
        return self.take(1).decode("latin-1")

    def number(self, marker: str) -> Any:
        kind = np.dtype(NUMBERS[marker])
        return np.frombuffer(self.take(kind.itemsize), dtype=kind)[0].item()

    def count(self, marker: str) -> int:
        if marker not in NUMBERS or NUMBERS[marker][1] not in "iu":
            raise ValueError(f"not UBJSON: a length of type {_shown(marker)} at byte {self.at - 1}")
        return int(self.number(marker))

    def text(self) -> str:
        # as XGBoost reads them: bytes it does not decode (a damaged key XGBoost ignores, or a
        # name) are kept, not refused
        return self.take(self.count(self.marker())).decode("utf-8", errors="replace")

    def value(self, marker: str, depth: int) -> Any:
        if marker in NUMBERS:
            return self.number(marker)
        if marker in CONSTANTS:
            return CONSTANTS[marker]
        if marker == "S":
            return self.text()
        if marker == "C":
            return self.take(1).decode("latin-1")
        if depth >= MAX_DEPTH:
            raise ValueError(f"not UBJSON: nested more than {MAX_DEPTH} deep at byte {self.at}")
        if marker == "[":
            return self.array(depth + 1)
        if marker == "{":
            return self.object(depth + 1)
        raise ValueError(f"not UBJSON: unknown type {_shown(marker)} at byte {self.at - 1}")

    def header(self) -> tuple[str | None, int | None]:
        """A container's element type and count, where it gives them (else None, None)."""
        kind = count = None
        if self.data[self.at : self.at + 1] == b"$":
            self.at += 1
            kind = self.marker()
        if self.data[self.at : self.at + 1] == b"#":
            self.at += 1
            count = self.count(self.marker())
            if not 0 <= count <= len(self.data) - self.at:  # each element takes a byte or more
                raise ValueError(f"not UBJSON: {count} elements at byte {self.at}, past its end")
        elif kind is not None:
            raise ValueError(f"not UBJSON: a typed container without a count at byte {self.at}")
        return kind, count

    def array(self, depth: int) -> list[Any]:
        kind, count = self.header()
        if count is None:
            out = []
            while (marker := self.marker()) != "]":
                out.append(self.value(marker, depth))
            return out
        if kind in NUMBERS:  # XGBoost's numeric arrays: one read
            dtype = np.dtype(NUMBERS[kind])
            return np.frombuffer(self.take(count * dtype.itemsize), dtype=dtype).tolist()
        return [self.value(kind or self.marker(), depth) for _ in range(count)]

    def object(self, depth: int) -> dict[str, Any]:
        kind, count = self.header()
        out = {}
        if count is None:
            while self.data[self.at : self.at + 1] != b"}":
                key = self.text()
                out[key] = self.value(self.marker(), depth)
            self.at += 1
            return out
        for _ in range(count):
            key = self.text()
            out[key] = self.value(kind or self.marker(), depth)
        return out


def _shown(marker: str) -> str:
    """A type marker as an error line shows it: the letter, else its byte's value."""
    return repr(marker) if marker.isascii() and marker.isprintable() else f"0x{ord(marker):02x}"
