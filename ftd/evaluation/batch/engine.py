"""Whether an evaluation runs live or through the batch engine, and running its stages.

The choice is made once, when the evaluation first starts, and recorded with
its reason (a log line says it, ``ftd show`` shows it): ``live`` always asks
the pool; ``batch`` uses the provider's batch engine where the provider has
one, else says so and runs live; ``auto`` uses it from ``batch_min_items``
items up. A resumed evaluation keeps its first choice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftd.evaluation.batch import BATCH_PRICE_FACTOR
from ftd.evaluation.batch.stages import BatchStages, Prefilled
from ftd.logs import get_logger
from ftd.store import batches as batch_rows

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ftd.config.evaluation import EvaluationSettings
    from ftd.evaluation.batch.source import ItemSource
    from ftd.evaluation.budget import Pricing
    from ftd.evaluation.items import Item
    from ftd.providers import Provider
    from ftd.store import Store
    from ftd.store.evaluations import EvaluationRow

log = get_logger("ftd.evaluation.batch")
LIVE = "live"
BATCH = "batch"


def choose_mode(
    settings: EvaluationSettings, items: int, provider: Provider | None
) -> tuple[str, str]:
    """(live or batch, why), for an evaluation of ``items`` items at ``provider``."""
    if settings.mode == LIVE:
        return LIVE, "evaluation.mode is live"
    kind = provider.kind if provider is not None else "unknown"
    if provider is None or not provider.capabilities.batch:
        return LIVE, (
            f"evaluation.mode is {settings.mode} but the {kind} provider has no batch engine "
            "ftd can use for this model; running live"
        )
    if settings.mode == "auto" and items < settings.batch_min_items:
        return LIVE, (
            f"auto: {items} items, under batch_min_items ({settings.batch_min_items}); live"
        )
    if settings.mode == "auto":
        return BATCH, (
            f"auto: {items} items, at least batch_min_items ({settings.batch_min_items}), and "
            f"the {kind} batch engine takes these models; batch at half price"
        )
    return BATCH, f"evaluation.mode is batch; the {kind} batch engine at half price"


class BatchEngine:
    """The runner's hook: decides the mode and, for a batch evaluation, fills the cache."""

    def __init__(
        self,
        store: Store,
        provider_for: Callable[[EvaluationRow], Provider | None],
        pricing: Callable[[str], Pricing],
        folder: Callable[[], Path],
    ) -> None:
        self._store = store
        self._provider_for = provider_for
        self._pricing = pricing
        self._folder = folder

    async def prefill(
        self,
        row: EvaluationRow,
        settings: EvaluationSettings,
        todo: ItemSource,
        repeat: frozenset[int],
        estimate: Callable[[Item], float],
    ) -> Prefilled | None:
        """The batch stages' outcome, or None when this evaluation runs live."""
        provider = self._provider_for(row)
        run = await batch_rows.run_of(self._store, row.id)
        if run is None:
            mode, reason = choose_mode(settings, todo.count, provider)
            run = await batch_rows.choose(self._store, row.id, mode, reason)
            log.info("evaluation_mode", evaluation_id=row.id, mode=mode, reason=reason)
        if run.mode != BATCH or not todo.count:
            return None
        if provider is None or not provider.capabilities.batch:
            log.warning(
                "evaluation_batch_unavailable",
                evaluation_id=row.id,
                reason="the provider no longer offers its batch engine; the rest runs live",
            )
            return None
        stages = BatchStages(self._store, provider, self._pricing, self._folder())
        outcome = await stages.prefill(row, settings, todo, repeat, estimate)
        log.info(
            "evaluation_batch_prefilled",
            evaluation_id=row.id,
            items=outcome.admitted.count,
            stopped=outcome.stopped_reason,
        )
        return outcome

    async def annotate(self, row: EvaluationRow, summary: dict[str, Any]) -> None:
        """The mode, each stage's batches, and what the evaluation cost against live prices."""
        progress = await batch_rows.progress(self._store, row.id)
        if progress is None:
            return
        run = await batch_rows.run_of(self._store, row.id)
        batch_cost = run.batch_cost_usd if run is not None else 0.0
        summary["mode"] = {"mode": progress["mode"], "reason": progress["reason"]}
        summary["batches"] = progress
        live_part = max(0.0, row.cost_usd - batch_cost)
        summary["cost_comparison"] = {
            "spent_usd": round(row.cost_usd, 6),
            "batch_usd": round(batch_cost, 6),
            "live_usd": round(live_part + batch_cost / BATCH_PRICE_FACTOR, 6),
        }
