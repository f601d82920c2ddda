"""Run settings: the defaults, a dataset's sidecar overrides, prices and logging."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ftd import catalog
from ftd.config.evaluation import EvaluationOverrides
from ftd.config.integrations import Integrations
from ftd.config.provider import ProfileName, TrainingType
from ftd.config.reinforcement import Reinforcement
from ftd.config.rules import (
    Auto,
    Fraction,
    Metadata,
    Method,
    ModelName,
    Seed,
    SidecarFile,
    Suffix,
    Usd,
    _batch,
    _beta,
    _epochs,
    _KeyedError,
    _lr,
    _Section,
)
from ftd.config.together import TogetherRun
from ftd.errors import ConfigError
from ftd.profiles import DEFAULT_PROFILE

# ----------------------------------------------------------------------------- [defaults]


class Hyperparameters(_Section):
    n_epochs: Annotated[int | Auto, BeforeValidator(_epochs)] = "auto"
    batch_size: Annotated[int | Auto, BeforeValidator(_batch)] = "auto"
    learning_rate_multiplier: Annotated[float | Auto, BeforeValidator(_lr)] = "auto"
    beta: Annotated[float | Auto, BeforeValidator(_beta)] = "auto"

    def updated(self, other: Hyperparameters | None) -> Hyperparameters:
        """Only the values ``other`` states explicitly replace ours."""
        stated = {name: getattr(self, name) for name in self.model_fields_set}
        if other is not None:
            stated.update({name: getattr(other, name) for name in other.model_fields_set})
        return Hyperparameters.model_validate(stated)


def _check_run(
    model: str,
    method: str,
    hyperparameters: Hyperparameters,
    validation_fraction: float,
    test_fraction: float,
) -> None:
    """Rules tying run settings together, applied alike to [defaults] and to each merged run."""
    entry = catalog.lookup(model)
    if entry is not None and method not in entry.methods:
        raise _KeyedError(
            ("method",),
            f"{entry.name} supports {', '.join(entry.methods)}; not {method}",
        )
    if (
        "beta" in hyperparameters.model_fields_set
        and hyperparameters.beta != "auto"
        and method != catalog.DPO
    ):
        raise _KeyedError(("hyperparameters", "beta"), f"applies to method dpo only, not {method}")
    if validation_fraction + test_fraction >= 0.9:
        raise _KeyedError(
            ("test_fraction",),
            f"validation_fraction + test_fraction must stay below 0.9 so training keeps at "
            f"least 10%, got {validation_fraction:g} + {test_fraction:g}",
        )


def retirement(model: str, method: str, provider_kind: str) -> str | None:
    """Why ``model`` is no longer trained with ``method``; None when it still is. The dates
    are OpenAI's; Azure OpenAI keeps its own (it still trains o4-mini with reinforcement)."""
    entry = catalog.lookup(model)
    if entry is None or provider_kind == "azure":
        return None
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    since = catalog.retired_since(entry, method, today)
    return catalog.retirement_note(entry, method, since) if since is not None else None


def _check_reinforcement(method: str, reinforcement: Reinforcement | None) -> None:
    """A grader for reinforcement runs, and no reinforcement block on other methods."""
    if method == catalog.REINFORCEMENT:
        if reinforcement is None or reinforcement.grader is None:
            raise _KeyedError(
                ("reinforcement", "grader"),
                "required for method reinforcement: a string_check, text_similarity, python, "
                "score_model or multi grader scoring each sample",
            )
    elif reinforcement is not None and reinforcement.model_fields_set:
        raise _KeyedError(("reinforcement",), f"applies to method reinforcement only, not {method}")


