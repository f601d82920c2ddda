"""What the emulator can be told: fixed start-up settings and knobs that change while it runs.

The runtime knobs (faults, refusals, limits) are one mutable object shared by
every part of the server, so a ``POST /_emulator/config`` takes effect on the
next request without restarting anything. Each knob has one validation rule,
used alike for command-line options and for the config endpoint.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from ftd.errors import FtdError

if TYPE_CHECKING:
    from pathlib import Path

MIB = 1024 * 1024
DEFAULT_MAX_FILE_BYTES = 512 * MIB
DEFAULT_MAX_PART_BYTES = 64 * MIB
MAX_UPLOAD_BYTES = 8 * 1024 * MIB
DEFAULT_UPLOAD_TTL_SECONDS = 3600.0
FLAVORS = ("openai", "azure", "together")


class SettingError(FtdError):
    """A knob was given a value outside its range or of the wrong kind."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


@dataclass(frozen=True, slots=True)
class _Rule:
    kind: type
    low: float | None = None
    high: float | None = None
    nullable: bool = False


_RULES: dict[str, _Rule] = {
    "speed": _Rule(float, 1e-3, 1e6),
    "latency_ms": _Rule(float, 0, 600_000),
    "jitter_ms": _Rule(float, 0, 600_000),
    "answer_delay_ms": _Rule(float, 0, 600_000),
    "error_rate": _Rule(float, 0, 1),
    "rate_limit_rate": _Rule(float, 0, 1),
    "rpm_limit": _Rule(int, 0, 10_000_000, nullable=True),
    "drop_rate": _Rule(float, 0, 1),
    "job_failure_rate": _Rule(float, 0, 1),
    "seed": _Rule(int, 0, 2**63 - 1, nullable=True),
    "retry_after_ms": _Rule(int, 0, 3_600_000),
    "training_not_available": _Rule(bool),
    "refuse_keys": _Rule(bool),
    "max_active_jobs": _Rule(int, 0, 10_000_000, nullable=True),
    "daily_job_cap": _Rule(int, 0, 10_000_000, nullable=True),
    "model_ready_delay": _Rule(float, 0, 86_400),
    "result_files_base64": _Rule(bool),
    "max_file_bytes": _Rule(int, 1, 64 * 1024 * MIB),
    "max_part_bytes": _Rule(int, 1, 8 * 1024 * MIB),
    "upload_ttl_seconds": _Rule(float, 0, 30 * 86_400),
    # Azure flavour only (ignored by the OpenAI one); in emulated seconds, divided by speed.
    "deployment_provisioning_seconds": _Rule(float, 0, 86_400),
    "deployment_not_ready_seconds": _Rule(float, 0, 86_400),
    "developer_tier_pause_seconds": _Rule(float, 0, 30 * 86_400),
    "arm_page_size": _Rule(int, 1, 1000),
    # Azure flavour: every model's inference deprecation this many days from the
    # emulator's clock (a base about to retire), instead of the published dates.
    "shutdown_in_days": _Rule(float, 0, 36_500, nullable=True),
    # Batches: emulated seconds in_progress, share of requests failing, chance a batch expires.
    "batch_seconds": _Rule(float, 0, 86_400),
    "batch_request_failure_rate": _Rule(float, 0, 1),
    "batch_expire_rate": _Rule(float, 0, 1),
}


def _coerce(key: str, value: object) -> object:
    rule = _RULES[key]
    if value is None:
        if rule.nullable:
            return None
        raise SettingError(key, "must not be null")
    if rule.kind is bool:
        if not isinstance(value, bool):
            raise SettingError(key, f"must be true or false, got {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SettingError(key, f"must be a number, got {value!r}")
    if rule.kind is int and (isinstance(value, float) and not value.is_integer()):
        raise SettingError(key, f"must be an integer, got {value!r}")
    number = int(value) if rule.kind is int else float(value)
    if isinstance(number, float) and not math.isfinite(number):
        raise SettingError(key, "must be finite")
    if (rule.low is not None and number < rule.low) or (
        rule.high is not None and number > rule.high
    ):
        raise SettingError(key, f"must be between {rule.low:g} and {rule.high:g}, got {number!r}")
    return number


@dataclass(slots=True)
class RuntimeConfig:
    """Knobs read on every request; ``None`` for a limit means no limit."""

    speed: float = 1.0
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    # Held after the request has been carried out: a client that gives up or dies
    # meanwhile has changed state without hearing about it.
    answer_delay_ms: float = 0.0
    error_rate: float = 0.0
    rate_limit_rate: float = 0.0
    rpm_limit: int | None = None
    drop_rate: float = 0.0
    job_failure_rate: float = 0.0
    seed: int | None = None
    retry_after_ms: int = 1000
    training_not_available: bool = False
    # Every API call answers 401 invalid_api_key, as for a revoked or mistyped key.
    refuse_keys: bool = False
    max_active_jobs: int | None = None
    daily_job_cap: int | None = None
    model_ready_delay: float = 0.0
    # Real result files came base64-encoded (2024); plain CSV is the other case ftd must read.
    result_files_base64: bool = True
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES
    max_part_bytes: int = DEFAULT_MAX_PART_BYTES
    upload_ttl_seconds: float = DEFAULT_UPLOAD_TTL_SECONDS
    # How long an ARM deployment stays Accepted/Creating before Succeeded (or Failed).
    deployment_provisioning_seconds: float = 60.0
    # After Succeeded, chat on the deployment answers DeploymentNotReady this long.
    deployment_not_ready_seconds: float = 30.0
    # 0: off. Otherwise a developerTier job is paused by the service after its first
    # trained step and resumed by it this many seconds later.
    developer_tier_pause_seconds: float = 0.0
    arm_page_size: int = 100
    shutdown_in_days: float | None = None
    batch_seconds: float = 120.0
    batch_request_failure_rate: float = 0.0
    batch_expire_rate: float = 0.0

    def __post_init__(self) -> None:
        for key in _RULES:
            object.__setattr__(self, key, _coerce(key, getattr(self, key)))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, changes: dict[str, object]) -> list[str]:
        """Apply a partial update atomically: every key is checked before any is set."""
        unknown = sorted(set(changes) - set(_RULES))
        if unknown:
            raise SettingError(unknown[0], f"unknown setting; known: {', '.join(sorted(_RULES))}")
        checked = {key: _coerce(key, value) for key, value in changes.items()}
        for key, value in checked.items():
            setattr(self, key, value)
        return sorted(checked)


@dataclass(slots=True)
class EmulatorSettings:
    """Everything fixed at start-up, plus the initial runtime knobs."""

    host: str = "127.0.0.1"
    port: int = 0
    state_path: Path | None = None
    organization: str = "ftd-emulator"
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    flavor: str = "openai"  # which API the emulator speaks: one of FLAVORS

    def __post_init__(self) -> None:
        if self.flavor not in FLAVORS:
            choices = ", ".join(FLAVORS)
            raise SettingError("flavor", f"must be one of {choices}, got {self.flavor!r}")
