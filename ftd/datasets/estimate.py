"""How many epochs "auto" picks, and what a run will cost.

The epoch rule is OpenAI's published heuristic: aim for 3 epochs, but make one
run see at least 100 and at most 25,000 examples, within 1 to 25 epochs.
Training is billed per token the model trains on: each example's tokens, capped
at the training context, times the number of epochs. Validation is free.
"""

from __future__ import annotations

from dataclasses import dataclass

TARGET_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100
MAX_TARGET_EXAMPLES = 25_000
MIN_DEFAULT_EPOCHS = 1
MAX_DEFAULT_EPOCHS = 25


def auto_epochs(n_examples: int) -> int:
    if n_examples <= 0:
        return TARGET_EPOCHS
    epochs = TARGET_EPOCHS
    if n_examples * epochs < MIN_TARGET_EXAMPLES:
        epochs = min(MAX_DEFAULT_EPOCHS, MIN_TARGET_EXAMPLES // n_examples)
    elif n_examples * epochs > MAX_TARGET_EXAMPLES:
        epochs = max(MIN_DEFAULT_EPOCHS, MAX_TARGET_EXAMPLES // n_examples)
    return epochs


@dataclass(frozen=True, slots=True)
class Estimate:
    n_epochs: int
    epochs_source: str  # "auto" or "given"
    billed_tokens_per_epoch: int
    billed_tokens: int
    price_per_mtok: float | None
    price_per_hour: float | None
    cost_usd: float | None
    note: str

    def to_json(self) -> dict[str, object]:
        return {
            "n_epochs": self.n_epochs,
            "epochs_source": self.epochs_source,
            "billed_tokens_per_epoch": self.billed_tokens_per_epoch,
            "billed_tokens": self.billed_tokens,
            "price_per_mtok": self.price_per_mtok,
            "price_per_hour": self.price_per_hour,
            "cost_usd": self.cost_usd,
            "note": self.note,
        }


def estimate(
    *,
    n_examples: int,
    billed_tokens_per_epoch: int,
    n_epochs: int | None,
    price_per_mtok: float | None,
    price_per_hour: float | None = None,
) -> Estimate:
    epochs = n_epochs if n_epochs is not None else auto_epochs(n_examples)
    billed = billed_tokens_per_epoch * epochs
    if price_per_mtok is not None:
        cost: float | None = round(billed * price_per_mtok / 1_000_000, 4)
        note = f"{billed:,} training tokens at ${price_per_mtok:g} per 1M"
    elif price_per_hour is not None:
        cost = None
        note = f"billed by training time at ${price_per_hour:g} per hour; no token estimate"
    else:
        cost = None
        note = "no price known for this model; set one under [prices] in the configuration"
    return Estimate(
        n_epochs=epochs,
        epochs_source="given" if n_epochs is not None else "auto",
        billed_tokens_per_epoch=billed_tokens_per_epoch,
        billed_tokens=billed,
        price_per_mtok=price_per_mtok,
        price_per_hour=price_per_hour,
        cost_usd=cost,
        note=note,
    )
