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

from array import array
from typing import TYPE_CHECKING, Any

from ftd.evaluation import rft, stats
from ftd.evaluation.graders import PASS_FAIL

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

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


def _passed(row: dict[str, Any] | None, grader: str) -> bool | None:
    if row is None or row.get("error"):
        return None
    entry = row["scores"].get(grader)
    value = entry.get("passed") if isinstance(entry, dict) else None
    return value if isinstance(value, bool) else None


class _Column:
    """One side's per-item values under one grader, packed: a score and a pass, each maybe absent.

    A hundred thousand items take a few bytes each here, where their rows
    (scores as nested dicts) would take kilobytes.
    """

    __slots__ = ("has_pass", "has_score", "passes", "scores")

    def __init__(self) -> None:
        self.scores = array("d")
        self.has_score = array("b")
        self.passes = array("b")
        self.has_pass = array("b")

    def add(self, row: dict[str, Any] | None, grader: str) -> None:
        score = _score(row, grader)
        self.scores.append(score if score is not None else 0.0)
        self.has_score.append(score is not None)
        passed = _passed(row, grader)
        self.passes.append(bool(passed))
        self.has_pass.append(passed is not None)

    def present(self) -> list[float]:
        return [v for v, has in zip(self.scores, self.has_score, strict=True) if has]


class _Graded:
    """What the summary needs of one grader, item by item, in item order."""

    __slots__ = ("base", "candidate", "errors")

    def __init__(self) -> None:
        self.candidate = _Column()
        self.base = _Column()
        self.errors = 0

    def add(self, sides: dict[str, dict[str, Any]], grader: str) -> None:
        row = sides.get("candidate")
        self.candidate.add(row, grader)
        self.base.add(sides.get("base"), grader)
        if row is not None and not row.get("error") and _score(row, grader) is None:
            self.errors += 1


class Collected:
    """An evaluation's items folded one at a time into what its summary is computed from.

    The statistics pair each item's two values, so the values are kept, but
    only as packed numbers: the items can be streamed in, a chunk at a time,
    and never all held as rows.
    """

    def __init__(self, graders: Sequence[str]) -> None:
        self.graders = {name: _Graded() for name in graders}
        self.items = 0
        self.error_items = 0
        self.answers = 0
        self.failed_answers = 0
        self.first_failure: str | None = None
        self.rubric_first = array("i")
        self.rubric_again = array("i")
        self.order_one = array("i")
        self.order_two = array("i")
        self._labels: dict[str, int] = {}

    def _code(self, label: str) -> int:
        return self._labels.setdefault(label, len(self._labels))

    def add(self, sides: dict[str, dict[str, Any]]) -> None:
        """One item's rows by role."""
        self.items += 1
        if any(r.get("error") for r in sides.values()):
            self.error_items += 1
        for name, graded in self.graders.items():
            graded.add(sides, name)
        row = sides.get("candidate")
        if row is None:
            return
        self.answers += 1
        if row.get("error"):
            self.failed_answers += 1
            if self.first_failure is None:
                self.first_failure = str(row["error"])
            return
        rubric = row["scores"].get("judge")
        if (
            isinstance(rubric, dict)
            and isinstance(rubric.get("repeat_score"), int)
            and isinstance(rubric.get("score"), int | float)
        ):
            self.rubric_first.append(int(rubric["score"]))
            self.rubric_again.append(int(rubric["repeat_score"]))
        pairwise = row["scores"].get(PREFERENCE)
        if isinstance(pairwise, dict) and isinstance(pairwise.get("orders"), list):
            orders = pairwise["orders"]
            if len(orders) == 2:
                self.order_one.append(self._code(str(orders[0])))
                self.order_two.append(self._code(str(orders[1])))

    def add_rows(self, rows: Iterable[dict[str, Any]]) -> None:
        """Item rows ordered by item (as the store reads them), each item whole."""
        item: int | None = None
        sides: dict[str, dict[str, Any]] = {}
        for row in rows:
            number = int(row["item"])
            if number != item and sides:
                self.add(sides)
                sides = {}
            item = number
            sides[row["role"]] = row
        if sides:
            self.add(sides)

    def labels(self, codes: array[int]) -> list[str]:
        names = {code: label for label, code in self._labels.items()}
        return [names[code] for code in codes]


