"""The ``[reinforcement]`` block of [defaults] and sidecars: the grader and what RFT adds.

Reinforcement fine-tuning cannot start without a grader, and a grader the
provider refuses costs a round trip and a rejected dataset; so every shape is
checked here, offline, naming the key at fault. Shapes follow OpenAI's
``FineTuneReinforcementMethod`` (graders ``string_check``, ``text_similarity``,
``python``, ``score_model``, ``multi``; ``label_model`` only inside ``multi``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, StringConstraints, model_validator

from ftd.config.rules import _auto_or_number, _Section

Text = Annotated[str, StringConstraints(min_length=1)]
ReasoningEffort = Literal["default", "low", "medium", "high"]
SIMILARITY_METRICS = (
    "cosine",
    "fuzzy_match",
    "bleu",
    "gleu",
    "meteor",
    "rouge_1",
    "rouge_2",
    "rouge_3",
    "rouge_4",
    "rouge_5",
    "rouge_l",
)


class StringCheckGrader(_Section):
    type: Literal["string_check"]
    name: Text
    input: Text  # a template such as "{{sample.output_text}}"
    reference: Text  # such as "{{item.answer}}"
    operation: Literal["eq", "ne", "like", "ilike"]


class TextSimilarityGrader(_Section):
    type: Literal["text_similarity"]
    name: Text
    input: Text
    reference: Text
    evaluation_metric: Literal[
        "cosine",
        "fuzzy_match",
        "bleu",
        "gleu",
        "meteor",
        "rouge_1",
        "rouge_2",
        "rouge_3",
        "rouge_4",
        "rouge_5",
        "rouge_l",
    ]


class PythonGrader(_Section):
    type: Literal["python"]
    name: Text
    source: Text
    image_tag: Text | None = None


class SamplingParams(_Section):
    seed: int | None = None
    top_p: float | None = Field(default=None, ge=0, le=1)
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_completions_tokens: int | None = Field(default=None, ge=1)
    reasoning_effort: Literal["minimal", "low", "medium", "high"] | None = None


class GraderMessage(_Section):
    """One input message of a model grader; content is text or content blocks."""

    type: Literal["message"] = "message"
    role: Literal["system", "developer", "user", "assistant"]
    content: Text | dict[str, Any] | list[dict[str, Any]]


def _score_range(value: object) -> object:
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
    ):
        raise ValueError("must be two numbers, [low, high]")
    if value[0] >= value[1]:
        raise ValueError(f"low must be below high, got [{value[0]:g}, {value[1]:g}]")
    return value


class ScoreModelGrader(_Section):
    type: Literal["score_model"]
    name: Text
    model: Text
    input: list[GraderMessage] = Field(min_length=1)
    range: Annotated[list[float] | None, BeforeValidator(_score_range)] = None
    sampling_params: SamplingParams | None = None


class LabelModelGrader(_Section):
    type: Literal["label_model"]
    name: Text
    model: Text
    input: list[GraderMessage] = Field(min_length=1)
    labels: list[Text] = Field(min_length=1)
    passing_labels: list[Text] = Field(min_length=1)

    @model_validator(mode="after")
    def _passing_are_labels(self) -> LabelModelGrader:
        unknown = [label for label in self.passing_labels if label not in self.labels]
        if unknown:
            raise ValueError(f"passing_labels {unknown} are not among labels {self.labels}")
        return self


InnerGrader = Annotated[
    StringCheckGrader | TextSimilarityGrader | PythonGrader | ScoreModelGrader | LabelModelGrader,
    Field(discriminator="type"),
]


class MultiGrader(_Section):
    type: Literal["multi"]
    name: Text
    graders: dict[str, InnerGrader] = Field(min_length=1)
    calculate_output: Text  # a formula over the graders' names, such as "0.5 * a + 0.5 * b"


Grader = Annotated[
    StringCheckGrader | TextSimilarityGrader | PythonGrader | ScoreModelGrader | MultiGrader,
    Field(discriminator="type"),
]


def _compute(value: object) -> object:
    return _auto_or_number(value, integer=False, low=0.00001, high=10, low_open=True)


def _at_least_one(value: object) -> object:
    return _auto_or_number(value, integer=True, low=1, high=None, low_open=False)


class ReinforcementHyperparameters(_Section):
    """What RFT adds to n_epochs, batch_size and learning_rate_multiplier (in [hyperparameters])."""

    reasoning_effort: ReasoningEffort = "default"
    compute_multiplier: Annotated[float | Literal["auto"], BeforeValidator(_compute)] = "auto"
    eval_interval: Annotated[int | Literal["auto"], BeforeValidator(_at_least_one)] = "auto"
    eval_samples: Annotated[int | Literal["auto"], BeforeValidator(_at_least_one)] = "auto"


class ResponseFormat(_Section):
    """Structured output the model samples in (``{{sample.output_json.<field>}}``)."""

    type: Literal["json_schema"]
    json_schema: dict[str, Any]

    @model_validator(mode="after")
    def _named_schema(self) -> ResponseFormat:
        if not isinstance(self.json_schema.get("name"), str) or not self.json_schema["name"]:
            raise ValueError("json_schema needs a name")
        if not isinstance(self.json_schema.get("schema"), dict):
            raise ValueError("json_schema needs a schema (a JSON Schema object)")
        return self


class Reinforcement(_Section):
    """``[reinforcement]``: required for method = "reinforcement", refused for the others."""

    grader: Grader | None = None
    response_format: ResponseFormat | None = None
    hyperparameters: ReinforcementHyperparameters = Field(
        default_factory=ReinforcementHyperparameters
    )

    def updated(self, other: Reinforcement | None) -> Reinforcement:
        """A sidecar's block replaces ours key by key; its grader replaces ours whole."""
        if other is None:
            return self
        stated: dict[str, Any] = {name: getattr(self, name) for name in self.model_fields_set}
        stated.update({name: getattr(other, name) for name in other.model_fields_set})
        both = self.model_fields_set & other.model_fields_set
        if "hyperparameters" in both:
            mine, theirs = self.hyperparameters, other.hyperparameters
            merged = {name: getattr(mine, name) for name in mine.model_fields_set}
            merged.update({name: getattr(theirs, name) for name in theirs.model_fields_set})
            stated["hyperparameters"] = ReinforcementHyperparameters.model_validate(merged)
        return Reinforcement.model_validate(
            {k: v.model_dump() if isinstance(v, _Section) else v for k, v in stated.items()}
        )

    def method_body(self) -> dict[str, Any]:
        """``method.reinforcement`` of the create request, minus the common hyperparameters."""
        assert self.grader is not None
        body: dict[str, Any] = {"grader": self.grader.model_dump(exclude_none=True)}
        if self.response_format is not None:
            body["response_format"] = self.response_format.model_dump()
        hyper = {
            name: value
            for name, value in self.hyperparameters.model_dump().items()
            if value not in ("auto", "default")
        }
        if hyper:
            body["hyperparameters"] = hyper
        return body