class RunDefaults(_Section):
    model: ModelName = catalog.DEFAULT_MODEL
    method: Method = "supervised"
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    # Kept for reinforcement runs; other methods ignore a block set here.
    reinforcement: Reinforcement | None = None
    suffix: Suffix | None = None
    seed: Seed | None = None
    metadata: Metadata = Field(default_factory=dict)
    integrations: Integrations = Field(default_factory=list)
    validation_fraction: Fraction = 0.1
    test_fraction: Fraction = 0.1
    min_test_examples: int = Field(default=10, ge=0)
    max_cost_usd: Usd = 50.0
    auto_approve: bool = True
    provider: ProfileName = DEFAULT_PROFILE
    training_type: TrainingType | None = None
    together: TogetherRun = Field(default_factory=TogetherRun)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_run(
            self.model,
            self.method,
            self.hyperparameters,
            self.validation_fraction,
            self.test_fraction,
        )
        if self.method == catalog.REINFORCEMENT:
            _check_reinforcement(self.method, self.reinforcement)
        return self

    def merged(self, overrides: DatasetOverrides | None = None) -> RunSettings:
        """The settings one dataset runs with: these defaults, then its sidecar's values."""
        if overrides is None:
            overrides = DatasetOverrides()
        where = f"sidecar {overrides.source}" if overrides.source else "dataset overrides"
        validation_file = overrides.resolved("validation_file")
        test_file = overrides.resolved("test_file")

        def pick(name: str) -> Any:
            value = getattr(overrides, name)
            return getattr(self, name) if value is None else value

        method = pick("method")
        hyperparameters = self.hyperparameters.updated(overrides.hyperparameters)
        reinforcement = (
            self.reinforcement.updated(overrides.reinforcement)
            if self.reinforcement is not None
            else overrides.reinforcement
        )
        if method != catalog.REINFORCEMENT and overrides.reinforcement is None:
            reinforcement = None  # [defaults]' block waits for a reinforcement run
        own = overrides.hyperparameters
        if method != catalog.DPO and (own is None or "beta" not in own.model_fields_set):
            # A beta in [defaults] belongs to dpo runs; a sidecar choosing another
            # method has not asked for it.
            hyperparameters = Hyperparameters.model_validate(
                hyperparameters.model_dump(include=hyperparameters.model_fields_set - {"beta"})
            )
        data: dict[str, Any] = {
            "model": pick("model"),
            "method": method,
            "hyperparameters": hyperparameters,
            "reinforcement": reinforcement,
            "suffix": pick("suffix"),
            "seed": pick("seed"),
            "metadata": {**self.metadata, **(overrides.metadata or {})},
            "integrations": pick("integrations"),  # a sidecar's list replaces the default's
            "validation_file": validation_file,
            "test_file": test_file,
            "validation_fraction": 0.0 if validation_file else pick("validation_fraction"),
            "test_fraction": 0.0 if test_file else pick("test_fraction"),
            "min_test_examples": self.min_test_examples,
            # A sidecar may tighten the spend guard, never loosen it: anyone who can
            # drop a file can write a sidecar, but only the operator sets the limit.
            "max_cost_usd": min(self.max_cost_usd, pick("max_cost_usd")),
            "auto_approve": self.auto_approve,
            "evaluation": overrides.evaluation,
            "provider": pick("provider"),
            "training_type": pick("training_type"),
            "together": self.together.updated(overrides.together),
        }
        try:
            return RunSettings.model_validate(data)
        except ValidationError as exc:
            from ftd.config.loading import _config_error  # loading builds on this module

            raise _config_error(exc, lambda loc: f"{where} combined with [defaults]") from None


class RunSettings(_Section):
    """Effective settings of one run; a fraction is 0 where a separate file replaces the split."""

    model: ModelName
    method: Method
    hyperparameters: Hyperparameters
    reinforcement: Reinforcement | None = None
    suffix: Suffix | None
    seed: Seed | None
    metadata: Metadata
    integrations: Integrations = Field(default_factory=list)
    validation_file: Path | None
    test_file: Path | None
    validation_fraction: Fraction
    test_fraction: Fraction
    min_test_examples: int = Field(ge=0)
    max_cost_usd: Usd
    auto_approve: bool
    evaluation: EvaluationOverrides | None = None
    provider: ProfileName = DEFAULT_PROFILE
    # Azure's training tier; the profile's choice applies where this is None.
    training_type: TrainingType | None = None
    together: TogetherRun | None = None

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_run(
            self.model,
            self.method,
            self.hyperparameters,
            self.validation_fraction,
            self.test_fraction,
        )
        _check_reinforcement(self.method, self.reinforcement)
        return self


class DatasetOverrides(_Section):
    """The sidecar NAME.toml beside NAME.jsonl: every key optional, None = use [defaults]."""

    model: ModelName | None = None
    method: Method | None = None
    hyperparameters: Hyperparameters | None = None
    reinforcement: Reinforcement | None = None
    suffix: Suffix | None = None
    seed: Seed | None = None
    metadata: Metadata | None = None
    integrations: Integrations | None = None
    validation_file: SidecarFile | None = None
    test_file: SidecarFile | None = None
    max_cost_usd: Usd | None = None
    validation_fraction: Fraction | None = None
    test_fraction: Fraction | None = None
    evaluation: EvaluationOverrides | None = None
    provider: ProfileName | None = None
    training_type: TrainingType | None = None
    together: TogetherRun | None = None

    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _file_or_fraction(self) -> Self:
        for part in ("validation", "test"):
            if (
                getattr(self, f"{part}_file") is not None
                and getattr(self, f"{part}_fraction") is not None
            ):
                raise _KeyedError(
                    (f"{part}_fraction",),
                    f"{part}_file replaces the split; set one of {part}_file and "
                    f"{part}_fraction, not both",
                )
        return self

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def base_dir(self) -> Path:
        return self._source.parent if self._source is not None else Path.cwd()

    def resolved(self, key: Literal["validation_file", "test_file"]) -> Path | None:
        """The file beside the sidecar; a symlink leading elsewhere is refused like '..'."""
        relative: Path | None = getattr(self, key)
        if relative is None:
            return None
        target = self.base_dir / relative
        if not target.resolve().is_relative_to(self.base_dir.resolve()):
            where = f"in sidecar {self._source}" if self._source else "in dataset overrides"
            raise ConfigError(key, f"{relative} leads outside {self.base_dir} ({where})")
        return target


# ----------------------------------------------------------------------------- [prices], [log]


class Price(_Section):
    """USD figures; None where the catalogue has none and the configuration sets none."""

    training_per_mtok: Usd | None = None
    training_per_hour: Usd | None = None
    input_per_mtok: Usd | None = None
    output_per_mtok: Usd | None = None


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"

    @field_validator("level", "format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value
