"""What a dataset's evaluation will cost, estimated before training starts.

The spend guard holds a dataset whose training and evaluation together
would exceed ``max_cost_usd``, so the evaluation needs a figure before any
request: its items (the test split, up to ``max_items``) times the requests
each makes (both models answer; the judge scores both answers; the pairwise
judge reads both orders; ``judge_repeat_sample`` items are judged again),
and a reinforcement run's model graders score both answers, each priced
from the item's length (``budget.item_estimate``) at the
models' inference prices. The fine-tuned model does not exist yet and is
priced as its base. An evaluation stops at its own ``max_cost_usd``, so the
figure the guard counts is the smaller of the two.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftd.evaluation import rft
from ftd.evaluation.batch import BATCH_PRICE_FACTOR
from ftd.evaluation.budget import item_estimate
from ftd.evaluation.items import read_items

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ftd.config.evaluation import EvaluationSettings
    from ftd.evaluation.budget import Pricing


def requests_per_item(settings: EvaluationSettings) -> int:
    """Answers from both models, the judge on both, the pairwise judge in both orders."""
    graders = set(settings.graders)
    return 2 + (2 if "judge" in graders else 0) + (2 if "pairwise" in graders else 0)


def forecast(
    test_file: Path,
    settings: EvaluationSettings,
    *,
    base_model: str,
    pricing: Callable[[str], Pricing],
) -> dict[str, Any] | None:
    """The evaluation's expected requests and cost, or None when none will run."""
    if not settings.enabled or rft.problem(settings) is not None:
        return None
    reinforcement = rft.grader_of(settings) is not None
    items = read_items(test_file, max_items=settings.max_items, reinforcement=reinforcement)
    if not items:
        return None
    graders = set(settings.graders)
    judge_calls = (2.0 if "judge" in graders else 0.0) + (2.0 if "pairwise" in graders else 0.0)
    judge = settings.judge_model if judge_calls else None
    cost = sum(
        item_estimate(
            item,
            answer_models=[base_model, base_model],
            judge_model=judge,
            judge_calls=judge_calls,
            pricing=pricing,
        )
        for item in items
    )
    repeats = min(settings.judge_repeat_sample, len(items)) if "judge" in graders else 0
    cost += sum(
        item_estimate(
            item, answer_models=[], judge_model=settings.judge_model, judge_calls=1.0,
            pricing=pricing,
        )
        for item in items[:repeats]
    )  # fmt: skip
    # The run's model graders read both answers; so do its embeddings, for a cosine grader.
    graded_by = rft.models_asked(settings)
    embeddings = rft.embeddings_model(settings)
    if embeddings is not None:
        graded_by.append(embeddings)
    cost += sum(
        item_estimate(item, answer_models=[], judge_model=model, judge_calls=2.0, pricing=pricing)
        for item in items
        for model in graded_by
    )
    requests = len(items) * (requests_per_item(settings) + 2 * len(graded_by)) + repeats
    live_cost = cost
    # Through the batch engine (where the provider has one) every request costs half.
    batched = settings.mode == "batch" or (
        settings.mode == "auto" and len(items) >= settings.batch_min_items
    )
    if batched:
        cost *= BATCH_PRICE_FACTOR
    cap = settings.max_cost_usd
    counted = cost if cap is None else min(cost, cap)
    priced = all(pricing(m).known for m in {base_model, settings.judge_model, *graded_by} if m)
    return {
        "items": len(items),
        "requests": requests,
        "cost_usd": round(cost, 4),
        "live_cost_usd": round(live_cost, 4),
        "max_cost_usd": cap,
        "counted_usd": round(counted, 4),
        "priced": priced,
        "note": (
            f"{len(items):,} test items x "
            f"{requests_per_item(settings) + 2 * len(graded_by)} requests"
            + (f" + {repeats} repeated judgements" if repeats else "")
            + f" = {requests:,} requests"
            + (f"; at batch prices (live: ${live_cost:.4f})" if batched else "")
            + ("" if cap is None or cost <= cap else f"; stops at its cap ${cap:g}")
            + ("" if priced else "; some model has no known price (counted as free)")
        ),
    }
