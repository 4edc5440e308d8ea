"""Status lifecycles of records such as orders and reservations.

Both the ERP and the inventory keep records that move through a small state
machine and answer the same way when asked to: moving to the state a record
is already in is a successful no-op (so a retried step is harmless), a move
the machine allows is applied, anything else is 409 ``invalid_state``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import BaseModel

from services.common.database import Database
from services.common.errors import ServiceError
from services.common.identifiers import utc_now


class TrackedRecord(BaseModel):
    """A record with a lifecycle status and creation/update timestamps."""

    status: StrEnum
    created_at: str
    updated_at: str


RecordT = TypeVar("RecordT", bound=TrackedRecord)


@dataclass(frozen=True)
class Lifecycle(Generic[RecordT]):
    """The allowed status moves of one table's records."""

    noun: str
    """What a record is called in messages; ``<noun>_id`` names it in error bodies."""
    table: str
    id_column: str
    """Primary-key column, also the record model's attribute of the same name."""
    transitions: Collection[tuple[StrEnum, StrEnum]]
    """Allowed ``(from, to)`` moves."""

    def advance(self, database: Database, record: RecordT, target: StrEnum) -> RecordT:
        """Move ``record`` to ``target`` and persist it; returns the record as it now is."""
        if record.status == target:
            return record
        record_id = getattr(record, self.id_column)
        if (record.status, target) not in self.transitions:
            raise ServiceError(
                409,
                "invalid_state",
                f"{self.noun.capitalize()} {record_id!r} is {record.status.value} and cannot become {target.value}",
                status=record.status.value,
                **{f"{self.noun}_id": record_id},
            )
        updated = record.model_copy(update={"status": target, "updated_at": utc_now()})
        # Table and column names come from this (code-defined) lifecycle, never from a request.
        database.execute(
            f"UPDATE {self.table} SET status = ?, updated_at = ? WHERE {self.id_column} = ?",
            (target.value, updated.updated_at, record_id),
        )
        return updated
