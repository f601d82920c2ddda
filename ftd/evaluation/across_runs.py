"""Two runs of one dataset compared on the same test items: which model did better.

Every run of a dataset is evaluated on the dataset's one test split, so two
runs' candidates answered the same items: the comparison is paired, item by
item, with the same tests and rules as a model against its base (exact
McNemar for pass/fail graders, the sign-flip permutation test for scores,
"too_few_items" below what they can resolve). Items are matched by the
prompt's hash and line, so an item one evaluation skipped or failed is left
out of the pairs, never matched with another. The pairwise grader is left out:
its scores say how a candidate fared against its own base, not against
another run.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ftd.evaluation.summary import PREFERENCE, grader_summary

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ftd.config.evaluation import EvaluationSettings


def _keyed(rows: Sequence[dict[str, Any]]) -> dict[tuple[str, int], dict[str, Any]]:
    out = {}
    for row in rows:
        if row.get("role", "candidate") != "candidate":
            continue
        scores = row.get("scores")
        decoded = json.loads(scores) if isinstance(scores, str) else (scores or {})
        out[(str(row["prompt_sha256"]), int(row["line"]))] = {**row, "scores": decoded}
    return out


def graders_of(rows: Sequence[dict[str, Any]]) -> list[str]:
    """The graders that scored these items, pairwise left out, in a stable order."""
    found: set[str] = set()
    for row in _keyed(rows).values():
        found.update(name for name in row["scores"] if name != PREFERENCE)
    return sorted(found)


def paired_runs(
    first: Sequence[dict[str, Any]],
    second: Sequence[dict[str, Any]],
    settings: EvaluationSettings,
) -> dict[str, Any]:
    """Each grader's paired comparison of ``first``'s candidate minus ``second``'s.

    The rows are ``evaluation_items`` rows of each run's evaluation; the
    answer holds the shared items' count and, per grader, what
    ``grader_summary`` gives (means with intervals, the difference, the test,
    its p-value and verdict).
    """
    a, b = _keyed(first), _keyed(second)
    shared = sorted(a.keys() & b.keys())
    items = {number: {"candidate": a[key], "base": b[key]} for number, key in enumerate(shared)}
    graders = sorted(set(graders_of(first)) & set(graders_of(second)))
    return {
        "items": len(shared),
        "graders": {name: grader_summary(name, items, settings, has_base=True) for name in graders},
    }
