"""Fixtures for the log's tests: every storage test runs against SQLite and the real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

PG_BASE = os.environ.get("MODELTRACE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used, or None when it can."""
    try:
        import psycopg

        with psycopg.connect(PG_BASE, connect_timeout=3) as connection:
            connection.execute("SELECT 1")
    except Exception as error:  # any failure to reach the server means: skip, loudly
        return f"{type(error).__name__}: {str(error).strip()[:200]}"
    return None


def drop_schema(schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(PG_BASE, autocommit=True) as connection:
        connection.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty log location: a SQLite file, or a new PostgreSQL schema dropped afterwards."""
    if request.param == "sqlite":
        yield str(tmp_path / "ledger.db")
        return
    problem = postgres_problem()
    if problem is not None:
        pytest.skip(
            f"POSTGRESQL UNREACHABLE at {PG_BASE} ({problem}): the PostgreSQL store is NOT being tested"
        )
    schema = f"t_{uuid.uuid4().hex[:16]}"
    try:
        yield f"{PG_BASE}?schema={schema}"
    finally:
        drop_schema(schema)
