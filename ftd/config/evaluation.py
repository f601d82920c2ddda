"""[evaluation]: how a fine-tuned model is compared with its base, and what a sidecar may change.

The defaults aim at a verdict a person can trust without tuning: several
graders at once, a judge asked twice on a sample to show how steady it is,
a spend cap, and no promotion unless gates are configured.
"""

from __future__ import annotations

import datetime
from typing import Annotated, Literal, Self

from pydantic import Field, StringConstraints, field_validator, model_validator

from ftd import catalog
from ftd.config.reinforcement import Reinforcement
from ftd.config.rules import ModelName, Usd, _KeyedError, _Section

# "rft" is a reinforcement run's own grader (its method.reinforcement.grader).
GraderName = Literal["exact", "normalized", "f1", "json", "judge", "pairwise", "rft"]
GRADER_NAMES: tuple[str, ...] = ("exact", "normalized", "f1", "json", "judge", "pairwise", "rft")
DEFAULT_GRADERS: tuple[GraderName, ...] = ("normalized", "f1", "judge", "pairwise")
DEFAULT_JUDGE_MODEL = "gpt-4.1-2025-04-14"
Concurrency = Annotated[int, Field(ge=1, le=1024)]
Margin = Annotated[float, Field(ge=0, allow_inf_nan=False)]
IsoDay = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]
EvaluationMode = Literal["live", "batch", "auto"]


def _distinct(graders: list[str]) -> list[str]:
    if not graders:
        raise ValueError("name at least one grader")
    if len(set(graders)) != len(graders):
        raise ValueError("each grader may be named once")
    return graders


class Gate(_Section):
    """A condition the fine-tuned model must meet to be promoted; all gates must hold."""

    grader: GraderName = "judge"
    # The candidate's mean score under this grader is at least this much.
    min_mean: float | None = Field(default=None, allow_inf_nan=False)
    # "better": the verdict against the base is better; "not_worse": it is not worse.
    verdict: Literal["better", "not_worse"] | None = None

    @model_validator(mode="after")
    def _says_something(self) -> Self:
        if self.min_mean is None and self.verdict is None:
            raise _KeyedError(("min_mean",), "a gate needs min_mean, verdict or both")
        return self


