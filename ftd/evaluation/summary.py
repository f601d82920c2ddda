"""An evaluation's summary: every aggregate with its interval, the paired comparison, the verdict.

The summary is stored as JSON on the evaluation row and is what ``ftd show
eval-N`` prints and the report page draws. Its shape::

    {
      "evaluation_id": 7, "model": "ft:…", "base_model": "gpt-…" | null,
      "test_file": "/…/test.jsonl", "status": "succeeded" | "stopped" | …,
      "progress": {"done": 40, "total": 40, "errors": 0},
      "confidence": 0.95,
      "primary_grader": "judge",
      "verdict": "better" | "worse" | "no_detectable_difference" | null,
      "graders": {
        "<grader>": {
          "kind": "pass_fail" | "score" | "preference",
          "candidate": {"estimate", "low", "high", "n"} | null,  # mean score
          "base": {…} | null,
          "difference": {…} | null,       # paired: candidate minus base, same items
          "tally": {"wins", "ties", "losses"} | null,
          "test": "mcnemar" | "permutation" | null, "p_value": 0.003 | null,
          "margin": 0.0, "verdict": "better" | "too_few_items" | … | null,
          "verdict_reason": "p = 0.003 < 0.05" | null,  # the test's decision, in words
          "errors": 0                     # items this grader could not score
        }
      },
      "judge": {"model": "…", "rubric_agreement": {"rate", "kappa", "n"} | null,
                "order_agreement": {"rate", "kappa", "n"} | null},
      "usage": {"requests", "cached_requests", "prompt_tokens", "completion_tokens"},
      "cost_usd": 0.0123, "max_cost_usd": 5.0 | null, "stopped_reason": "…" | null,
      "gates": [{"name", "grader", "passed", "reason"}], "promoted": true | false | null,
      "checkpoints": [{"model", "step", "evaluation_id", "status", "mean", "interval"}],
      "best_checkpoint": "ft:…:ckpt-step-20" | null
    }

A model's mean has a Clopper-Pearson (pass/fail) or bootstrap-t (scores)
interval; a difference pairs each item's two scores, and its interval and
verdict come from one test (exact McNemar for pass/fail, sign-flip permutation
for scores; see ``stats``). An interval whose ends are equal carries
``"degenerate": true``: every item scored the same, which is no certainty.

For pairwise preference, the candidate's score per item is 1 (preferred in
both orders), 0.5 (a tie, or the orders disagreed) or 0, and the base's is
one minus that. ``largest_differences`` gives the items where
the two models differ most, for the report.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftd.evaluation import rft, stats
from ftd.evaluation.graders import PASS_FAIL

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ftd.config.evaluation import EvaluationSettings
    from ftd.store.evaluations import EvaluationRow

PREFERENCE = "pairwise"


def _pass_fail(grader: str, settings: EvaluationSettings) -> bool:
    # The run's own grader passes or fails when it is a string check or a label model.
    return grader in PASS_FAIL or (grader == rft.RFT and rft.is_pass_fail(settings))


def _kind(grader: str, settings: EvaluationSettings) -> str:
    if grader == PREFERENCE:
        return "preference"
    return "pass_fail" if _pass_fail(grader, settings) else "score"


def _by_item(rows: Sequence[dict[str, Any]]) -> dict[int, dict[str, dict[str, Any]]]:
    sides: dict[int, dict[str, dict[str, Any]]] = {}
    for row in rows:
        sides.setdefault(int(row["item"]), {})[row["role"]] = row
    return sides


def _score(row: dict[str, Any] | None, grader: str) -> float | None:
    if row is None or row.get("error"):
        return None
    entry = row["scores"].get(grader)
    if not isinstance(entry, dict) or entry.get("error"):
        return None
    value = entry.get("score")
    return float(value) if isinstance(value, int | float) else None


def _scores(items: dict[int, dict[str, dict[str, Any]]], role: str, grader: str) -> list[float]:
    found = (_score(sides.get(role), grader) for sides in items.values())
    return [score for score in found if score is not None]


def _passed(row: dict[str, Any] | None, grader: str) -> bool | None:
    if row is None or row.get("error"):
        return None
    entry = row["scores"].get(grader)
    value = entry.get("passed") if isinstance(entry, dict) else None
    return value if isinstance(value, bool) else None


def grader_summary(
    grader: str,
    items: dict[int, dict[str, dict[str, Any]]],
    settings: EvaluationSettings,
    *,
    has_base: bool,
) -> dict[str, Any]:
    confidence, resamples = settings.confidence, settings.resamples

    def mean(values: list[float]) -> dict[str, float | int]:
        return stats.mean_interval(values, confidence=confidence, resamples=resamples).as_dict()

    margin = settings.margin_for(grader)
    candidate = _scores(items, "candidate", grader)
    out: dict[str, Any] = {
        "kind": _kind(grader, settings),
        "candidate": mean(candidate) if candidate else None,
        "base": None,
        "difference": None,
        "tally": None,
        "test": None,
        "p_value": None,
        "margin": margin,
        "verdict": None,
        "verdict_reason": None,
        "errors": sum(
            1
            for sides in items.values()
            if sides.get("candidate") is not None
            and not sides["candidate"].get("error")
            and _score(sides["candidate"], grader) is None
        ),
    }
    if not has_base:
        return out
    if grader == PREFERENCE:
        paired = [(s, 1.0 - s) for s in candidate]
    else:
        base_scores = _scores(items, "base", grader)
        if base_scores:
            out["base"] = mean(base_scores)
        paired = [
            (a, b)
            for sides in items.values()
            if (a := _score(sides.get("candidate"), grader)) is not None
            and (b := _score(sides.get("base"), grader)) is not None
        ]
    if not paired:
        return out
    first = [a for a, _ in paired]
    second = [b for _, b in paired]
    counts = stats.tally(first, second)
    out["tally"] = {"wins": counts.wins, "ties": counts.ties, "losses": counts.losses}
    if _pass_fail(grader, settings):
        passes = [
            (a, b)
            for sides in items.values()
            if (a := _passed(sides.get("candidate"), grader)) is not None
            and (b := _passed(sides.get("base"), grader)) is not None
        ]
        if not passes:
            return out
        comparison = stats.compare_pass_fail(
            [a for a, _ in passes], [b for _, b in passes], confidence=confidence, margin=margin
        )
    else:
        comparison = stats.compare_scores(
            first, second, confidence=confidence, margin=margin, resamples=resamples
        )
    out["difference"] = comparison.difference.as_dict()
    out["test"] = comparison.test
    out["p_value"] = comparison.p_value
    out["verdict"] = comparison.verdict
    out["verdict_reason"] = comparison.reason
    return out


def judge_reliability(
    items: dict[int, dict[str, dict[str, Any]]], judge_model: str
) -> dict[str, Any]:
    """The judge asked twice about a sample (rubric), and in both orders (pairwise)."""
    first: list[int] = []
    again: list[int] = []
    order_one: list[str] = []
    order_two: list[str] = []
    for sides in items.values():
        row = sides.get("candidate")
        if row is None or row.get("error"):
            continue
        rubric = row["scores"].get("judge")
        if (
            isinstance(rubric, dict)
            and isinstance(rubric.get("repeat_score"), int)
            and isinstance(rubric.get("score"), int | float)
        ):
            first.append(int(rubric["score"]))
            again.append(int(rubric["repeat_score"]))
        pairwise = row["scores"].get(PREFERENCE)
        if isinstance(pairwise, dict) and isinstance(pairwise.get("orders"), list):
            orders = pairwise["orders"]
            if len(orders) == 2:
                order_one.append(str(orders[0]))
                order_two.append(str(orders[1]))

    def agreement(a: list[Any], b: list[Any]) -> dict[str, Any] | None:
        if not a:
            return None
        found = stats.agreement(a, b)
        return {"rate": round(found.rate, 6), "kappa": found.kappa, "n": found.n}

    return {
        "model": judge_model,
        "rubric_agreement": agreement(first, again),
        "order_agreement": agreement(order_one, order_two),
    }


def build_summary(
    row: EvaluationRow,
    rows: Sequence[dict[str, Any]],
    settings: EvaluationSettings,
    *,
    total: int | None = None,
) -> dict[str, Any]:
    """The summary of an evaluation from its item rows (finished or not)."""
    items = _by_item(rows)
    has_base = row.base_model is not None
    graders: dict[str, dict[str, Any]] = {
        name: grader_summary(name, items, settings, has_base=has_base)
        for name in settings.graders
        if has_base or name != PREFERENCE
    }
    primary = primary_grader(settings, list(graders))
    errors = sum(1 for sides in items.values() if any(r.get("error") for r in sides.values()))
    uses_judge = "judge" in graders or PREFERENCE in graders
    return {
        "evaluation_id": row.id,
        "model": row.model,
        "base_model": row.base_model,
        "test_file": row.test_file,
        "status": row.status,
        "progress": {
            "done": len(items),
            "total": total if total is not None else row.total_items,
            "errors": errors,
        },
        "confidence": settings.confidence,
        "primary_grader": primary,
        "verdict": graders[primary]["verdict"] if primary is not None else None,
        "graders": graders,
        "judge": judge_reliability(items, settings.judge_model) if uses_judge else None,
        "usage": {
            "requests": row.requests,
            "cached_requests": row.cached_requests,
            "prompt_tokens": row.prompt_tokens,
            "completion_tokens": row.completion_tokens,
        },
        "cost_usd": round(row.cost_usd, 6),
        "max_cost_usd": settings.max_cost_usd,
        "stopped_reason": None,
        "gates": [],
        "promoted": None,
        "checkpoints": [],
        "best_checkpoint": None,
    }


def primary_grader(settings: EvaluationSettings, available: Sequence[str]) -> str | None:
    if settings.primary_grader in available:
        return settings.primary_grader
    return available[0] if available else None


def largest_differences(
    rows: Sequence[dict[str, Any]], grader: str, *, limit: int = 10
) -> list[dict[str, Any]]:
    """The items where candidate and base differ most under ``grader``, largest first.

    Each gives the question, the reference, both answers with their scores,
    and the judge's explanations, so a reader can see what the numbers mean.
    """
    found: list[tuple[float, int, dict[str, Any]]] = []
    for item, sides in _by_item(rows).items():
        candidate, base = sides.get("candidate"), sides.get("base")
        if candidate is None or base is None:
            continue
        a = _score(candidate, grader)
        b = 1.0 - a if grader == PREFERENCE and a is not None else _score(base, grader)
        if a is None or b is None:
            continue
        found.append(
            (
                abs(a - b),
                item,
                {
                    "item": item,
                    "line": candidate["line"],
                    "question": candidate["question"],
                    "reference": candidate["reference"],
                    "difference": round(a - b, 6),
                    "candidate": _side(candidate, a),
                    "base": _side(base, b),
                },
            )
        )
    found.sort(key=lambda entry: (-entry[0], entry[1]))
    return [entry for _, _, entry in found[:limit]]


def _side(row: dict[str, Any], score: float) -> dict[str, Any]:
    explanations = {
        name: entry["explanation"]
        for name, entry in row["scores"].items()
        if isinstance(entry, dict) and entry.get("explanation") and name in ("judge", PREFERENCE)
    }
    return {
        "model": row["model"],
        "answer": row["response"],
        "score": score,
        "explanations": explanations,
    }
