"""A run's Together choices ([defaults.together] or a sidecar's [together]).

Together trains LoRA adapters (the default) or full weights, and takes
absolute hyperparameters; these reach its ``POST /fine-tunes`` as they are
named there (Together's OpenAPI document). A profile of another kind ignores
the table.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ftd.config.rules import _KeyedError, _Section

LoraModule = Literal[
    "all-linear", "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"
]


class TogetherRun(_Section):
    training_type: Literal["lora", "full"] | None = None
    lora_r: int | None = Field(default=None, ge=1, le=1024)
    lora_alpha: int | None = Field(default=None, ge=1, le=4096)
    lora_dropout: float | None = Field(default=None, ge=0, le=1)
    lora_trainable_modules: list[LoraModule] | None = None
    n_checkpoints: int | None = Field(default=None, ge=1, le=100)
    n_evals: int | None = Field(default=None, ge=0, le=100)
    learning_rate: float | None = Field(default=None, gt=0, le=0.1)
    lr_scheduler: Literal["linear", "cosine"] | None = None
    warmup_ratio: float | None = Field(default=None, ge=0, le=1)
    train_on_inputs: bool | Literal["auto"] | None = None
    # Weights & Biases, used only where the profile has a W&B key (by credential).
    wandb_project_name: str | None = Field(default=None, min_length=1, max_length=128)
    wandb_name: str | None = Field(default=None, min_length=1, max_length=128)

    @model_validator(mode="before")
    @classmethod
    def _no_wandb_key_here(cls, value: object) -> object:
        if isinstance(value, dict) and "wandb_api_key" in value:
            raise _KeyedError(
                ("wandb_api_key",),
                "a W&B key is never written in a configuration or sidecar: give it to "
                "the Together profile by environment variable (wandb_api_key_env) or "
                "systemd credential",
            )
        return value

    def updated(self, other: TogetherRun | None) -> TogetherRun:
        if other is None:
            return self
        return TogetherRun.model_validate(
            {**self.model_dump(exclude_none=True), **other.model_dump(exclude_none=True)}
        )

    def request(self) -> dict[str, Any]:
        """The choices as the adapter reads them from ``JobRequest.extra["together"]``."""
        chosen: dict[str, Any] = {}
        for name in (
            "n_checkpoints",
            "n_evals",
            "learning_rate",
            "warmup_ratio",
            "wandb_project_name",
            "wandb_name",
        ):
            value = getattr(self, name)
            if value is not None:
                chosen[name] = value
        if self.lr_scheduler is not None:
            chosen["lr_scheduler"] = {"lr_scheduler_type": self.lr_scheduler}
        if self.train_on_inputs is not None:
            chosen["train_on_inputs"] = self.train_on_inputs
        if self.training_type == "full":
            chosen["training_type"] = "full"
        elif self.lora_r is not None or self.training_type == "lora":
            lora: dict[str, Any] = {}
            if self.lora_r is not None:
                lora["lora_r"] = self.lora_r
                lora["lora_alpha"] = self.lora_alpha or 2 * self.lora_r
            if self.lora_dropout is not None:
                lora["lora_dropout"] = self.lora_dropout
            if self.lora_trainable_modules:
                lora["lora_trainable_modules"] = ",".join(self.lora_trainable_modules)
            if lora:
                chosen["lora"] = lora
        return chosen
