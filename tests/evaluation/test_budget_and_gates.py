"""Cost: pricing, the per-item estimate, the cap; and gates with their command."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from ftd.config import Price
from ftd.config.evaluation import EvaluationSettings, Gate
from ftd.evaluation.budget import Budget, Pricing, item_estimate
from ftd.evaluation.gates import check_gate, check_gates, run_promote_command
from ftd.evaluation.items import Item


def test_pricing_per_token_and_unknown_prices() -> None:
    pricing = Pricing.of(Price(input_per_mtok=2.0, output_per_mtok=8.0))
    assert pricing.cost(1_000_000, 500_000) == pytest.approx(6.0)
    assert pricing.known
    unknown = Pricing.of(Price())
    assert unknown.cost(1000, 1000) == 0.0
    assert not unknown.known


def test_item_estimate_counts_answers_and_judge_calls() -> None:
    item = Item(0, 1, ({"role": "user", "content": "x" * 400},), "y" * 400)
    flat = Pricing(prompt=1.0, completion=1.0)
    answers = item_estimate(
        item, answer_models=["a"], judge_model=None, judge_calls=0, pricing=lambda _m: flat
    )
    assert answers == (101 + 4) + 101
    judged = item_estimate(
        item, answer_models=["a", "b"], judge_model="j", judge_calls=4, pricing=lambda _m: flat
    )
    assert judged > 2 * answers


def test_the_budget_admits_while_the_projection_stays_within_the_cap() -> None:
    budget = Budget(1.0, 0.0, first_estimate=0.3)
    assert budget.admit()
    assert budget.admit()
    assert budget.admit()  # 0.9 projected with three in flight
    assert not budget.admit()
    assert budget.stopped_reason is not None
    assert "$1" in budget.stopped_reason
    for _ in range(3):
        budget.finished(0.3)
    assert budget.spent == pytest.approx(0.9)
    assert not budget.admit()  # once stopped, stays stopped
    free = Budget(None, 0.0, first_estimate=10.0)
    assert all(free.admit() for _ in range(100))


def test_observed_costs_replace_the_first_estimate() -> None:
    budget = Budget(10.0, 0.0, first_estimate=5.0)
    for _ in range(5):
        assert budget.admit()
        budget.finished(0.01)
    assert budget.expected() == pytest.approx(0.01)


SUMMARY = {
    "graders": {
        "judge": {"candidate": {"estimate": 4.2}, "verdict": "better"},
        "f1": {"candidate": {"estimate": 0.4}, "verdict": "worse"},
    }
}


def test_gates_read_the_summary() -> None:
    assert check_gate("g", Gate(grader="judge", min_mean=4.0, verdict="better"), SUMMARY)["passed"]
    low = check_gate("g", Gate(grader="judge", min_mean=4.5), SUMMARY)
    assert not low["passed"]
    assert "below 4.5" in low["reason"]
    assert not check_gate("g", Gate(grader="f1", verdict="not_worse"), SUMMARY)["passed"]
    assert not check_gate("g", Gate(grader="exact", min_mean=0.1), SUMMARY)["passed"]
    settings = EvaluationSettings(
        gates={"a": Gate(grader="judge", min_mean=4.0), "b": Gate(grader="f1", verdict="better")}
    )
    outcomes, promoted = check_gates(settings, SUMMARY)
    assert [o["passed"] for o in outcomes] == [True, False]
    assert promoted is False
    assert check_gates(EvaluationSettings(), SUMMARY) == ([], None)


@pytest.mark.anyio
async def test_the_promote_command_gets_the_model_and_its_outcome_is_kept(tmp_path: Path) -> None:
    out = tmp_path / "out.txt"
    script = (
        "import sys, os; print('deploying', sys.argv[1]); "
        "open(sys.argv[2], 'w').write(os.environ['FTD_EVALUATION_ID'])"
    )
    outcome = await run_promote_command(
        [sys.executable, "-c", script, "{model}", str(out)], "ft:m:x", 12, seconds=30
    )
    assert outcome["status"] == 0
    assert outcome["output"].strip() == "deploying ft:m:x"
    assert out.read_text() == "12"
    slow = await run_promote_command(
        [sys.executable, "-c", "import time; time.sleep(5)"], "m", 1, seconds=0.3
    )
    assert slow["status"] is None
    assert "stopped" in slow["error"]
    missing = await run_promote_command([str(tmp_path / "nope")], "m", 1, seconds=5)
    assert missing["status"] is None
    assert "cannot run" in missing["error"]
