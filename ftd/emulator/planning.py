"""How long each phase of a job lasts, decided once when the job is created.

Durations are realistic in shape and compressed in scale: at speed 1 a
20-example job (5 epochs of 20 steps) finishes in about 6 seconds; ``speed``
divides every duration, so tests run the same life in milliseconds.
"""

from __future__ import annotations

from typing import Any

from ftd.emulator.records import Plan

VALIDATE_S = 1.0
VALIDATE_S_PER_MB = 0.05
QUEUE_S = 1.0
STEP_S = 0.03
FINALIZE_S = 1.0
VALIDATION_EVERY = 10  # steps between validation metrics, when there is a file (as real jobs)


def make_plan(
    *,
    resolved: dict[str, Any],
    n_examples: int,
    n_validation_examples: int,
    epoch_tokens: int,
    training_bytes: int,
    has_validation: bool,
    speed: float,
) -> Plan:
    examples = max(1, n_examples)
    validate = VALIDATE_S + VALIDATE_S_PER_MB * training_bytes / 1e6
    return Plan(
        n_examples=examples,
        n_validation_examples=n_validation_examples,
        epoch_tokens=epoch_tokens,
        n_epochs=resolved["n_epochs"],
        batch_size=resolved["batch_size"],
        validate_s=validate / speed,
        queue_s=QUEUE_S / speed,
        step_s=STEP_S / speed,
        finalize_s=FINALIZE_S / speed,
        valid_interval=VALIDATION_EVERY if has_validation else 0,
    )
