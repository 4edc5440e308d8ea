"""Paged, oldest-first listings: the ``limit``/``offset`` query parameters and the matching query."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query

from services.common.database import Database


@dataclass(frozen=True)
class Page:
    """A window onto an ordered listing."""

    limit: int
    offset: int


def _page_from_query(
    limit: Annotated[int, Query(ge=1, le=1000, description="Items per page")] = 100,
    # Bounded so a huge offset is a 422, not an integer overflow inside SQLite.
    offset: Annotated[int, Query(ge=0, le=10**9, description="Items to skip")] = 0,
) -> Page:
    return Page(limit=limit, offset=offset)


PageQuery = Annotated[Page, Depends(_page_from_query)]
"""Route parameter type that reads and validates ``?limit=&offset=``."""


def fetch_page(database: Database, table: str, page: Page, **filters: str | None) -> list[sqlite3.Row]:
    """Rows of ``table`` in insertion order (oldest first), restricted to ``column = value`` filters.

    Filters whose value is ``None`` are ignored, so optional query parameters
    can be passed straight through. ``table`` and the filter names come from
    code, never from a request; only values are bound as parameters.
    """
    active = {column: value for column, value in filters.items() if value is not None}
    where = " AND ".join(f"{column} = ?" for column in active) or "1 = 1"
    # rowid follows insertion order, which is what "oldest first" means even
    # when two rows share a millisecond timestamp.
    sql = f"SELECT * FROM {table} WHERE {where} ORDER BY rowid LIMIT ? OFFSET ?"
    return database.fetch_all(sql, (*active.values(), page.limit, page.offset))
