"""Typed rows read from the store; JSON columns come back decoded."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3


def _decoded(row: sqlite3.Row, keys: tuple[str, ...]) -> dict[str, Any]:
    data = dict(row)
    for key in keys:
        if data.get(key) is not None:
            data[key] = json.loads(data[key])
    return data


@dataclass(frozen=True, slots=True)
class DatasetRow:
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

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> DatasetRow:
        return cls(**_decoded(row, ("report", "settings")))


@dataclass(frozen=True, slots=True)
class FileRow:
    dataset_id: int
    role: str
    path: str
    moving_from: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> FileRow:
        return cls(**dict(row))


@dataclass(frozen=True, slots=True)
class SplitRow:
    dataset_id: int
    side: str
    path: str
    examples: int
    sha256: str

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> SplitRow:
        return cls(**dict(row))


@dataclass(frozen=True, slots=True)
class UploadRow:
    dataset_id: int
    side: str
    filename: str
    bytes: int
    file_id: str | None
    created_at: float
    updated_at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> UploadRow:
        return cls(**dict(row))


@dataclass(frozen=True, slots=True)
class JobRow:
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

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> JobRow:
        return cls(**_decoded(row, ("metadata", "result_files")))
