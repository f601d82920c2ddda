"""What makes two runs of one dataset the same run, and how a run is named.

A run is a dataset trained with one set of settings on one provider profile.
Two runs are the same when everything the provider is asked to do is the
same: the model, method, hyperparameters, seed, suffix, metadata, profile and
the rest. What only shapes the split (fractions, companion files) is not part
of it, since every run of a dataset trains on the dataset's one split; nor
is the spend guard's limit, which decides whether a run may start, not what
it is.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

RUN_PREFIX = "run-"
# Settings that do not make a run different: the split is the dataset's, the
# guard's figures only gate the start.
NOT_THE_RUN = frozenset(
    {
        "validation_file",
        "test_file",
        "validation_fraction",
        "test_fraction",
        "min_test_examples",
        "max_cost_usd",
        "auto_approve",
    }
)


def run_identity(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The settings that make a run what it is.

    Unset values (None, empty lists and tables) are left out, so settings
    stored before a key existed match the same settings written since.
    """
    return {
        key: value
        for key, value in settings.items()
        if key not in NOT_THE_RUN and value not in (None, [], {})
    }


def run_key(settings: Mapping[str, Any]) -> str:
    """A short fingerprint of ``run_identity``: equal keys, same run."""
    text = json.dumps(run_identity(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def run_name(run_id: int) -> str:
    return f"{RUN_PREFIX}{run_id}"


def parse_run(key: str) -> int | None:
    """A run's number from ``run-7`` or ``7``; None for anything else."""
    text = key.removeprefix(RUN_PREFIX)
    return int(text) if text.isdigit() else None


def settings_difference(
    first: Mapping[str, Any], second: Mapping[str, Any]
) -> dict[str, tuple[Any, Any]]:
    """Dotted key -> (first's value, second's) wherever two runs' settings differ."""
    out: dict[str, tuple[Any, Any]] = {}

    def walk(prefix: str, a: Any, b: Any) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(a.keys() | b.keys()):
                walk(f"{prefix}{key}.", a.get(key), b.get(key))
        elif a != b:
            out[prefix.rstrip(".")] = (a, b)

    walk("", run_identity(first), run_identity(second))
    return out
