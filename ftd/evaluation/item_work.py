"""One item's work: the answers, the model-free grades, the judge's, and the commit.

Both models are asked at once; the judge then scores each answer (twice for
the items in the self-agreement sample, the second time past the cache) and
compares the two in both orders. A request that gave up leaves its reason
where its score would be, so no item or grade disappears silently.

When the judge is to be asked, each answer and each judgement is committed
to the cache, with what it cost, as soon as it is in: a crash or a stop
before the item is done then costs, when the item is taken up again, only
the requests that were still in flight, and a daemon restarted again and
again still moves forward.
"""

from __future__ import annotations

import random
from functools import partial
from typing import TYPE_CHECKING, Any

import anyio

from ftd.evaluation import judging, rft
from ftd.evaluation.budget import item_estimate
from ftd.evaluation.graders import grade_locally
from ftd.evaluation.pool import RequestFailed
from ftd.evaluation.recorded import answer_params
from ftd.store import evaluations as rows_of
from ftd.store.evaluations import ItemResult, Spend

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ftd.config.evaluation import EvaluationSettings
    from ftd.evaluation.budget import Pricing
    from ftd.evaluation.items import Item
    from ftd.evaluation.pool import Completion, Requester
    from ftd.evaluation.recorded import RecordedSide
    from ftd.store import Store
    from ftd.store.evaluations import EvaluationRow


def repeat_sample(total: int, size: int) -> frozenset[int]:
    """The items the judge is asked about twice: the same ones on every run of a file."""
    return frozenset(random.Random(total).sample(range(total), min(size, total)))


async def gather(*calls: Callable[[], Awaitable[Any]]) -> list[Any]:
    """Run the calls together; a RequestFailed becomes that call's result, not the whole's."""
    results: list[Any] = [None] * len(calls)
    if len(calls) == 1:
        # The common case of a model-free grader: no task group to make and tear down.
        try:
            results[0] = await calls[0]()
        except RequestFailed as exc:
            results[0] = exc
        return results

    async def one(index: int, call: Callable[[], Awaitable[Any]]) -> None:
        try:
            results[index] = await call()
        except RequestFailed as exc:
            results[index] = exc

    async with anyio.create_task_group() as tg:
        for index, call in enumerate(calls):
            tg.start_soon(one, index, call)
    return results


class Tab:
    """What one item spent, added up as its requests come back."""

    def __init__(self, pricing: Callable[[str], Pricing]) -> None:
        self._pricing = pricing
        self.requests = 0
        self.cached = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost = 0.0
        self.total = 0.0  # what settled parts cost
        self.cache_rows: list[tuple[str, str, str, int, int]] = []

    def add(self, outcome: Completion | RequestFailed) -> None:
        if isinstance(outcome, RequestFailed):
            self.requests += outcome.attempts
            return
        row = outcome.cache_row()
        if row is None:
            self.cached += 1
            return
        self.cache_rows.append(row)
        self.requests += outcome.attempts
        self.prompt_tokens += outcome.prompt_tokens
        self.completion_tokens += outcome.completion_tokens
        self.cost += self._pricing(outcome.model).cost(
            outcome.prompt_tokens, outcome.completion_tokens
        )

    def spend(self) -> Spend:
        return Spend(
            self.requests, self.cached, self.prompt_tokens, self.completion_tokens, self.cost
        )

    def settle(self) -> tuple[list[tuple[str, str, str, int, int]], Spend]:
        """What was added since the last settling, to commit now; ``total`` keeps counting."""
        taken = (self.cache_rows, self.spend())
        self.total += self.cost
        self.requests = self.cached = self.prompt_tokens = self.completion_tokens = 0
        self.cost = 0.0
        self.cache_rows = []
        return taken


