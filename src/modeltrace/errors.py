"""The error classes every part of modeltrace raises.

A caller catches :class:`ModeltraceError` for anything we raise on purpose; the CLI turns it into a
one-line message and a non-zero exit. Errors about an input name the file and the problem, so a
user facing a hostile or broken file knows which one and why.
"""

from __future__ import annotations

from pathlib import Path


class ModeltraceError(Exception):
    """Base class of every error modeltrace raises on purpose."""


class ModelFileError(ModeltraceError):
    """A model file (or directory) is unreadable, malformed, truncated or hostile."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class UnsupportedFormatError(ModelFileError):
    """The input is well-formed, but in a format or variant modeltrace does not read."""


class UnsafePickleError(ModelFileError):
    """A pickle asked for a global outside the tensor-rebuilding allow-list; nothing was executed."""

    def __init__(self, path: str | Path, global_name: str) -> None:
        self.global_name = global_name
        super().__init__(
            path,
            f"refused to unpickle: the pickle asks for the global {global_name!r}, which is not in the "
            "allow-list of tensor-rebuilding functions (no code from the file was executed)",
        )


class RoleError(ModeltraceError):
    """A canonical role was asked for that the model does not have."""


class ZooError(ModeltraceError):
    """Fetching or verifying a zoo model failed."""
