"""Two runs compared on the same test items: paired by prompt, the usual tests and rules."""

from __future__ import annotations

import json
from typing import Any

from ftd.config.evaluation import EvaluationSettings
from ftd.evaluation.across_runs import graders_of, paired_runs

SETTINGS = EvaluationSettings(resamples=1000)


def _rows(scores: list[dict[str, Any]], *, skip: frozenset[int] = frozenset()) -> list[Any]:
    return [
        {
            "item": n,
            "role": "candidate",
            "line": n + 1,
            "prompt_sha256": f"p{n}",
            "scores": json.dumps(entry),
            "error": None,
        }
        for n, entry in enumerate(scores)
        if n not in skip
    ]


def _exact(passed: bool) -> dict[str, Any]:
    return {"exact": {"score": 1.0 if passed else 0.0, "passed": passed}}


def test_pass_fail_is_decided_by_mcnemar_on_the_shared_items() -> None:
    first = _rows([_exact(True) for _ in range(20)])
    second = _rows([_exact(n >= 14) for n in range(20)])
    found = paired_runs(first, second, SETTINGS)
    exact = found["graders"]["exact"]
    assert found["items"] == 20
    assert exact["test"] == "mcnemar"
    assert exact["tally"] == {"wins": 14, "ties": 6, "losses": 0}
    assert exact["verdict"] == "better"
    # The other way round, the same test says worse.
    assert paired_runs(second, first, SETTINGS)["graders"]["exact"]["verdict"] == "worse"


def test_items_pair_by_prompt_and_an_item_one_run_lacks_is_left_out() -> None:
    scores = [{"f1": {"score": 0.5 + n / 100}} for n in range(12)]
    found = paired_runs(_rows(scores), _rows(scores, skip=frozenset({0, 1, 2})), SETTINGS)
    assert found["items"] == 9
    f1 = found["graders"]["f1"]
    assert f1["test"] == "permutation"
    assert f1["verdict"] == "too_few_items"  # under ten pairs: no claim either way
    assert f1["difference"]["estimate"] == 0.0


def test_the_pairwise_grader_is_left_out() -> None:
    rows = _rows([{"pairwise": {"score": 1.0}, "f1": {"score": 0.5}} for _ in range(3)])
    assert graders_of(rows) == ["f1"]
    assert set(paired_runs(rows, rows, SETTINGS)["graders"]) == {"f1"}
