"""Training curves that look like real ones: falling loss, rising accuracy, seeded noise.

Values are a pure function of (seed, step), so a job's events, checkpoints
and result file agree with each other and with every later request, across
restarts, without storing a number.
"""

from __future__ import annotations

import functools
import hashlib
import math
from typing import TYPE_CHECKING

from ftd import catalog

if TYPE_CHECKING:
    from ftd.emulator.records import Plan

# OpenAI's result-file header (cookbook, 2024-06: "step,train_loss,train_accuracy,
# valid_loss,valid_mean_token_accuracy"), and Azure OpenAI's longer one.
OPENAI_RESULT_COLUMNS = (
    "step",
    "train_loss",
    "train_accuracy",
    "valid_loss",
    "valid_mean_token_accuracy",
)
AZURE_RESULT_COLUMNS = (
    "step",
    "train_loss",
    "train_mean_token_accuracy",
    "train_error_rate",
    "valid_loss",
    "valid_mean_token_accuracy",
    "valid_error_rate",
    "full_valid_loss",
    "full_valid_mean_token_accuracy",
    "full_valid_error_rate",
    "timestamp",
)
# Result-file columns whose figure the metrics event names differently.
_COLUMN_SOURCES = {"train_accuracy": "train_mean_token_accuracy"}
_ERROR_RATES = {
    "train_error_rate": "train_mean_token_accuracy",
    "valid_error_rate": "valid_mean_token_accuracy",
    "full_valid_error_rate": "full_valid_mean_token_accuracy",
}


def _unit(seed: int, step: int, salt: str) -> float:
    """A deterministic pseudo-random number in [0, 1)."""
    digest = hashlib.blake2b(f"{seed}:{step}:{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


@functools.lru_cache(maxsize=4096)
def _curve(seed: int) -> tuple[float, float]:
    """Where a job's loss starts and the floor it falls towards: the same for every step,
    so remembered rather than hashed again for each of a page's hundred events."""
    return 1.6 + 0.8 * _unit(seed, 0, "start"), 0.08 + 0.25 * _unit(seed, 0, "floor")


def _loss(seed: int, step: int, total: int, salt: str, noise: float) -> float:
    progress = step / max(1, total)
    start, floor = _curve(seed)
    smooth = floor + (start - floor) * math.exp(-4.0 * progress)
    return max(0.001, smooth * (1 + noise * (2 * _unit(seed, step, salt) - 1)))


def _accuracy(loss: float, seed: int, step: int, salt: str) -> float:
    value = 1.0 - 0.42 * loss + 0.03 * (2 * _unit(seed, step, salt + "acc") - 1)
    return min(1.0, max(0.0, value))


def is_epoch_end(plan: Plan, step: int) -> bool:
    return step % plan.steps_per_epoch == 0 or step == plan.total_steps


def step_metrics(plan: Plan, method: str, seed: int, step: int) -> dict[str, float | int]:
    """The ``data`` of the metrics event for one step."""
    total = plan.total_steps
    data: dict[str, float | int] = {"step": step}
    if method == catalog.REINFORCEMENT:
        reward = min(1.0, 0.2 + 0.6 * step / total + 0.05 * (2 * _unit(seed, step, "r") - 1))
        data["train_mean_reward"] = round(max(0.0, reward), 4)
        if plan.valid_interval and (step % plan.valid_interval == 0 or step == total):
            data["full_valid_mean_reward"] = round(max(0.0, reward - 0.03), 4)
        data["total_steps"] = total
        return data
    train = _loss(seed, step, total, "train", 0.18)
    data["train_loss"] = round(train, 5)
    data["train_mean_token_accuracy"] = round(_accuracy(train, seed, step, "train"), 5)
    if plan.valid_interval and (step % plan.valid_interval == 0 or step == total):
        valid = _loss(seed, step, total, "valid", 0.12) * 1.08
        data["valid_loss"] = round(valid, 5)
        data["valid_mean_token_accuracy"] = round(_accuracy(valid, seed, step, "valid"), 5)
    if plan.valid_interval and is_epoch_end(plan, step):
        full = _loss(seed, step, total, "full", 0.03) * 1.1
        data["full_valid_loss"] = round(full, 5)
        data["full_valid_mean_token_accuracy"] = round(_accuracy(full, seed, step, "full"), 5)
    data["total_steps"] = total
    return data


def step_message(data: dict[str, float | int]) -> str:
    text = f"Step {data['step']}/{data['total_steps']}: "
    if "train_mean_reward" in data:
        text += f"training reward={data['train_mean_reward']:.4f}"
        if "full_valid_mean_reward" in data:
            text += f", validation reward={data['full_valid_mean_reward']:.4f}"
        return text
    # Messages round to 2 decimals, as real ones do; ``data`` keeps full precision.
    text += f"training loss={data['train_loss']:.2f}"
    if "valid_loss" in data:
        text += f", validation loss={data['valid_loss']:.2f}"
    if "full_valid_loss" in data:
        text += f", full validation loss={data['full_valid_loss']:.2f}"
    return text


def checkpoint_metrics(plan: Plan, method: str, seed: int, step: int) -> dict[str, float | int]:
    """A checkpoint's metrics: ``step`` an integer, as real ones, the figures floats."""
    data = step_metrics(plan, method, seed, step)
    figures: dict[str, float | int] = {"step": step}
    figures.update({k: float(v) for k, v in data.items() if k not in ("step", "total_steps")})
    return figures


def result_csv(
    plan: Plan,
    method: str,
    seed: int,
    last_step: int,
    columns: tuple[str, ...] = OPENAI_RESULT_COLUMNS,
) -> bytes:
    """The result file: one row per step, empty cells where a step had no such figure.

    Figures are written in their shortest form (``0.5``, ``6e-05``), as OpenAI's
    are; ``columns`` picks the header (OpenAI's by default, Azure's on request).
    """
    lines = [",".join(columns)]
    for step in range(1, last_step + 1):
        data = step_metrics(plan, method, seed, step)
        if "train_loss" not in data:
            data["train_loss"] = round(1.0 - float(data["train_mean_reward"]), 5)
            data["train_mean_token_accuracy"] = data["train_mean_reward"]
        cells = [str(step)]
        for column in columns[1:]:
            value: float | int | None
            if column in _ERROR_RATES:
                accuracy = data.get(_ERROR_RATES[column])
                value = None if accuracy is None else round(1.0 - float(accuracy), 5)
            else:
                value = data.get(_COLUMN_SOURCES.get(column, column))
            cells.append("" if value is None else repr(float(value)))
        lines.append(",".join(cells))
    return ("\n".join(lines) + "\n").encode()
