"""Integrations passed through to a fine-tuning job: Weights & Biases, as OpenAI takes it.

OpenAI's job create takes ``integrations: [{type: "wandb", wandb: {project,
name?, entity?, tags?}}]`` (at most 50 tags of up to 64 characters) and sends
the job's metrics to that W&B project itself. It takes no W&B key in the
request: an organisation admin registers one in OpenAI's dashboard. So no
configuration or sidecar key holds a W&B key; one that tries is refused with
where the key belongs instead, and nothing here is ever logged as a secret.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, model_validator

from ftd.config.rules import _KeyedError, _Section

MAX_TAGS = 50
MAX_TAG_CHARS = 64
MAX_INTEGRATIONS = 5
_KEY_NAMES = ("api_key", "key", "wandb_api_key", "token")

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TAG_CHARS)]


class Wandb(_Section):
    project: Text
    name: Text | None = None
    entity: Text | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=MAX_TAGS)

    @model_validator(mode="before")
    @classmethod
    def _no_key_here(cls, value: object) -> object:
        if isinstance(value, dict):
            for name in _KEY_NAMES:
                if name in value:
                    raise _KeyedError(
                        (name,),
                        "the W&B key does not go in a configuration or sidecar: an OpenAI "
                        "organisation admin registers it in the dashboard "
                        "(Settings > Integrations), and jobs then use it",
                    )
        return value


class Integration(_Section):
    type: Literal["wandb"]
    wandb: Wandb

    def request(self) -> dict[str, Any]:
        """The job-create form: only the keys that are set."""
        return {"type": self.type, "wandb": self.wandb.model_dump(exclude_none=True)}


Integrations = Annotated[list[Integration], Field(max_length=MAX_INTEGRATIONS)]
