"""The ``rft`` grader: a reinforcement run scored on its test split by its own grader.

Reinforcement lines carry no reference answer, only the fields the run's
grader reads (``{{item.*}}``), so the grader that rewarded training is the
one that can say whether the fine-tuned model answers better than its base.
Each kind is computed here as the provider describes it:

* ``string_check`` and ``text_similarity`` locally (``graders``,
  ``similarity``), but for ``cosine``, which is the cosine of the two texts'
  embeddings by ``embeddings_model``, asked through the requester like any
  request (one request for both texts, cached, counted in the spend);
* ``score_model`` and ``label_model`` by asking the grader's model through
  the evaluation's requester (cache, limits, retries, spend), with a JSON
  schema so that the score or label is read, never guessed from prose;
* ``multi`` by computing its graders and then its ``calculate_output``
  (``formula``, which never runs code).

``python`` graders are refused before anything is asked, with a reason the
report shows: ftd does not run code from a sidecar, even sandboxed. A
``cosine`` grader is refused likewise where the provider computes no
embeddings (``no_embeddings``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import orjson

from ftd.config.evaluation import EvaluationSettings
from ftd.config.reinforcement import Reinforcement
from ftd.errors import FtdError
from ftd.evaluation import formula
from ftd.evaluation.graders import Score, fill, rft_grade
from ftd.evaluation.pool import RequestFailed

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping

    from ftd.evaluation.pool import Completion

    # (model, messages, params) -> the completion, through the evaluation's requester.
    Ask = Callable[[str, list[dict[str, Any]], dict[str, Any]], Awaitable[Completion]]
    # (text, reference) -> the cosine of their embeddings, through the requester.
    Compare = Callable[[str, str], Awaitable[float]]

RFT = "rft"
# The run's grader scores the answer itself; these need a reference answer the line lacks.
NEEDS_REFERENCE = frozenset({"exact", "normalized", "f1", "json", "judge", "pairwise"})
PASS_FAIL_KINDS = frozenset({"string_check", "label_model"})
MODEL_KINDS = frozenset({"score_model", "label_model"})


class GradeError(FtdError):
    """One answer could not be graded (a template with no value, a model's bad reply)."""


def _inner(grader: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    if grader.get("type") == "multi":
        graders = grader.get("graders") or {}
        return [g for inner in graders.values() for g in _inner(inner)]
    return [grader]


def refusal(grader: Mapping[str, Any]) -> str | None:
    """Why ftd cannot compute this grader here, or None when it can."""
    for inner in _inner(grader):
        name = inner.get("name", inner.get("type"))
        if inner.get("type") == "python":
            return (
                f"grader {name!r} is a python grader: ftd does not run code from a sidecar, "
                "so it cannot score this evaluation locally; grade it at the provider or "
                'choose graders in the sidecar\'s [evaluation] (e.g. graders = ["rft"] with a '
                "string_check, text_similarity or model grader)"
            )
    return None


def problem(settings: EvaluationSettings) -> str | None:
    """Why an evaluation with these settings cannot run at all; None when it can."""
    if RFT not in settings.graders:
        return None
    block = settings.reinforcement
    if block is None or block.grader is None:
        return (
            "the rft grader scores with a reinforcement run's own grader, and this evaluation "
            "has none (only evaluations of reinforcement jobs have one)"
        )
    others = sorted(NEEDS_REFERENCE & set(settings.graders))
    if others:
        return (
            f"graders {', '.join(others)} compare with a reference answer, which reinforcement "
            "lines do not have; grade them with rft alone"
        )
    return refusal(block.grader.model_dump(exclude_none=True))


def is_pass_fail(settings: EvaluationSettings) -> bool:
    """Whether the run's grader passes or fails each answer (then McNemar's test decides)."""
    block = settings.reinforcement
    return bool(block and block.grader and block.grader.type in PASS_FAIL_KINDS)


def for_run(
    settings: EvaluationSettings, run: Mapping[str, Any], *, graders_chosen: bool
) -> EvaluationSettings:
    """The settings of a job's evaluation: for a reinforcement run, its grader comes along,
    and unless the sidecar chose graders, the run's grader is the one that decides."""
    block = run.get("reinforcement")
    if run.get("method") != "reinforcement" or not isinstance(block, dict):
        return settings
    reinforcement = Reinforcement.model_validate(block)
    if reinforcement.grader is None:
        return settings
    merged = settings.model_dump()
    merged["reinforcement"] = reinforcement.model_dump()
    if not graders_chosen:
        merged["graders"] = [RFT]
        merged["primary_grader"] = RFT
        merged["gates"] = {
            name: gate for name, gate in merged["gates"].items() if gate["grader"] == RFT
        }
        if not merged["gates"]:
            merged["promote_command"] = []
    return EvaluationSettings.model_validate(merged)


def models_asked(settings: EvaluationSettings) -> list[str]:
    """The grader models an rft evaluation asks, one per model grader (for routes, costs)."""
    block = settings.reinforcement
    if RFT not in settings.graders or block is None or block.grader is None:
        return []
    grader = block.grader.model_dump(exclude_none=True)
    return [str(g["model"]) for g in _inner(grader) if g.get("type") in MODEL_KINDS]


def _is_cosine(grader: Mapping[str, Any]) -> bool:
    return grader.get("type") == "text_similarity" and grader.get("evaluation_metric") == "cosine"


def embeddings_model(settings: EvaluationSettings) -> str | None:
    """The embeddings model an rft evaluation asks, when its grader has a cosine part."""
    grader = grader_of(settings)
    if grader is None or not any(_is_cosine(g) for g in _inner(grader)):
        return None
    return settings.embeddings_model


def no_embeddings(settings: EvaluationSettings, provider: str) -> str:
    """Why a cosine grader cannot score an evaluation at a provider without embeddings."""
    return (
        f"the run's grader uses cosine similarity, which needs the embeddings of "
        f"{settings.embeddings_model}, and the {provider} provider computes none through ftd; "
        "use another evaluation_metric such as rouge_l, bleu or meteor"
    )


def answer_params(settings: EvaluationSettings) -> dict[str, Any]:
    """What the answers are asked with beyond the usual: the run's response format."""
    block = settings.reinforcement
    if RFT not in settings.graders or block is None or block.response_format is None:
        return {}
    return {"response_format": block.response_format.model_dump()}


# ---------------------------------------------------------------- model graders


def _part(part: Mapping[str, Any], item: Mapping[str, Any], answer: str) -> dict[str, Any]:
    kind = part.get("type", "input_text")
    if kind in ("input_text", "output_text", "text"):
        return {"type": "text", "text": fill(str(part.get("text", "")), item, answer)}
    if kind == "input_image" and isinstance(part.get("image_url"), str):
        url = fill(str(part["image_url"]), item, answer)
        return {
            "type": "image_url",
            "image_url": {"url": url, "detail": part.get("detail", "auto")},
        }
    raise GradeError(f"a grader message part of type {kind!r} cannot be sent from here")


def grader_messages(
    grader: Mapping[str, Any], item: Mapping[str, Any], answer: str
) -> list[dict[str, Any]]:
    """The model grader's input with its templates filled, as chat messages."""
    messages: list[dict[str, Any]] = []
    for message in grader.get("input") or []:
        content = message.get("content")
        if isinstance(content, str):
            body: str | list[dict[str, Any]] = fill(content, item, answer)
        else:
            parts = [content] if isinstance(content, dict) else list(content or [])
            body = [_part(p, item, answer) for p in parts]
            if all(p["type"] == "text" for p in body):
                body = "".join(p["text"] for p in body)
        messages.append({"role": message.get("role", "user"), "content": body})
    return messages


def _sampling(grader: Mapping[str, Any]) -> dict[str, Any]:
    given = grader.get("sampling_params") or {}
    params: dict[str, Any] = {"temperature": 0.0}
    for key in ("temperature", "top_p", "seed", "reasoning_effort"):
        if given.get(key) is not None:
            params[key] = given[key]
    if given.get("max_completions_tokens") is not None:
        params["max_completion_tokens"] = given["max_completions_tokens"]
    return params


def _schema(name: str, value: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "json_schema",
        "json_schema": {
            "name": name,
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {"explanation": {"type": "string"}, **value},
                "required": ["explanation", *value],
                "additionalProperties": False,
            },
        },
    }


def _reply(text: str, model: str) -> dict[str, Any]:
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        raise GradeError(f"the grader model {model} did not answer in JSON: {text[:120]!r}")
    return data


async def _score_model(
    grader: Mapping[str, Any], item: Mapping[str, Any], answer: str, ask: Ask
) -> Score:
    low, high = grader.get("range") or (0.0, 1.0)
    model = str(grader["model"])
    params = _sampling(grader)
    params["response_format"] = _schema(
        "score_model_result", {"score": {"type": "number", "minimum": low, "maximum": high}}
    )
    reply = _reply((await ask(model, grader_messages(grader, item, answer), params)).text, model)
    score = reply.get("score")
    if isinstance(score, bool) or not isinstance(score, int | float) or not low <= score <= high:
        raise GradeError(
            f"the grader model {model} answered score {score!r}, "
            f"not a number in [{low:g}, {high:g}]"
        )
    return Score(float(score), str(reply.get("explanation", ""))[:500])


async def _label_model(
    grader: Mapping[str, Any], item: Mapping[str, Any], answer: str, ask: Ask
) -> Score:
    labels = [str(label) for label in grader["labels"]]
    model = str(grader["model"])
    params = _sampling({})
    params["response_format"] = _schema(
        "label_model_result", {"label": {"type": "string", "enum": labels}}
    )
    reply = _reply((await ask(model, grader_messages(grader, item, answer), params)).text, model)
    label = reply.get("label")
    if label not in labels:
        raise GradeError(f"the grader model {model} answered label {label!r}, not one of {labels}")
    passed = label in grader["passing_labels"]
    return Score(float(passed), f"labelled {label}", passed=passed)


async def _cosine(
    grader: Mapping[str, Any], item: Mapping[str, Any], answer: str, compare: Compare | None
) -> Score:
    text = fill(str(grader["input"]), item, answer)
    reference = fill(str(grader["reference"]), item, answer)
    if not text or not reference:
        # Nothing to embed (the API refuses an empty input): only two empty texts agree.
        value = float(text == reference)
        return Score(value, f"cosine {value:.3f}: {'both texts' if value else 'a text'} empty")
    if compare is None:
        raise GradeError("cosine similarity needs embeddings, and none can be asked here")
    value = await compare(text, reference)
    return Score(value, f"cosine {value:.3f} between the embeddings of the text and reference")


async def _multi(
    grader: Mapping[str, Any],
    item: Mapping[str, Any],
    answer: str,
    ask: Ask,
    compare: Compare | None,
) -> Score:
    inner: dict[str, Any] = dict(grader["graders"])
    found: dict[str, Score | GradeError | RequestFailed] = {}

    async def one(name: str) -> None:
        try:
            found[name] = await grade(inner[name], item, answer, ask, compare)
        except (GradeError, RequestFailed) as exc:
            found[name] = exc

    async with anyio.create_task_group() as tg:
        for name in inner:
            tg.start_soon(one, name)
    values: dict[str, float] = {}
    for name in inner:
        outcome = found[name]
        if not isinstance(outcome, Score):
            raise GradeError(f"grader {name!r}: {outcome}")
        values[name] = outcome.value
    try:
        value = formula.evaluate(str(grader["calculate_output"]), values)
    except formula.FormulaError as exc:
        raise GradeError(str(exc)) from None
    parts = ", ".join(f"{name} {score:.3f}" for name, score in values.items())
    return Score(value, f"{grader['calculate_output']} = {value:.3f} ({parts})")


async def grade(
    grader: Mapping[str, Any],
    item: Mapping[str, Any],
    answer: str,
    ask: Ask,
    compare: Compare | None = None,
) -> Score:
    """One answer's score under the grader; GradeError or RequestFailed when it has none."""
    kind = grader.get("type")
    try:
        if kind == "score_model":
            return await _score_model(grader, item, answer, ask)
        if kind == "label_model":
            return await _label_model(grader, item, answer, ask)
        if kind == "multi":
            return await _multi(grader, item, answer, ask, compare)
        if _is_cosine(grader):
            return await _cosine(grader, item, answer, compare)
        local = rft_grade(grader, item, answer)
    except ValueError as exc:  # a template naming nothing in the line or the answer
        raise GradeError(str(exc)) from None
    if local is None:
        raise GradeError(refusal(grader) or f"grader type {kind!r} is not computed here")
    return local


async def score_entry(
    grader: Mapping[str, Any],
    item: Mapping[str, Any],
    answer: str,
    ask: Ask,
    compare: Compare | None = None,
) -> dict[str, Any]:
    """What an item's row keeps under ``rft``: the score, or why there is none."""
    try:
        return (await grade(grader, item, answer, ask, compare)).as_dict()
    except (GradeError, RequestFailed) as exc:
        return {"error": str(exc)}


def grader_of(settings: EvaluationSettings) -> dict[str, Any] | None:
    """The run's grader as the provider received it, when this evaluation grades with it."""
    block = settings.reinforcement
    if RFT not in settings.graders or block is None or block.grader is None:
        return None
    return block.grader.model_dump(exclude_none=True)
