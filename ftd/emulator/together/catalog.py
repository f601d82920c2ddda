"""The emulator's Together catalogue: which bases train, their limits, prices and hardware.

The model names are ones Together lists for fine-tuning (``-Reference`` names
as in the spec's own examples). Limits follow ``FineTuneModelLimits``; the
per-token training prices and the hardware's ``cents_per_minute`` are the
emulator's own round figures in the shape of Together's published pricing
(per million trained tokens, higher for larger models, full above LoRA, DPO
above SFT), not a copy of a price list: ftd must take the figure the service
answers, whatever it is.

``serverless_lora``: a LoRA fine-tune of this base answers chat at once under
its output name; a full fine-tune, or a LoRA one of a base without it, needs
a dedicated endpoint (``POST /endpoints``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class TogetherBase:
    name: str
    max_rank: int
    max_batch_size: int
    max_batch_size_dpo: int
    min_batch_size: int
    full_training: bool
    serverless_lora: bool
    lora_price_per_m: float  # dollars per million trained tokens, SFT LoRA
    full_price_per_m: float
    context_length: int = 8192


MAX_EPOCHS = 20
MAX_EVALS = 100
MIN_LEARNING_RATE = 1e-8
MAX_LEARNING_RATE = 1e-2
DPO_PRICE_FACTOR = 2.5
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")

BASES: dict[str, TogetherBase] = {
    base.name: base
    for base in (
        TogetherBase(
            "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference", 64, 32, 16, 8, True, True, 0.48, 0.54
        ),
        TogetherBase(
            "meta-llama/Meta-Llama-3.1-70B-Instruct-Reference", 64, 16, 8, 8, True, False, 2.9, 3.2
        ),
        TogetherBase("Qwen/Qwen2.5-7B-Instruct", 64, 32, 16, 8, True, True, 0.48, 0.54),
        TogetherBase("Qwen/Qwen2.5-72B-Instruct", 64, 16, 8, 8, False, False, 2.9, 3.2),
    )
}

# Hardware a dedicated endpoint may run on: id -> (cents per minute, GPU type, memory GB, count).
HARDWARE: dict[str, tuple[float, str, float, int]] = {
    "1x_nvidia_h100_80gb_sxm": (5.0, "h100-80gb", 80, 1),
    "2x_nvidia_h100_80gb_sxm": (10.0, "h100-80gb", 80, 2),
    "1x_nvidia_a100_80gb_sxm": (4.0, "a100-80gb", 80, 1),
}


def price_per_m(base: TogetherBase, full: bool, dpo: bool) -> float:
    price = base.full_price_per_m if full else base.lora_price_per_m
    return price * (DPO_PRICE_FACTOR if dpo else 1.0)
