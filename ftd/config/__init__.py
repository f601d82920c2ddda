"""ftd's configuration: one ``Settings`` object from a TOML file, ``FTD_*`` variables and secrets.

Precedence, highest first: overrides passed in code, ``FTD_*`` environment
variables (``__`` separates nesting levels), the TOML file, built-in defaults.
The API key never comes from the TOML file: it is read from the provider's usual
environment variable, a key file or a systemd credential, and is kept outside
the model's fields so that no repr, dump or error message can carry it.
Every failure becomes a ``ConfigError`` naming the dotted key and where its
value came from, because an operator fixing a unit file at 3 a.m. needs both.
"""

from __future__ import annotations

from ftd.config.control import ControlSettings
from ftd.config.evaluation import EvaluationOverrides, EvaluationSettings, Gate
from ftd.config.loading import find_config_file, load_overrides, load_settings
from ftd.config.paths import IntakeSettings, PathsSettings, TrackerSettings
from ftd.config.provider import AzureProfile, CompatibleProfile, OpenAIProfile, ProviderSettings
from ftd.config.run import (
    DatasetOverrides,
    Hyperparameters,
    LogSettings,
    Price,
    RunDefaults,
    RunSettings,
)
from ftd.config.settings import Settings
from ftd.places import default_paths

__all__ = [
    "AzureProfile",
    "CompatibleProfile",
    "ControlSettings",
    "DatasetOverrides",
    "EvaluationOverrides",
    "EvaluationSettings",
    "Gate",
    "Hyperparameters",
    "IntakeSettings",
    "LogSettings",
    "OpenAIProfile",
    "PathsSettings",
    "Price",
    "ProviderSettings",
    "RunDefaults",
    "RunSettings",
    "Settings",
    "TrackerSettings",
    "default_paths",
    "find_config_file",
    "load_overrides",
    "load_settings",
]
