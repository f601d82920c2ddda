"""The requests of a batch evaluation, exactly as the live path would send them.

Every request here has the same model, messages, parameters and repeat
number as the one :class:`ftd.evaluation.item_work.ItemWork` makes for the
same item, so its cache key is the same: an answer that came back through a
batch is the answer the live path finds in the cache, and the item rows,
grades and verdict come out the same whichever way the answers arrived.

A reinforcement run's own model graders (``rft``) and its cosine grader's
embeddings are not sent in batches: they are asked live when the items are
committed.

A request's ``custom_id`` names the evaluation, item, grader and order
(``e12/37/judge/1``); it is unique within the evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ftd.evaluation import judging, rft
from ftd.evaluation.cache import canonical, key_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ftd.config.evaluation import EvaluationSettings
    from ftd.evaluation.items import Item
    from ftd.store.evaluations import EvaluationRow

ANSWERS = "answers"
JUDGING = "judging"
STAGES = (ANSWERS, JUDGING)


@dataclass(slots=True)
class Spec:
    custom_id: str
    model: str
    messages: list[dict[str, Any]]
    params: dict[str, Any]
    repeat: int
    # What the item work asks this as (``rubric``, ``repeat`` or ``pairwise``, and of
    # which side), for the judge's requests; ("answer", side) for an answer.
    slot: tuple[str, int]
    # The cache key, hashed once (by the Plan, which shares the JSON it hashes between
    # requests): each pass over a chunk looks it up several times.
    key: str

    def body(self) -> dict[str, Any]:
        return {"model": self.model, "messages": self.messages, **self.params}


class Plan:
    """Which requests each item needs, for one evaluation's row and settings."""

    def __init__(
        self, row: EvaluationRow, settings: EvaluationSettings, repeat: frozenset[int]
    ) -> None:
        self._row = row
        self._settings = settings
        self._repeat = repeat
        graders = set(settings.graders)
        self.judged = "judge" in graders
        self.paired = "pairwise" in graders and row.base_model is not None
        self.models = [row.model] + ([row.base_model] if row.base_model else [])
        self._answer_params: dict[str, Any] = {
            "temperature": settings.temperature,
            "max_completion_tokens": settings.max_completion_tokens,
            **rft.answer_params(settings),
        }
        # Shared by every request of their kind (never changed once made).
        self._answer_params_json = canonical(self._answer_params)
        self._rubric_params = {"temperature": 0.0, "response_format": judging.RUBRIC_FORMAT}
        self._rubric_params_json = canonical(self._rubric_params)
        self._pairwise_params = {"temperature": 0.0, "response_format": judging.PAIRWISE_FORMAT}
        self._pairwise_params_json = canonical(self._pairwise_params)

    @property
    def evaluation_id(self) -> int:
        return self._row.id

    def _id(self, item: Item, grader: str, order: int) -> str:
        return f"e{self._row.id}/{item.index}/{grader}/{order}"

    def answers(self, item: Item) -> list[Spec]:
        messages = list(item.prompt)
        shared = canonical(messages)
        params, params_json = self._answer_params, self._answer_params_json
        return [
            Spec(
                self._id(item, "answer", side),
                model,
                messages,
                params,
                0,
                ("answer", side),
                key_of(shared, model, params_json),
            )
            for side, model in enumerate(self.models)
        ]

    def judging(self, item: Item, texts: Mapping[int, str]) -> list[Spec]:
        """The judge's requests for the answers known (side -> text); none for a missing one."""
        judge = self._settings.judge_model
        question = item.question  # (read from the prompt each time it is asked for)
        specs: list[Spec] = []
        if self.judged:
            params, params_json = self._rubric_params, self._rubric_params_json
            for side in range(len(self.models)):
                text = texts.get(side)
                if text is None:
                    continue
                messages = judging.rubric_messages(
                    question, item.reference, text, self._settings.judge_prompt
                )
                shared = canonical(messages)
                asks = [("judge", 0, ("rubric", side))]
                if side == 0 and item.index in self._repeat:
                    asks.append(("judge_repeat", 1, ("repeat", side)))
                specs.extend(
                    Spec(
                        self._id(item, grader, side),
                        judge,
                        messages,
                        params,
                        repeat,
                        slot,
                        key_of(shared, judge, params_json, repeat),
                    )
                    for grader, repeat, slot in asks
                )
        if self.paired and 0 in texts and 1 in texts:
            params, params_json = self._pairwise_params, self._pairwise_params_json
            for order, (a, b) in enumerate(((texts[0], texts[1]), (texts[1], texts[0]))):
                messages = judging.pairwise_messages(
                    question, item.reference, a, b, self._settings.pairwise_prompt
                )
                specs.append(
                    Spec(
                        self._id(item, "pairwise", order),
                        judge,
                        messages,
                        params,
                        0,
                        ("pairwise", 0),
                        key_of(canonical(messages), judge, params_json),
                    )
                )
        return specs