class ItemWork:
    """The requests and grades of one item, for one evaluation."""

    def __init__(
        self,
        store: Store,
        requester: Requester,
        pricing: Callable[[str], Pricing],
        row: EvaluationRow,
        settings: EvaluationSettings,
        repeat: frozenset[int],
        recorded: RecordedSide | None = None,
    ) -> None:
        self._store = store
        # The base side read from a recording instead of asked (a successor's verdict).
        self._recorded = recorded
        self._requester = requester
        self._pricing = pricing
        self._row = row
        self._settings = settings
        self._repeat = repeat
        self._graders: list[str] = list(settings.graders)
        # The same function gives a recording its parameters: a recorded answer
        # stands where a live one would.
        self._answer_params: dict[str, Any] = answer_params(settings)
        self._rft = rft.grader_of(settings)
        self._embeddings = rft.embeddings_model(settings)

    @property
    def _judged(self) -> bool:
        return "judge" in self._graders

    @property
    def _paired(self) -> bool:
        return "pairwise" in self._graders and self._row.base_model is not None

    def estimate(self, item: Item) -> float:
        calls = (2.0 if self._row.base_model else 1.0) if self._judged else 0.0
        calls += 2.0 if self._paired else 0.0
        models = [m for m in (self._row.model, self._row.base_model) if m is not None]
        if self._recorded is not None:
            models = models[:1]
        total = item_estimate(
            item,
            answer_models=models,
            judge_model=self._settings.judge_model,
            judge_calls=calls,
            pricing=self._pricing,
        )
        if self._embeddings is not None:
            # Each answer with its reference, priced as a grader's read of the item (more
            # than the two texts: a bound, as the budget wants).
            total += item_estimate(
                item,
                answer_models=[],
                judge_model=self._embeddings,
                judge_calls=float(len(models)),
                pricing=self._pricing,
            )
        for grader_model in rft.models_asked(self._settings):
            total += item_estimate(
                item,
                answer_models=[],
                judge_model=grader_model,
                judge_calls=float(len(models)),
                pricing=self._pricing,
            )
        return total

    async def run(self, item: Item) -> float:
        """Ask, grade and record one item; what it cost."""
        tab = Tab(self._pricing)
        prompt = list(item.prompt)
        models = [self._row.model]
        if self._row.base_model is not None:
            models.append(self._row.base_model)
        bank = self._judged or self._paired  # the judge's calls follow: keep the answers
        calls: list[Callable[[], Awaitable[Any]]] = [
            partial(
                self._asked,
                tab,
                partial(self._requester.complete, m, prompt, self._answer_params),
                bank=bank,
            )
            for m in models
        ]
        if self._recorded is not None and len(calls) > 1:
            calls[1] = partial(self._recorded.complete, item)
        answers = await gather(*calls)
        _count_failures(tab, answers)
        scores = local_scores(self._graders, item, answers)
        await self._grade_rft(item, answers, scores, tab)
        await self._judge(item, answers, scores, tab)
        results = item_results(item, models, answers, scores)
        rows, spend = tab.settle()
        await rows_of.record_item(self._store, self._row.id, results, rows, spend)
        return tab.total

    @property
    def asks_only_batched(self) -> bool:
        """Whether every request of an item is one the batch engine sends (no model
        grader of a reinforcement run, no embeddings, no recorded side): then an item
        whose answers are all at hand can be graded without asking anything."""
        return self._rft is None and self._recorded is None

    def grade_answered(
        self,
        item: Item,
        answers: list[Completion],
        judgements: list[tuple[tuple[str, int], Completion]],
    ) -> list[ItemResult]:
        """The rows ``run`` writes for an item whose answers and judgements are all in hand.

        ``judgements`` are the judge's, each with its slot (what was asked, of
        which side), in the order ``run`` asks them; nothing is asked here.
        """
        models = [self._row.model]
        if self._row.base_model is not None:
            models.append(self._row.base_model)
        scores = local_scores(self._graders, item, list(answers))
        if judgements:
            slots = [slot for slot, _ in judgements]
            read_judgements(slots, [outcome for _, outcome in judgements], scores)
        return item_results(item, models, list(answers), scores)

    async def _grade_rft(
        self, item: Item, answers: list[Any], scores: list[dict[str, Any]], tab: Tab
    ) -> None:
        """The run's own grader on each answer; its model graders' calls are banked."""
        grader = self._rft
        if grader is None:
            return
        fields = item.fields or {}

        async def ask(
            model: str, messages: list[dict[str, Any]], params: dict[str, Any]
        ) -> Completion:
            try:
                return await self._asked(
                    tab, partial(self._requester.complete, model, messages, params)
                )
            except RequestFailed as exc:
                tab.add(exc)  # its attempts count, as the judge's do
                raise

        embeddings = self._embeddings

        async def compare(text: str, reference: str) -> float:
            assert embeddings is not None
            try:
                outcome = await self._asked(
                    tab, partial(self._requester.similarity, embeddings, text, reference)
                )
            except RequestFailed as exc:
                tab.add(exc)
                raise
            return float(outcome.text)

        async def one(side: int, text: str) -> None:
            scores[side][rft.RFT] = await rft.score_entry(
                grader, fields, text, ask, compare if embeddings else None
            )

        async with anyio.create_task_group() as tg:
            for side, answer in enumerate(answers):
                if not isinstance(answer, RequestFailed):
                    tg.start_soon(one, side, answer.text)

    async def _asked(
        self, tab: Tab, call: Callable[[], Awaitable[Completion]], *, bank: bool = True
    ) -> Completion:
        """One request; a fresh answer is committed at once (with its cost) when ``bank``,
        so that a crash before the item is done never pays for it again."""
        outcome = await call()
        tab.add(outcome)
        if bank and tab.cache_rows:
            rows, spend = tab.settle()
            await rows_of.record_answers(self._store, self._row.id, rows, spend)
        return outcome

    async def _judge(
        self,
        item: Item,
        answers: list[Any],
        scores: list[dict[str, Any]],
        tab: Tab,
    ) -> None:
        judge = self._settings.judge_model
        calls: list[Callable[[], Awaitable[Any]]] = []
        slots: list[tuple[str, int]] = []
        texts = [None if isinstance(a, RequestFailed) else a.text for a in answers]
        if self._judged:
            for side, text in enumerate(texts):
                if text is None:
                    continue
                messages = judging.rubric_messages(
                    item.question, item.reference, text, self._settings.judge_prompt
                )
                params = {"temperature": 0.0, "response_format": judging.RUBRIC_FORMAT}
                calls.append(partial(self._requester.complete, judge, messages, params))
                slots.append(("rubric", side))
                if side == 0 and item.index in self._repeat:
                    calls.append(
                        partial(self._requester.complete, judge, messages, params, repeat=1)
                    )
                    slots.append(("repeat", side))
        if self._paired and texts[0] is not None and texts[1] is not None:
            params = {"temperature": 0.0, "response_format": judging.PAIRWISE_FORMAT}
            for a, b in ((texts[0], texts[1]), (texts[1], texts[0])):
                messages = judging.pairwise_messages(
                    item.question, item.reference, a, b, self._settings.pairwise_prompt
                )
                calls.append(partial(self._requester.complete, judge, messages, params))
                slots.append(("pairwise", 0))
        if not calls:
            return
        outcomes = await gather(*(partial(self._asked, tab, call) for call in calls))
        _count_failures(tab, outcomes)
        read_judgements(slots, outcomes, scores)