def grader_summary(
    grader: str,
    items: dict[int, dict[str, dict[str, Any]]],
    settings: EvaluationSettings,
    *,
    has_base: bool,
) -> dict[str, Any]:
    collected = Collected([grader])
    for sides in items.values():
        collected.add(sides)
    return _grader_summary(grader, collected.graders[grader], settings, has_base=has_base)


def _grader_summary(
    grader: str, graded: _Graded, settings: EvaluationSettings, *, has_base: bool
) -> dict[str, Any]:
    confidence, resamples = settings.confidence, settings.resamples

    def mean(values: list[float]) -> dict[str, float | int]:
        return stats.mean_interval(values, confidence=confidence, resamples=resamples).as_dict()

    margin = settings.margin_for(grader)
    candidate = graded.candidate.present()
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
        "errors": graded.errors,
    }
    if not has_base:
        return out
    if grader == PREFERENCE:
        paired = [(s, 1.0 - s) for s in candidate]
    else:
        base_scores = graded.base.present()
        if base_scores:
            out["base"] = mean(base_scores)
        a, b = graded.candidate, graded.base
        paired = [
            (a.scores[i], b.scores[i])
            for i in range(len(a.scores))
            if a.has_score[i] and b.has_score[i]
        ]
    if not paired:
        return out
    first = [a for a, _ in paired]
    second = [b for _, b in paired]
    del paired
    counts = stats.tally(first, second)
    out["tally"] = {"wins": counts.wins, "ties": counts.ties, "losses": counts.losses}
    if _pass_fail(grader, settings):
        a, b = graded.candidate, graded.base
        passes = [
            (bool(a.passes[i]), bool(b.passes[i]))
            for i in range(len(a.passes))
            if a.has_pass[i] and b.has_pass[i]
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
    collected = Collected([])
    for sides in items.values():
        collected.add(sides)
    return _judge_reliability(collected, judge_model)


def _judge_reliability(collected: Collected, judge_model: str) -> dict[str, Any]:
    def agreement(a: Sequence[Any], b: Sequence[Any]) -> dict[str, Any] | None:
        if not a:
            return None
        found = stats.agreement(a, b)
        return {"rate": round(found.rate, 6), "kappa": found.kappa, "n": found.n}

    return {
        "model": judge_model,
        "rubric_agreement": agreement(list(collected.rubric_first), list(collected.rubric_again)),
        "order_agreement": agreement(
            collected.labels(collected.order_one), collected.labels(collected.order_two)
        ),
    }


def summary_graders(row: EvaluationRow, settings: EvaluationSettings) -> list[str]:
    """The graders a summary has: pairwise only where there is a base to prefer against."""
    has_base = row.base_model is not None
    return [name for name in settings.graders if has_base or name != PREFERENCE]


def build_summary(
    row: EvaluationRow,
    rows: Sequence[dict[str, Any]],
    settings: EvaluationSettings,
    *,
    total: int | None = None,
) -> dict[str, Any]:
    """The summary of an evaluation from its item rows (finished or not)."""
    collected = Collected(summary_graders(row, settings))
    for sides in _by_item(rows).values():
        collected.add(sides)
    return summary_of(row, collected, settings, total=total)


def summary_of(
    row: EvaluationRow,
    collected: Collected,
    settings: EvaluationSettings,
    *,
    total: int | None = None,
) -> dict[str, Any]:
    """The summary of an evaluation from its items as collected."""
    has_base = row.base_model is not None
    graders: dict[str, dict[str, Any]] = {
        name: _grader_summary(name, graded, settings, has_base=has_base)
        for name, graded in collected.graders.items()
    }
    primary = primary_grader(settings, list(graders))
    uses_judge = "judge" in graders or PREFERENCE in graders
    return {
        "evaluation_id": row.id,
        "model": row.model,
        "base_model": row.base_model,
        "test_file": row.test_file,
        "status": row.status,
        "progress": {
            "done": collected.items,
            "total": total if total is not None else row.total_items,
            "errors": collected.error_items,
        },
        "confidence": settings.confidence,
        "primary_grader": primary,
        "verdict": graders[primary]["verdict"] if primary is not None else None,
        "graders": graders,
        "judge": _judge_reliability(collected, settings.judge_model) if uses_judge else None,
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
