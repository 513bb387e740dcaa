"""How the CLI turns library errors into one line on stderr and an exit code scripts can rely on.

Exit codes: 0 success (for a judging command: nothing found), 1 a finding that should fail a script
(``compare``: derived), 2 bad input (unreadable, malformed or hostile files, unknown names), 3 an
internal error, 4 an inconclusive judgement.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer

from modeltrace.errors import ModeltraceError

EXIT_FINDING = 1
EXIT_BAD_INPUT = 2
EXIT_INTERNAL = 3
EXIT_INCONCLUSIVE = 4

P = ParamSpec("P")
R = TypeVar("R")


def friendly_errors(func: Callable[P, R]) -> Callable[P, R]:
    """Report a :class:`ModeltraceError` as ``error: <file>: <problem>`` and exit 2, no traceback."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except ModeltraceError as exc:
            print(f"error: {exc}", file=sys.stderr)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except MemoryError:
            print("error: out of memory while reading the input", file=sys.stderr)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("MODELTRACE_DEBUG"):
                raise
            # A bug, not a bad input: still one line, but a distinct exit code to report it by.
            detail = f"{type(exc).__name__}: {exc}"
            message = f"error: internal error ({detail}); MODELTRACE_DEBUG=1 shows the traceback"
            print(message, file=sys.stderr)
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper
