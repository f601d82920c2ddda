"""The rules a fine-tuning job request must pass, and how "auto" hyperparameters resolve.

Every rejection names the offending field in ``param`` the way the real API
does, so a client can tell which of its inputs was wrong. Resolution of
``"auto"`` follows the published heuristic (about three epochs, raised or
lowered so that one run sees 100 to 25,000 examples) and small batches for
small data sets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ftd import catalog
from ftd.emulator.apierrors import ApiError, bad_request

if TYPE_CHECKING:
    import random
    from collections.abc import Callable

MAX_SEED = 2_147_483_647
MAX_SUFFIX = 64
MAX_METADATA_KEYS = 16
MAX_METADATA_KEY = 64
MAX_METADATA_VALUE = 512
AUTO = "auto"
_KNOWN_FIELDS = frozenset(
    {
        "model",
        "training_file",
        "validation_file",
        "suffix",
        "seed",
        "metadata",
        "method",
        "hyperparameters",
        "integrations",
    }
)


@dataclass(frozen=True, slots=True)
class _Range:
    kind: type
    low: float
    high: float | None
    low_open: bool = False


_COMMON = {
    "batch_size": _Range(int, 1, 256),
    "learning_rate_multiplier": _Range(float, 0, None, low_open=True),
    "n_epochs": _Range(int, 1, 50),
}
_RANGES: dict[str, dict[str, _Range]] = {
    catalog.SUPERVISED: _COMMON,
    catalog.DPO: {**_COMMON, "beta": _Range(float, 0, 2, low_open=True)},
    catalog.REINFORCEMENT: {
        **_COMMON,
        "compute_multiplier": _Range(float, 0.00001, 10, low_open=True),
        "eval_interval": _Range(int, 1, None),
        "eval_samples": _Range(int, 1, None),
    },
}
_REASONING_EFFORTS = ("default", "low", "medium", "high")


@dataclass(frozen=True, slots=True)
class JobRequest:
    """A create request that passed every rule."""

    model: str  # what the job reports: a base snapshot or the ft: model it continues
    base_model: str  # the snapshot the new model's name starts with
    training_file: str
    validation_file: str | None
    suffix: str | None
    seed: int
    metadata: dict[str, str] | None
    method: str
    hyperparameters: dict[str, Any]  # as requested, "auto" where not given
    method_extra: dict[str, Any] = field(default_factory=dict)  # grader, response_format
    integrations: list[dict[str, Any]] = field(default_factory=list)


def _check_hyperparameter(name: str, value: object, rule: _Range, param: str) -> object:
    if value == AUTO:
        return AUTO
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if not is_number or (rule.kind is int and not isinstance(value, int)):
        kind = "an integer" if rule.kind is int else "a number"
        raise bad_request(f"{name} must be {kind} or 'auto', got {value!r}", param=param)
    assert isinstance(value, int | float)
    too_low = value <= rule.low if rule.low_open else value < rule.low
    too_high = rule.high is not None and value > rule.high
    if too_low or too_high or not math.isfinite(value):
        low = f"greater than {rule.low:g}" if rule.low_open else f"at least {rule.low:g}"
        high = f" and at most {rule.high:g}" if rule.high is not None else ""
        raise bad_request(f"{name} must be {low}{high}, got {value!r}", param=param)
    return value


def _check_hyperparameters(method: str, given: object, param: str) -> dict[str, Any]:
    if given is None:
        given = {}
    if not isinstance(given, dict):
        raise bad_request("hyperparameters must be an object", param=param)
    ranges = _RANGES[method]
    result: dict[str, Any] = dict.fromkeys(ranges, AUTO)
    if method == catalog.REINFORCEMENT:
        result["reasoning_effort"] = "default"
    for name, value in given.items():
        where = f"{param}.{name}"
        if name == "reasoning_effort" and method == catalog.REINFORCEMENT:
            if value not in _REASONING_EFFORTS:
                raise bad_request(
                    f"reasoning_effort must be one of {', '.join(_REASONING_EFFORTS)}", param=where
                )
            result[name] = value
        elif name in ranges:
            result[name] = _check_hyperparameter(name, value, ranges[name], where)
        else:
            raise bad_request(f"Unknown hyperparameter '{name}' for method '{method}'", param=where)
    return result


def _check_file(
    value: object, param: str, file_purpose: Callable[[str], str | None], *, required: bool
) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise bad_request(f"{param} must be a file id", param=param)
    purpose = file_purpose(value)
    if purpose is None:
        raise bad_request(f"invalid {param}: {value}", param=param)  # the real wording
    if purpose != "fine-tune":
        raise bad_request(
            f"invalid {param}: {value} has purpose '{purpose}', expected 'fine-tune'",
            param=param,
            code="invalid_file_purpose",
        )
    return value


def _check_metadata(value: object) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        raise bad_request("metadata must be an object of string pairs", param="metadata")
    if len(value) > MAX_METADATA_KEYS:
        raise bad_request(
            f"metadata has {len(value)} keys; at most {MAX_METADATA_KEYS} are allowed",
            param="metadata",
        )
    for key, item in value.items():
        if len(key) > MAX_METADATA_KEY:
            raise bad_request(
                f"metadata key '{key[:20]}…' is {len(key)} characters; at most "
                f"{MAX_METADATA_KEY} are allowed",
                param="metadata",
            )
        if not isinstance(item, str):
            raise bad_request(f"metadata value for '{key}' must be a string", param="metadata")
        if len(item) > MAX_METADATA_VALUE:
            raise bad_request(
                f"metadata value for '{key}' is {len(item)} characters; at most "
                f"{MAX_METADATA_VALUE} are allowed",
                param="metadata",
            )
    return dict(value)


def _check_integrations(value: object) -> list[dict[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, list) or len(value) > 5:
        raise bad_request("integrations must be a list of at most 5 items", param="integrations")
    for item in value:
        wandb = item.get("wandb") if isinstance(item, dict) else None
        if not isinstance(item, dict) or item.get("type") != "wandb" or not isinstance(wandb, dict):
            raise bad_request("only 'wandb' integrations are supported", param="integrations")
        if not isinstance(wandb.get("project"), str):
            raise bad_request("wandb.project is required", param="integrations")
        tags = wandb.get("tags") or []
        if len(tags) > 50 or any(not isinstance(t, str) or len(t) > 64 for t in tags):
            raise bad_request(
                "wandb tags: at most 50, each at most 64 characters", param="integrations"
            )
    return list(value)


def _check_method(body: dict[str, Any]) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The method type, its requested hyperparameters and its other settings."""
    method = body.get("method")
    legacy = body.get("hyperparameters")
    if method is None:
        return (
            catalog.SUPERVISED,
            _check_hyperparameters(catalog.SUPERVISED, legacy, "hyperparameters"),
            {},
        )
    if not isinstance(method, dict):
        raise bad_request("method must be an object", param="method")
    kind = method.get("type")
    if kind not in catalog.METHODS:
        raise bad_request(
            f"method.type must be one of {', '.join(catalog.METHODS)}, got {kind!r}",
            param="method.type",
        )
    for other in catalog.METHODS:
        if other != kind and method.get(other) is not None:
            raise bad_request(
                f"method.{other} given but method.type is '{kind}'", param=f"method.{other}"
            )
    settings = method.get(kind) or {}
    if not isinstance(settings, dict):
        raise bad_request(f"method.{kind} must be an object", param=f"method.{kind}")
    given = settings.get("hyperparameters")
    if given is not None and legacy is not None:
        raise bad_request(
            "Hyperparameters were given both at the top level (deprecated) and in "
            f"method.{kind}.hyperparameters; give them only in the method.",
            param="hyperparameters",
        )
    source, param = (
        (legacy, "hyperparameters")
        if given is None and legacy is not None
        else (
            given,
            f"method.{kind}.hyperparameters",
        )
    )
    hyperparameters = _check_hyperparameters(kind, source, param)
    extra = {k: v for k, v in settings.items() if k != "hyperparameters"}
    if kind == catalog.REINFORCEMENT and not isinstance(extra.get("grader"), dict):
        raise bad_request(
            "method.reinforcement.grader is required", param="method.reinforcement.grader"
        )
    return kind, hyperparameters, extra


def parse_job_request(
    body: object,
    *,
    file_purpose: Callable[[str], str | None],
    resolve_model: Callable[[str], str | None],
    rng: random.Random,
) -> JobRequest:
    """Check a create body; raises :class:`ApiError` naming the first bad field."""
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object")
    for key in body:
        if key not in _KNOWN_FIELDS:
            raise bad_request(f"Unrecognized request argument supplied: {key}", param=key)
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad_request("model is required", param="model")
    base = resolve_model(model)
    if base is None:
        raise bad_request(
            f"Model {model} is not available for fine-tuning or does not exist.",
            param="model",
            code="model_not_available",
        )
    training_file = _check_file(
        body.get("training_file"), "training_file", file_purpose, required=True
    )
    assert training_file is not None
    validation_file = _check_file(
        body.get("validation_file"), "validation_file", file_purpose, required=False
    )
    suffix = body.get("suffix")
    if suffix is not None and (
        not isinstance(suffix, str) or not 1 <= len(suffix) <= MAX_SUFFIX or ":" in suffix
    ):
        raise bad_request(
            f"suffix must be 1 to {MAX_SUFFIX} characters without ':'", param="suffix"
        )
    seed = body.get("seed")
    if seed is None:
        seed = rng.randint(0, MAX_SEED)
    elif isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        raise bad_request(f"seed must be an integer between 0 and {MAX_SEED}", param="seed")
    method, hyperparameters, extra = _check_method(body)
    entry = catalog.lookup(base)
    if entry is None or method not in entry.methods:
        supported = ", ".join(entry.methods) if entry else "none"
        raise ApiError(
            400,
            f"Model {model} does not support the '{method}' fine-tuning method "
            f"(supported: {supported}).",
            param="method.type" if body.get("method") else "model",
            code="invalid_method",
        )
    return JobRequest(
        model=model if model.startswith("ft:") else base,
        base_model=base,
        training_file=training_file,
        validation_file=validation_file,
        suffix=suffix,
        seed=seed,
        metadata=_check_metadata(body.get("metadata")),
        method=method,
        hyperparameters=hyperparameters,
        method_extra=extra,
        integrations=_check_integrations(body.get("integrations")),
    )


def auto_epochs(n_examples: int) -> int:
    epochs = 3
    if n_examples * epochs < 100:
        epochs = min(25, 100 // max(1, n_examples))
    elif n_examples * epochs > 25_000:
        epochs = max(1, 25_000 // n_examples)
    return epochs


def auto_batch_size(n_examples: int) -> int:
    return max(1, min(256, round(n_examples * 0.002)))


# Real gpt-3.5-turbo jobs resolved "auto" to 2 for 103, 500 and 1,001 examples.
LEGACY_LEARNING_RATE = 2.0


def auto_learning_rate(n_examples: int, base_model: str | None = None) -> float:
    entry = catalog.lookup(base_model) if base_model else None
    if entry is not None and entry.family == "gpt-3.5-turbo":
        return LEGACY_LEARNING_RATE
    if n_examples < 1000:
        return 1.8
    return 1.0 if n_examples < 10_000 else 0.5


def resolve_hyperparameters(
    method: str, requested: dict[str, Any], n_examples: int, base_model: str | None = None
) -> dict[str, Any]:
    """Replace every "auto" by the value the service would pick for this many examples."""
    resolved = dict(requested)
    defaults: dict[str, Any] = {
        "n_epochs": auto_epochs(n_examples),
        "batch_size": auto_batch_size(n_examples),
        "learning_rate_multiplier": auto_learning_rate(n_examples, base_model),
        "beta": 0.1,
        "compute_multiplier": 1.0,
        "eval_samples": 10,
    }
    for name, value in requested.items():
        if value == AUTO and name in defaults:
            resolved[name] = defaults[name]
    if method == catalog.REINFORCEMENT and resolved.get("eval_interval") == AUTO:
        steps = math.ceil(n_examples / resolved["batch_size"]) * resolved["n_epochs"]
        resolved["eval_interval"] = max(1, steps // 10)
    return resolved
