"""What an evaluation costs, and the cap that stops one before it would cost more.

Each completion is priced from its usage at its model's inference price
(``[prices]`` over the built-in table); cached answers cost nothing. Before
an item starts, the spend so far plus what the items in flight and this one
are expected to cost must stay within the cap; otherwise no further item
starts. The expectation is the mean cost of the items finished so far, or,
before there are enough of them, an estimate from the item's length (about
four characters a token) and the requests it will make.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from ftd.config import Price
    from ftd.evaluation.items import Item

CHARS_PER_TOKEN = 4
JUDGE_OVERHEAD_TOKENS = 150  # instructions and tags around the texts
JUDGE_ANSWER_TOKENS = 60
MIN_OBSERVED_ITEMS = 5


@dataclass(frozen=True, slots=True)
class Pricing:
    """USD per token, in and out, of one model; None when nothing is known of its price."""

    prompt: float | None
    completion: float | None

    @classmethod
    def of(cls, price: Price) -> Pricing:
        def per_token(value: float | None) -> float | None:
            return None if value is None else value / 1_000_000

        return cls(per_token(price.input_per_mtok), per_token(price.output_per_mtok))

    def cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return prompt_tokens * (self.prompt or 0.0) + completion_tokens * (self.completion or 0.0)

    @property
    def known(self) -> bool:
        return self.prompt is not None and self.completion is not None


def _tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


def item_estimate(
    item: Item,
    *,
    answer_models: list[str],
    judge_model: str | None,
    judge_calls: float,
    pricing: Callable[[str], Pricing],
) -> float:
    """The expected cost of one item: each model answers, then the judge reads the answers."""
    prompt = sum(_tokens(str(m.get("content") or "")) + 4 for m in item.prompt)
    answer = _tokens(item.reference)
    total = sum(pricing(model).cost(prompt, answer) for model in answer_models)
    if judge_model is not None and judge_calls:
        judge_prompt = JUDGE_OVERHEAD_TOKENS + _tokens(item.question) + 3 * answer
        total += judge_calls * pricing(judge_model).cost(judge_prompt, JUDGE_ANSWER_TOKENS)
    return total


class Budget:
    """Admits items while the spend, with what is in flight, stays within the cap."""

    def __init__(self, cap: float | None, spent: float, *, first_estimate: float) -> None:
        self.cap = cap
        self.spent = spent
        self._first_estimate = first_estimate
        self._observed = 0.0
        self._finished = 0
        self._in_flight = 0
        self.stopped_reason: str | None = None

    def expected(self) -> float:
        if self._finished >= MIN_OBSERVED_ITEMS:
            return self._observed / self._finished
        return self._first_estimate

    def admit(self) -> bool:
        if self.stopped_reason is not None:
            return False
        if self.cap is None:
            self._in_flight += 1
            return True
        projected = self.spent + (self._in_flight + 1) * self.expected()
        if projected > self.cap:
            self.stopped_reason = (
                f"cost cap ${self.cap:g} reached: ${self.spent:.4f} spent, the next item "
                f"would bring it to about ${projected:.4f}"
            )
            return False
        self._in_flight += 1
        return True

    def finished(self, cost: float) -> None:
        self._in_flight -= 1
        self._finished += 1
        self._observed += cost
        self.spent += cost