class EvaluationSettings(_Section):
    enabled: bool = True
    graders: list[GraderName] = Field(default_factory=lambda: list(DEFAULT_GRADERS))
    primary_grader: GraderName = "judge"
    concurrency: Concurrency = 8
    model_concurrency: dict[Annotated[str, StringConstraints(min_length=1)], Concurrency] = Field(
        default_factory=dict
    )
    attempts: int = Field(default=6, ge=1, le=50)
    request_timeout_seconds: float = Field(default=60.0, gt=0, le=3600, allow_inf_nan=False)
    temperature: float = Field(default=0.0, ge=0, le=2, allow_inf_nan=False)
    max_completion_tokens: int = Field(default=1024, ge=1, le=100_000)
    judge_model: ModelName = DEFAULT_JUDGE_MODEL
    # What a reinforcement run's cosine text_similarity grader embeds its texts with.
    embeddings_model: ModelName = catalog.DEFAULT_EMBEDDING_MODEL
    judge_prompt: str | None = Field(default=None, min_length=1)
    pairwise_prompt: str | None = Field(default=None, min_length=1)
    judge_repeat_sample: int = Field(default=20, ge=0, le=100_000)
    confidence: float = Field(default=0.95, gt=0.5, lt=1)
    resamples: int = Field(default=5000, ge=100, le=1_000_000)
    margin: Margin = 0.0
    margins: dict[GraderName, Margin] = Field(default_factory=dict)
    gates: dict[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]+$")], Gate] = Field(
        default_factory=dict
    )
    promote_command: list[Annotated[str, StringConstraints(min_length=1)]] = Field(
        default_factory=list
    )
    promote_timeout_seconds: float = Field(default=300.0, gt=0, le=86_400, allow_inf_nan=False)
    max_cost_usd: Usd | None = 5.0
    max_items: int | None = Field(default=None, ge=1)
    checkpoints: bool = False
    parallel_evaluations: int = Field(default=2, ge=1, le=64)
    # live: the worker pool; batch: the provider's batch engine (half price, answers
    # within its window); auto: batch from batch_min_items items where it can.
    mode: EvaluationMode = "live"
    batch_min_items: int = Field(default=2000, ge=1)
    batch_max_requests: int | None = Field(default=None, ge=1, le=1_000_000)
    batch_poll_seconds: float = Field(default=60.0, gt=0, le=3600, allow_inf_nan=False)
    batch_rounds: int = Field(default=3, ge=1, le=20)
    # A reinforcement run's grader and response format, which the "rft" grader uses; set
    # for each evaluation of such a run from its dataset's settings (see evaluation.rft).
    # Not a configuration key: refused in [evaluation] (see Settings).
    reinforcement: Reinforcement | None = Field(default=None, json_schema_extra={"internal": True})
    # How many days before its base's shutdown a fine-tuned model's answers to its
    # test items are recorded (0: never on its own; `ftd record` still works).
    record_days_before: int = Field(default=14, ge=0, le=3650)
    # Shutdown dates learnt after this release (base model -> YYYY-MM-DD): they win
    # over the provider's list and the catalogue.
    shutdown_dates: dict[ModelName, IsoDay] = Field(default_factory=dict)

    @field_validator("shutdown_dates")
    @classmethod
    def _real_days(cls, value: dict[str, str]) -> dict[str, str]:
        for model, day in value.items():
            try:
                datetime.date.fromisoformat(day)
            except ValueError:
                raise ValueError(f"{model}: {day!r} is not a calendar date") from None
        return value

    @field_validator("graders")
    @classmethod
    def _graders(cls, value: list[str]) -> list[str]:
        return _distinct(value)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        for name, gate in self.gates.items():
            if gate.grader not in self.graders:
                raise _KeyedError(("gates", name, "grader"), f"{gate.grader} is not among graders")
        if self.promote_command and not self.gates:
            raise _KeyedError(
                ("promote_command",), "runs when every gate holds; configure at least one gate"
            )
        return self

    def concurrency_for(self, model: str) -> int:
        """The configured limit for a model: its own entry, else the entry of its base."""
        if model in self.model_concurrency:
            return self.model_concurrency[model]
        parts = model.split(":")
        if len(parts) > 1 and parts[0] == "ft" and parts[1] in self.model_concurrency:
            return self.model_concurrency[parts[1]]
        return self.concurrency

    def margin_for(self, grader: str) -> float:
        for name, value in self.margins.items():
            if name == grader:
                return value
        return self.margin


class EvaluationOverrides(_Section):
    """What a dataset's sidecar may change about its evaluation ([evaluation] in NAME.toml)."""

    enabled: bool | None = None
    graders: list[GraderName] | None = None
    primary_grader: GraderName | None = None
    judge_model: ModelName | None = None
    embeddings_model: ModelName | None = None
    judge_prompt: str | None = Field(default=None, min_length=1)
    max_items: int | None = Field(default=None, ge=1)
    mode: EvaluationMode | None = None

    @field_validator("graders")
    @classmethod
    def _graders(cls, value: list[str] | None) -> list[str] | None:
        return None if value is None else _distinct(value)

    def applied_to(self, settings: EvaluationSettings) -> EvaluationSettings:
        """The operator's settings with this dataset's choices on top; spending stays theirs."""
        stated = {
            k: getattr(self, k) for k in self.model_fields_set if getattr(self, k) is not None
        }
        merged = settings.model_dump(exclude_unset=False)
        merged.update(stated)
        if "max_items" in stated and settings.max_items is not None:
            merged["max_items"] = min(settings.max_items, stated["max_items"])
        # Gates name graders of the operator's choice; a sidecar dropping one of them
        # must not make the gate impossible, so such gates are kept only if still valid.
        merged["gates"] = {
            name: gate for name, gate in settings.gates.items() if gate.grader in merged["graders"]
        }
        if not merged["gates"]:
            merged["promote_command"] = []
        return EvaluationSettings.model_validate(merged)
