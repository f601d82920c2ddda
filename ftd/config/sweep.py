"""A sidecar that lists several runs: ``[[runs]]`` tables, each a sidecar of its own.

Keys at the top of the sidecar apply to every run; each ``[[runs]]`` table
adds or replaces keys for its run (tables such as ``hyperparameters`` merge
key by key). A sidecar without ``[[runs]]`` is one run, as it always was.
Errors name the sidecar and the run (``runs[2].model``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ftd.config.loading import _config_error, _read_toml
from ftd.config.run import DatasetOverrides
from ftd.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

RUNS_KEY = "runs"
MAX_RUNS = 50


def merged(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` laid over it, tables merged key by key."""
    out = dict(base)
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = value
    return out


def _said(where: str) -> Callable[[tuple[str, ...]], str]:
    def describe(_loc: tuple[str, ...]) -> str:
        return where

    return describe


def load_sweep(path: Path) -> list[DatasetOverrides]:
    """The runs a sidecar asks for, in its order; one when it has no ``[[runs]]``."""
    data = _read_toml(path)
    tables = data.pop(RUNS_KEY, None)
    if tables is None:
        tables = [{}]
    elif not isinstance(tables, list) or not tables:
        raise ConfigError(RUNS_KEY, f"must be one or more [[runs]] tables (in sidecar {path})")
    elif len(tables) > MAX_RUNS:
        raise ConfigError(
            RUNS_KEY, f"{len(tables)} runs; at most {MAX_RUNS} per sidecar (in sidecar {path})"
        )
    runs = []
    for number, table in enumerate(tables, start=1):
        if not isinstance(table, dict):
            raise ConfigError(f"{RUNS_KEY}[{number}]", f"must be a table (in sidecar {path})")
        where = f"in sidecar {path}" if len(tables) == 1 else f"in run {number} of sidecar {path}"
        try:
            overrides = DatasetOverrides.model_validate(merged(data, table))
        except ValidationError as exc:
            raise _config_error(exc, _said(where), DatasetOverrides) from None
        overrides._source = path
        runs.append(overrides)
    return runs
