"""Typed rows read from the store; JSON columns come back decoded."""

from __future__ import annotations

import dataclasses
import json
import operator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Sequence


class _Row:
    """Built from a sqlite3.Row by column name; ``_json`` names the columns to decode."""

    __slots__ = ()
    _json: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Self:
        data = dict(row)
        for key in cls._json:
            if data.get(key) is not None:
                data[key] = json.loads(data[key])
        return cls(**data)

    @classmethod
    def from_rows(cls, rows: Sequence[sqlite3.Row]) -> list[Self]:
        """The rows of one query, their columns matched to the fields once for all.

        The tracker reads every unfinished job each cycle: 10,000 rows built
        through a dict apiece cost it a third of a second of CPU, most of it
        the dicts. A query whose columns are not exactly the fields goes row
        by row, by name, as ``from_row`` does.
        """
        if not rows:
            return []
        names = [f.name for f in dataclasses.fields(cls)]  # type: ignore[arg-type]
        columns = rows[0].keys()
        if sorted(columns) != sorted(names):
            return [cls.from_row(r) for r in rows]
        pick = operator.itemgetter(*(columns.index(name) for name in names))
        decoded = [i for i, name in enumerate(names) if name in cls._json]
        built: list[Self] = []
        for row in rows:
            values = pick(row)
            if decoded and any(values[i] is not None for i in decoded):
                values = list(values)
                for i in decoded:
                    if values[i] is not None:
                        values[i] = json.loads(values[i])
            built.append(cls(*values))
        return built


@dataclass(frozen=True, slots=True)
class DatasetRow(_Row):
    id: int
    sha256: str
    name: str
    path: str
    size_bytes: int
    state: str
    duplicate_of: int | None
    report: dict[str, Any] | None
    settings: dict[str, Any] | None
    estimated_cost_usd: float | None
    approved_at: float | None
    error: str | None
    attempts: int
    next_attempt_at: float | None
    created_at: float
    updated_at: float
    tag: str
    owner_uid: int | None = None
    # The dataset (its first run's row) whose content and split this run trains.
    run_of: int | None = None

    _json: ClassVar[tuple[str, ...]] = ("report", "settings")

    @property
    def root_id(self) -> int:
        """The dataset this run belongs to: its first run's row."""
        return self.run_of if self.run_of is not None else self.id


@dataclass(frozen=True, slots=True)
class FileRow(_Row):
    dataset_id: int
    role: str
    path: str
    moving_from: str | None
    identity: str | None = None
    refused: str | None = None  # why ftd did not move this file (it stays where it was)


@dataclass(frozen=True, slots=True)
class SplitRow(_Row):
    dataset_id: int
    side: str
    path: str
    examples: int
    sha256: str


@dataclass(frozen=True, slots=True)
class UploadRow(_Row):
    dataset_id: int
    side: str
    filename: str
    bytes: int
    file_id: str | None
    created_at: float
    updated_at: float


@dataclass(frozen=True, slots=True)
class JobRow(_Row):
    id: int
    dataset_id: int | None
    job_id: str
    status: str
    model: str
    fine_tuned_model: str | None
    trained_tokens: int | None
    estimated_finish: float | None
    error_code: str | None
    error_message: str | None
    error_param: str | None
    metadata: dict[str, str] | None
    created_at: float
    updated_at: float
    finished_at: float | None
    cost_usd: float | None
    result_files: list[str] | None
    results_parsed_at: float | None
    model_ready_at: float | None
    details_at: float | None
    adopted: int
    events_cursor: str | None
    model_deleted_at: float | None
    provider: str
    # Renewed by every write to the row (see migration 16).
    revision: int = 0

    _json: ClassVar[tuple[str, ...]] = ("metadata", "result_files")


@dataclass(frozen=True, slots=True)
class RevisedJobs:
    """One read of the jobs written since a revision (see ``Store.jobs_revised_since``)."""

    latest: int  # the largest revision of any job when read
    rows: list[JobRow]  # every job written after the revision asked about, by id
    unfinished: int  # how many jobs are not succeeded, failed or cancelled
