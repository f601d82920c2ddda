"""What ftd asks a provider before it spends anything there, where the provider can answer.

Two questions, asked of Together (whose API answers both; other providers'
adapters have no such routes, and ftd's own catalogue and price table speak
for them at validation):

- Before any upload: is the sidecar's model one Together fine-tunes? It must
  be in ``/fine-tunes/models/supported`` and have limits at
  ``/fine-tunes/models/limits``; otherwise the dataset fails with a message
  naming the model and the profile, and nothing is uploaded.
- Before the job's creation (its files uploaded): what does Together itself
  estimate the job costs (``/fine-tunes/estimate-price``)? The figure
  replaces the estimate made from ftd's price table, which stays the fallback
  where Together gives none. Over the dataset's ``max_cost_usd``, or refused by
  Together (``allowed_to_proceed`` false), the dataset waits for approval
  again, unless a person approved it after this very figure was recorded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ftd.errors import RemoteError
from ftd.logs import get_logger
from ftd.providers.kinds import INVALID

if TYPE_CHECKING:
    from ftd.providers import Provider
    from ftd.providers.core import JobRequest
    from ftd.providers.together import TogetherProvider
    from ftd.store import DatasetRow

log = get_logger("ftd.daemon.preflight")
ESTIMATE_KEY = "provider_estimate"


def _together(provider: Provider) -> TogetherProvider | None:
    """The Together adapter, if this is one; aiohttp is imported only where it is used."""
    if getattr(provider, "kind", None) != "together":  # test doubles may have no kind
        return None
    from ftd.providers.together import TogetherProvider

    return provider if isinstance(provider, TogetherProvider) else None


async def check_model(provider: Provider, model: str) -> None:
    """Nothing if the provider trains ``model`` (or cannot say); an INVALID error if not."""
    together = _together(provider)
    if together is None:
        return
    provider = together
    supported = await provider.supported_models()
    limits = await provider.model_limits(model) if model in supported else None
    if limits is None:
        close = sorted(m for m in supported if model.split("/")[-1][:6].lower() in m.lower())
        hint = f"; similar: {', '.join(close[:5])}" if close else ""
        raise RemoteError(
            "check_model",
            f"model {model!r} is not one Together fine-tunes (provider profile "
            f"{provider.profile!r}, /fine-tunes/models/supported){hint}",
            kind=INVALID,
        )
    log.info("model_supported", provider=provider.profile, model=model)


@dataclass(frozen=True, slots=True)
class Priced:
    """The provider's estimate, the report that records it, and why to wait (None: go)."""

    usd: float
    report: dict[str, Any]
    hold: str | None


def _recorded(row: DatasetRow) -> dict[str, Any]:
    report = row.report or {}
    found = report.get(ESTIMATE_KEY)
    return found if isinstance(found, dict) else {}


async def priced(provider: Provider, request: JobRequest, row: DatasetRow) -> Priced | None:
    """The provider's own estimate of the job, where it gives one and it was not yet seen."""
    together = _together(provider)
    if together is None or not together.capabilities.price_estimate:
        return None
    earlier = _recorded(row)
    if earlier and row.approved_at is not None and row.approved_at >= float(earlier["at"]):
        return None  # a person approved it knowing this figure
    answer = await together.estimate_price(request)
    price = answer.get("estimated_total_price")
    if not isinstance(price, int | float) or isinstance(price, bool):
        log.info("price_estimate_missing", dataset_id=row.id, provider=provider.profile)
        return None  # ftd's own estimate (its price table) stands
    limit = float((row.settings or {}).get("max_cost_usd") or 0.0)
    allowed = answer.get("allowed_to_proceed") is not False
    estimate = {
        "usd": float(price),
        "at": time.time(),
        "allowed_to_proceed": allowed,
        "train_tokens": answer.get("estimated_train_token_count"),
        "table_usd": row.estimated_cost_usd,
    }
    log.info(
        "price_estimated",
        dataset_id=row.id,
        provider=provider.profile,
        usd=round(float(price), 4),
        table_usd=row.estimated_cost_usd,
        limit_usd=limit,
    )
    report = {**(row.report or {}), ESTIMATE_KEY: estimate}
    if allowed and price <= limit:
        return Priced(float(price), report, None)
    reason = (
        f"Together estimates ${price:,.2f} for training, over max_cost_usd ${limit:,.2f}"
        if allowed
        else f"Together says the account may not proceed (estimate ${price:,.2f})"
    )
    report["approval"] = {"reason": reason, "training_usd": float(price), "limit_usd": limit}
    return Priced(float(price), report, reason)
