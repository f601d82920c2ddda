"""A reinforcement run's evaluation with its own grader: items, graders, formula, verdict."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ftd.config.evaluation import EvaluationSettings
from ftd.config.reinforcement import Reinforcement
from ftd.emulator.server import Emulator
from ftd.evaluation import formula, rft
from ftd.evaluation.budget import Pricing
from ftd.evaluation.forecast import forecast
from ftd.evaluation.items import ItemsError, read_items
from ftd.evaluation.pool import Completion, RequestFailed
from ftd.evaluation.runner import Runner
from ftd.evaluation.similarity import similarity
from ftd.store import evaluations as rows_of
from tests.emulator.helpers import FakeClock
from tests.evaluation.conftest import (
    BASE,
    PRICING,
    MakeBench,
    support_pairs,
    support_records,
    train,
)

pytestmark = pytest.mark.anyio

ANSWER_CHECK: dict[str, Any] = {
    "type": "string_check",
    "name": "answer",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "operation": "eq",
}
SCORE_MODEL: dict[str, Any] = {
    "type": "score_model",
    "name": "closeness",
    "model": "gpt-4.1-2025-04-14",
    "range": [0, 10],
    "input": [
        {"role": "system", "content": "Score the answer from 0 to 10."},
        {
            "role": "user",
            "content": [
                {"type": "input_text", "text": "Reference: {{item.answer}}"},
                {"type": "input_text", "text": " Answer: {{sample.output_text}}"},
            ],
        },
    ],
}
COSINE: dict[str, Any] = {
    "type": "text_similarity",
    "name": "close",
    "input": "{{sample.output_text}}",
    "reference": "{{item.answer}}",
    "evaluation_metric": "cosine",
}
LABEL_MODEL: dict[str, Any] = {
    "type": "label_model",
    "name": "tone",
    "model": "gpt-4.1-2025-04-14",
    "input": [{"role": "user", "content": "Classify: {{sample.output_text}}"}],
    "labels": ["polite", "rude"],
    "passing_labels": ["polite"],
}


def rft_line(question: str, **fields: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": question}], **fields}


def settings_with(grader: dict[str, Any], **more: Any) -> EvaluationSettings:
    return EvaluationSettings(
        graders=["rft"],
        primary_grader="rft",
        reinforcement=Reinforcement.model_validate({"grader": grader}),
        **more,
    )


class Asked:
    """Answers model-grader requests from a script and keeps what was asked."""

    def __init__(self, *replies: object) -> None:
        self.replies = list(replies)
        self.requests: list[tuple[str, list[dict[str, Any]], dict[str, Any]]] = []

    async def __call__(
        self, model: str, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> Completion:
        self.requests.append((model, messages, params))
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        text = reply if isinstance(reply, str) else json.dumps(reply)
        return Completion(model, text, 10, 5, 1.0, 1, cached=False, key=str(len(self.requests)))


# ------------------------------------------------------------------ items


def test_reinforcement_lines_are_read_with_their_fields(tmp_path: Path) -> None:
    path = tmp_path / "test.jsonl"
    path.write_text(
        json.dumps(rft_line("2+2?", answer="4", meta={"level": 1})) + "\n"
        + json.dumps({"messages": [{"role": "developer", "content": "x"},
                                   {"role": "user", "content": "3+3?"}], "answer": "6"}) + "\n"
    )  # fmt: skip
    items = read_items(path, reinforcement=True)
    assert [i.fields["answer"] for i in items if i.fields] == ["4", "6"]
    assert items[0].prompt == ({"role": "user", "content": "2+2?"},)
    assert json.loads(items[0].reference) == {"answer": "4", "meta": {"level": 1}}
    assert items[0].question == "2+2?"
    # read as a supervised file, the same line is refused, and the message says why
    with pytest.raises(ItemsError, match=r"line 1: .*reinforcement line is graded only"):
        read_items(path)


def test_a_reinforcement_line_ending_with_the_assistant_is_refused_by_line(tmp_path: Path) -> None:
    path = tmp_path / "test.jsonl"
    line = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    path.write_text(json.dumps(rft_line("q", answer="a")) + "\n" + json.dumps(line) + "\n")
    with pytest.raises(ItemsError, match=r"line 2: messages\[1\]: .*not assistant"):
        read_items(path, reinforcement=True)


# ------------------------------------------------------------------ metrics and formula


def test_meteor_rewards_order_and_recall() -> None:
    reference = "the cat sat on the mat"
    same = similarity("meteor", reference, reference)
    shuffled = similarity("meteor", "on the mat sat the cat", reference)
    close = similarity("meteor", "the cat sat on a mat", reference)
    # identical: F-mean 1, one chunk of 6 matches: 1 - 0.5 * (1/6)^3
    assert same == pytest.approx(1 - 0.5 / 216)
    # 5 of 6 words in 2 chunks ("the cat sat on" + "mat"): F-mean 5/6, penalty 0.5 (2/5)^3
    assert close == pytest.approx(5 / 6 * (1 - 0.5 * (2 / 5) ** 3))
    assert shuffled < close < same
    assert similarity("meteor", "dogs bark", reference) == 0.0


def test_a_multi_graders_formula_is_arithmetic_and_nothing_else() -> None:
    assert formula.evaluate("0.5 * a + 0.5 * b", {"a": 1.0, "b": 0.0}) == 0.5
    assert formula.evaluate("max(a, b) ^ 2 - abs(-1) + sqrt(4)", {"a": 3.0, "b": 1.0}) == 10.0
    with pytest.raises(formula.FormulaError, match="'c', which is not one of the graders"):
        formula.evaluate("a + c", {"a": 1.0})
    for bad in ("__import__('os').system('true')", "a.real", "[a][0]", "a if a else 1", "'x'"):
        with pytest.raises(formula.FormulaError):
            formula.evaluate(bad, {"a": 1.0})
    with pytest.raises(formula.FormulaError, match="no value here"):
        formula.evaluate("a / b", {"a": 1.0, "b": 0.0})


# ------------------------------------------------------------------ graders


async def test_string_check_and_text_similarity_need_no_request() -> None:
    asked = Asked()
    line = rft_line("2+2?", answer="4")
    entry = await rft.score_entry(ANSWER_CHECK, line, "4", asked)
    assert entry == {"score": 1.0, "explanation": "equal to the reference", "passed": True}
    similar = {**ANSWER_CHECK, "type": "text_similarity", "evaluation_metric": "meteor"}
    del similar["operation"]
    entry = await rft.score_entry(similar, {"answer": "the cat sat"}, "the cat sat", asked)
    assert entry["score"] == pytest.approx(1 - 0.5 / 27)
    missing = await rft.score_entry(ANSWER_CHECK, rft_line("q"), "4", asked)
    assert "names nothing" in missing["error"]
    assert asked.requests == []


async def test_a_score_model_is_asked_with_its_templates_filled_and_its_range_kept() -> None:
    asked = Asked({"explanation": "close", "score": 7.5}, {"explanation": "?", "score": 11})
    line = rft_line("q", answer="Paris")
    entry = await rft.score_entry(SCORE_MODEL, line, "It is Paris", asked)
    assert entry == {"score": 7.5, "explanation": "close"}
    model, messages, params = asked.requests[0]
    assert model == "gpt-4.1-2025-04-14"
    assert messages == [
        {"role": "system", "content": "Score the answer from 0 to 10."},
        {"role": "user", "content": "Reference: Paris Answer: It is Paris"},
    ]
    schema = params["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["score"] == {"type": "number", "minimum": 0, "maximum": 10}
    outside = await rft.score_entry(SCORE_MODEL, line, "x", asked)
    assert "answered score 11, not a number in [0, 10]" in outside["error"]


async def test_a_label_model_passes_on_its_passing_labels_only() -> None:
    asked = Asked({"explanation": "", "label": "polite"}, {"explanation": "", "label": "rude"},
                  {"explanation": "", "label": "angry"}, "not json")  # fmt: skip
    polite = await rft.score_entry(LABEL_MODEL, {}, "Thank you", asked)
    rude = await rft.score_entry(LABEL_MODEL, {}, "Go away", asked)
    unknown = await rft.score_entry(LABEL_MODEL, {}, "Hm", asked)
    prose = await rft.score_entry(LABEL_MODEL, {}, "Hm", asked)
    assert (polite["score"], polite["passed"]) == (1.0, True)
    assert (rude["score"], rude["passed"]) == (0.0, False)
    assert "label 'angry', not one of ['polite', 'rude']" in unknown["error"]
    assert "did not answer in JSON" in prose["error"]
    enum = asked.requests[0][2]["response_format"]["json_schema"]["schema"]["properties"]
    assert enum["label"]["enum"] == ["polite", "rude"]


async def test_a_multi_grader_combines_its_graders_by_its_formula() -> None:
    multi = {
        "type": "multi",
        "name": "both",
        "graders": {"exact": ANSWER_CHECK, "tone": LABEL_MODEL},
        "calculate_output": "0.75 * exact + 0.25 * tone",
    }
    asked = Asked({"explanation": "", "label": "rude"})
    entry = await rft.score_entry(multi, {"answer": "4"}, "4", asked)
    assert entry["score"] == pytest.approx(0.75)
    assert "exact 1.000, tone 0.000" in entry["explanation"]
    failed = Asked(RequestFailed("gpt-4.1-2025-04-14", "HTTP 500", 6))
    entry = await rft.score_entry(multi, {"answer": "4"}, "4", failed)
    assert entry["error"].startswith("grader 'tone': gpt-4.1-2025-04-14: HTTP 500")


def test_python_graders_are_refused_with_the_reason_and_cosine_asks_embeddings() -> None:
    python = {"type": "python", "name": "mine", "source": "def grade(sample, item):\n  return 1\n"}
    why = rft.problem(settings_with(python))
    assert why is not None
    assert "ftd does not run code from a sidecar" in why
    inside = {"type": "multi", "name": "m", "graders": {"c": COSINE}, "calculate_output": "c"}
    assert rft.problem(settings_with(inside)) is None
    assert rft.embeddings_model(settings_with(inside)) == "text-embedding-3-small"
    chosen = settings_with(COSINE, embeddings_model="text-embedding-3-large")
    assert rft.embeddings_model(chosen) == "text-embedding-3-large"
    assert rft.embeddings_model(settings_with(ANSWER_CHECK)) is None
    assert "the together provider computes none" in rft.no_embeddings(chosen, "together")
    assert rft.problem(settings_with(ANSWER_CHECK)) is None
    mixed = settings_with(ANSWER_CHECK).model_copy(update={"graders": ["rft", "judge"]})
    assert "judge compare with a reference answer" in str(rft.problem(mixed))
    assert "has none" in str(rft.problem(EvaluationSettings(graders=["rft"])))


def test_a_reinforcement_dataset_is_graded_by_its_run_unless_its_sidecar_chose() -> None:
    run = {"method": "reinforcement", "reinforcement": {"grader": ANSWER_CHECK}}
    settings = rft.for_run(EvaluationSettings(), run, graders_chosen=False)
    assert settings.graders == ["rft"]
    assert settings.primary_grader == "rft"
    assert rft.grader_of(settings) == ANSWER_CHECK
    assert rft.is_pass_fail(settings)
    kept = rft.for_run(EvaluationSettings(graders=["rft"]), run, graders_chosen=True)
    assert kept.reinforcement is not None
    supervised = rft.for_run(EvaluationSettings(), {"method": "supervised"}, graders_chosen=False)
    assert supervised.graders == EvaluationSettings().graders
    assert rft.models_asked(settings_with(SCORE_MODEL)) == ["gpt-4.1-2025-04-14"]


# ------------------------------------------------------------------ a whole evaluation


async def test_a_score_model_grader_evaluates_both_models_through_the_provider(
    emulator: Emulator, clock: FakeClock, make_bench: MakeBench, tmp_path: Path
) -> None:
    model = await train(emulator, clock, support_records(support_pairs(40)))
    test_file = tmp_path / "test.jsonl"
    test_file.write_text(
        "".join(
            json.dumps(rft_line(question, answer=answer)) + "\n"
            for question, answer in support_pairs(20, start=40)
        )
    )
    # The emulator's judge reads <reference> and <candidate>: its score is their word overlap.
    grader = {
        **SCORE_MODEL,
        "range": [0, 1],
        "input": [
            {
                "role": "user",
                "content": "<reference>{{item.answer}}</reference>\n"
                "<candidate>{{sample.output_text}}</candidate>",
            }
        ],
    }
    bench = make_bench(
        graders=["rft"],
        primary_grader="rft",
        reinforcement=Reinforcement.model_validate({"grader": grader}),
    )
    row = await bench.evaluate(model, test_file)
    assert row.status == "succeeded", row.error
    assert row.summary is not None
    scored = row.summary["graders"]["rft"]
    assert scored["kind"] == "score"
    assert scored["errors"] == 0
    assert scored["verdict"] == "better", scored
    assert row.summary["verdict"] == "better"
    # two answers and two grader requests per item, each paid for; where both models gave
    # the same answer, its grading is the same request and comes from the cache
    usage = row.summary["usage"]
    assert usage["requests"] == bench.chat_requests()
    assert usage["requests"] + usage["cached_requests"] == 20 * 4
    assert row.cost_usd > 0


async def test_a_multi_grader_with_cosine_asks_embeddings_for_its_cosine_part() -> None:
    multi = {
        "type": "multi",
        "name": "both",
        "graders": {"exact": ANSWER_CHECK, "close": COSINE},
        "calculate_output": "0.5 * exact + 0.5 * close",
    }
    compared: list[tuple[str, str]] = []

    async def compare(text: str, reference: str) -> float:
        compared.append((text, reference))
        return 0.6

    entry = await rft.score_entry(multi, {"answer": "four"}, "4", Asked(), compare)
    assert compared == [("4", "four")]
    assert entry["score"] == pytest.approx(0.3)
    assert "close 0.600" in entry["explanation"]
    # an empty answer is not sent (the API refuses empty inputs) and agrees with nothing
    entry = await rft.score_entry(COSINE, {"answer": "four"}, "", Asked(), compare)
    assert entry["score"] == 0.0
    assert len(compared) == 1

    # a failed embeddings request leaves its reason, as a model grader's does
    async def failing(text: str, reference: str) -> float:
        raise RequestFailed("text-embedding-3-small", "HTTP 500", 6)

    entry = await rft.score_entry(multi, {"answer": "4"}, "4", Asked(), failing)
    assert entry["error"].startswith("grader 'close': text-embedding-3-small: HTTP 500")
    entry = await rft.score_entry(COSINE, {"answer": "4"}, "4", Asked())
    assert "cosine similarity needs embeddings" in entry["error"]


async def test_a_cosine_grader_evaluates_both_models_with_cached_paid_embeddings(
    emulator: Emulator, clock: FakeClock, make_bench: MakeBench, tmp_path: Path
) -> None:
    model = await train(emulator, clock, support_records(support_pairs(40)))
    # Distinct references, so that no two requests are one (both would be paid, one cached).
    pairs = list({answer: question for question, answer in support_pairs(12, start=40)}.items())
    test_file = tmp_path / "test.jsonl"
    test_file.write_text(
        "".join(json.dumps(rft_line(question, answer=answer)) + "\n" for answer, question in pairs)
    )
    items = len(pairs)
    bench = make_bench(
        graders=["rft"],
        primary_grader="rft",
        reinforcement=Reinforcement.model_validate({"grader": COSINE}),
    )
    row = await bench.evaluate(model, test_file)
    assert row.status == "succeeded", row.error
    assert row.summary is not None
    scored = row.summary["graders"]["rft"]
    assert scored["kind"] == "score"
    assert scored["errors"] == 0
    # the fine-tuned model answers with its nearest training reply, closer to the
    # reference's words than the base model's generic answer
    assert scored["verdict"] == "better", scored
    embedded = bench.embeddings_requests()
    usage = row.summary["usage"]
    assert embedded == items * 2
    assert usage["requests"] == bench.chat_requests() + embedded
    assert usage["requests"] + usage["cached_requests"] == items * 4
    # the embeddings' tokens are counted in the spend beside the answers'
    paid = await bench.store.read(
        "SELECT model = 'text-embedding-3-small' AS embedded, SUM(prompt_tokens) AS p, "
        "SUM(completion_tokens) AS c FROM completion_cache GROUP BY 1 ORDER BY 1"
    )
    assert [r["embedded"] for r in paid] == [0, 1]
    assert paid[1]["p"] > 0
    assert paid[1]["c"] == 0
    tokens = sum(PRICING.cost(r["p"], r["c"]) for r in paid)
    assert row.cost_usd == pytest.approx(tokens)
    # asked again (as after a restart), everything comes from the cache: nothing is paid twice
    again = await bench.evaluate(model, test_file)
    assert again.status == "succeeded", again.error
    assert bench.embeddings_requests() == embedded
    assert again.cost_usd == 0
    assert again.summary is not None
    assert again.summary["graders"]["rft"]["verdict"] == "better"


async def test_a_cosine_grader_at_a_provider_without_embeddings_fails_before_asking(
    make_bench: MakeBench, tmp_path: Path
) -> None:
    test_file = tmp_path / "test.jsonl"
    test_file.write_text(json.dumps(rft_line("2+2?", answer="4")) + "\n")
    bench = make_bench(
        graders=["rft"],
        primary_grader="rft",
        reinforcement=Reinforcement.model_validate({"grader": COSINE}),
    )
    runner = Runner(
        bench.store,
        bench.requester,
        lambda _model: PRICING,
        in_flight_for=bench.settings.concurrency_for,
        no_embeddings=lambda _row: "together",
    )
    queued = await bench.queue("ft:gpt-4.1-mini-2025-04-14:o::x", test_file)
    await runner.run(queued)
    done = await rows_of.get(bench.store, queued.id)
    assert done is not None
    assert done.status == "failed"
    assert "the together provider computes none" in str(done.error)
    assert bench.chat_requests() == bench.embeddings_requests() == 0


def test_the_forecast_counts_a_cosine_graders_embeddings(tmp_path: Path) -> None:
    test_file = tmp_path / "test.jsonl"
    test_file.write_text(
        "".join(json.dumps(rft_line(f"q{i}", answer="a")) + "\n" for i in range(5))
    )

    def embeddings_only(model: str) -> Pricing:
        return Pricing(prompt=1e-6, completion=0.0) if model.startswith("text-") else Pricing(0, 0)

    settings = settings_with(COSINE)
    found = forecast(test_file, settings, base_model=BASE, pricing=embeddings_only)
    assert found is not None
    assert found["requests"] == 5 * (2 + 2)  # two answers, each embedded with its reference
    assert found["cost_usd"] > 0
    plain = forecast(
        test_file, settings_with(ANSWER_CHECK), base_model=BASE, pricing=embeddings_only
    )
    assert plain is not None
    assert (plain["requests"], plain["cost_usd"]) == (5 * 2, 0)