def local_scores(graders: list[str], item: Item, answers: list[Any]) -> list[dict[str, Any]]:
    """Each side's model-free grades (none for a side whose request gave up)."""
    scores: list[dict[str, Any]] = []
    for answer in answers:
        graded = {}
        if not isinstance(answer, RequestFailed):
            graded = grade_locally(graders, answer.text, item.reference)
        scores.append({name: score.as_dict() for name, score in graded.items()})
    return scores


def read_judgements(
    slots: list[tuple[str, int]], outcomes: list[Any], scores: list[dict[str, Any]]
) -> None:
    """The judge's answers (or why there are none) written into the sides' scores.

    ``slots`` say what each outcome was asked: ``rubric`` or ``repeat`` of a
    side, or ``pairwise`` (both orders, in order).
    """
    orders: list[judging.PairwiseAnswer] = []
    for (what, side), outcome in zip(slots, outcomes, strict=True):
        if isinstance(outcome, RequestFailed):
            if what == "rubric":
                scores[side]["judge"] = {"error": str(outcome)}
            elif what == "pairwise":
                scores[0]["pairwise"] = {"error": str(outcome)}
            continue
        try:
            if what == "pairwise":
                orders.append(judging.read_pairwise(outcome.text))
                continue
            answer = judging.read_rubric(outcome.text)
        except judging.JudgeAnswerError as exc:
            key = "pairwise" if what == "pairwise" else "judge"
            if what != "repeat":
                scores[side if key == "judge" else 0][key] = {"error": str(exc)}
            continue
        if what == "rubric":
            scores[side].setdefault("judge", {}).update(
                score=answer.score, explanation=answer.explanation
            )
        else:
            scores[side].setdefault("judge", {})["repeat_score"] = answer.score
    if len(orders) == 2 and "pairwise" not in scores[0]:
        first, second, agreed = judging.preference(orders[0], orders[1])
        value = {"candidate": 1.0, "tie": 0.5, "base": 0.0}[agreed]
        explanation = orders[0].explanation
        scores[0]["pairwise"] = {
            "score": value,
            "preference": agreed,
            "orders": [first, second],
            "explanation": explanation,
        }
        scores[1]["pairwise"] = {
            "score": 1.0 - value,
            "preference": agreed,
            "orders": [first, second],
            "explanation": explanation,
        }
    judged = scores[0].get("judge")
    if isinstance(judged, dict) and "score" not in judged and "error" not in judged:
        del scores[0]["judge"]  # a repeat without its first answer says nothing


def _count_failures(tab: Tab, outcomes: list[Any]) -> None:
    """Requests that gave up are paid for by nobody, but their attempts count."""
    for outcome in outcomes:
        if isinstance(outcome, RequestFailed):
            tab.add(outcome)


def item_results(
    item: Item, models: list[str], answers: list[Any], scores: list[dict[str, Any]]
) -> list[ItemResult]:
    """The item's rows: the candidate's, then the base's when there is one."""
    # What both rows say of the item, worked out (a hash, a search of the prompt) once.
    shared = {
        "item": item.index,
        "line": item.line,
        "prompt_sha256": item.prompt_sha256,
        "question": item.question,
        "reference": item.reference,
    }
    return [
        _result(shared, "candidate" if i == 0 else "base", models[i], answers[i], scores[i])
        for i in range(len(models))
    ]


def _result(
    shared: dict[str, Any],
    role: str,
    model: str,
    answer: Completion | RequestFailed,
    scores: dict[str, Any],
) -> ItemResult:
    common: dict[str, Any] = {
        **shared,
        "role": role,
        "model": model,
        "scores": scores,
        "attempts": answer.attempts,
    }
    if isinstance(answer, RequestFailed):
        return ItemResult(
            **common,
            response=None,
            prompt_tokens=None,
            completion_tokens=None,
            latency_ms=None,
            cached=False,
            error=str(answer),
        )
    return ItemResult(
        **common,
        response=answer.text,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        latency_ms=answer.latency_ms,
        cached=answer.cached,
        error=None,
    )
