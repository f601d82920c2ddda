"""The one Settings object that holds every section."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import (
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from ftd import catalog
from ftd.config.control import ControlSettings
from ftd.config.evaluation import EvaluationSettings
from ftd.config.notify import Destinations, WebhooksSettings
from ftd.config.paths import IntakeSettings, PathsSettings, TrackerSettings
from ftd.config.provider import ProfileName, ProviderSettings
from ftd.config.rules import ENV_PREFIX, _KeyedError
from ftd.config.run import LogSettings, Price, RunDefaults, retirement
from ftd.errors import ConfigError
from ftd.places import SOCKET_NAME
from ftd.profiles import DEFAULT_PROFILE

if TYPE_CHECKING:
    from pathlib import Path

# ----------------------------------------------------------------------------- Settings


class Settings(BaseSettings):
    """Everything the daemon reads at start. Build it with ``load_settings``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_parse_none_str="null",
        case_sensitive=False,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    paths: PathsSettings = Field(default_factory=PathsSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    provider: ProviderSettings = Field(default_factory=ProviderSettings)
    # More provider profiles by name; [provider] is the profile called "default".
    providers: dict[ProfileName, ProviderSettings] = Field(default_factory=dict)
    defaults: RunDefaults = Field(default_factory=RunDefaults)
    prices: dict[Annotated[str, StringConstraints(min_length=1)], Price] = Field(
        default_factory=dict
    )
    tracker: TrackerSettings = Field(default_factory=TrackerSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    control: ControlSettings = Field(default_factory=ControlSettings)
    evaluation: EvaluationSettings = Field(default_factory=EvaluationSettings)
    notify: Destinations = Field(default_factory=list)
    webhooks: WebhooksSettings = Field(default_factory=WebhooksSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # No .env files and no secrets_dir: secrets go through _resolve_api_key only.
        return (init_settings, env_settings)

    @field_validator("prices")
    @classmethod
    def _price_keys(cls, value: dict[str, Price]) -> dict[str, Price]:
        """Aliases such as gpt-4.1-mini are stored under the snapshot the API resolves them to."""
        normalised: dict[str, Price] = {}
        for name, price in value.items():
            key = catalog.base_name(name)
            if key in normalised:
                raise ValueError(f"{name!r} and another entry both mean {key}; keep one")
            normalised[key] = price
        return normalised

    @model_validator(mode="after")
    def _not_retired(self) -> Settings:
        kind = self.profiles.get(self.defaults.provider, self.provider).kind
        refused = retirement(self.defaults.model, self.defaults.method, kind)
        if refused is not None:
            raise _KeyedError(("defaults", "method"), refused)
        if self.evaluation.reinforcement is not None:
            raise _KeyedError(
                ("evaluation", "reinforcement"),
                "is not configurable: each reinforcement run's evaluation takes the grader "
                "of its own [reinforcement] block",
            )
        return self

    @field_validator("providers")
    @classmethod
    def _profile_names(cls, value: dict[str, ProviderSettings]) -> dict[str, ProviderSettings]:
        if DEFAULT_PROFILE in value:
            raise ValueError(
                f"[providers.{DEFAULT_PROFILE}] is [provider]; give this profile another name"
            )
        return value

    @property
    def profiles(self) -> dict[str, ProviderSettings]:
        """Every provider profile by name, the default first."""
        return {DEFAULT_PROFILE: self.provider, **self.providers}

    def profile(self, name: str | None) -> ProviderSettings:
        """The profile a run names (None: the default); an unknown name says which exist."""
        if name is None or name == DEFAULT_PROFILE:
            return self.provider
        try:
            return self.providers[name]
        except KeyError:
            known = ", ".join(self.profiles)
            raise ConfigError(
                "provider", f"no provider profile {name!r}; configured: {known}"
            ) from None

    @property
    def socket_path(self) -> Path:
        return self.control.socket or self.paths.runtime_dir / SOCKET_NAME

    def price_for(self, model: str) -> Price:
        """Configured figures first, catalogue figures for what the configuration leaves out."""
        name = catalog.base_name(model)
        entry = catalog.lookup(model)
        figures: dict[str, float | None] = dict.fromkeys(Price.model_fields)
        if entry is not None:
            figures.update(
                training_per_mtok=entry.training_price_per_mtok,
                training_per_hour=entry.training_price_per_hour,
                input_per_mtok=entry.input_price_per_mtok,
                output_per_mtok=entry.output_price_per_mtok,
            )
        embedding = catalog.EMBEDDING_MODELS.get(name)
        if embedding is not None:
            figures.update(input_per_mtok=embedding.input_price_per_mtok, output_per_mtok=0.0)
        override = self.prices.get(name)
        if override is None and entry is not None:
            override = self.prices.get(entry.name)
        if override is not None:
            figures.update({field: getattr(override, field) for field in override.model_fields_set})
        return Price.model_validate(figures)
