"""A row's change of state, as its history (``transitions``) and the log are told of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping


@dataclass(frozen=True, slots=True)
class Change:
    entity_id: int
    old: str | None
    new: str
    detail: Mapping[str, Any] | None
    context: Mapping[str, Any]  # what the log line names besides (job_id, dataset_id)
