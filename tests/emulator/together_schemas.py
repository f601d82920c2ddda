"""Together's OpenAPI document turned into JSON Schemas that ``jsonschema`` can check.

Converted like the OpenAI document (``nullable``) by
:mod:`tests.emulator.openapi_schemas`. Relaxation, one, named here:

- ``LRScheduler/lr_scheduler_args`` is ``oneOf`` Linear/Cosine args, but
  ``LinearLRSchedulerArgs`` requires nothing and forbids nothing, so every
  valid cosine argument object (``min_lr_ratio`` and ``num_cycles``) matches
  both and ``oneOf`` can never pass for a cosine schedule. It is checked as
  ``anyOf``.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import yaml

from tests.emulator.openapi_schemas import OpenApiSchemas


def _spec_path() -> Path:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "together-openapi" / "openapi.yaml"
        if candidate.is_file():
            return candidate
    return Path("/work/shared/together-openapi/openapi.yaml")


SPEC_PATH = _spec_path()


def available() -> bool:
    return SPEC_PATH.is_file()


@functools.cache
def load() -> OpenApiSchemas:
    with SPEC_PATH.open("rb") as handle:
        document: dict[str, Any] = yaml.load(handle, Loader=yaml.CSafeLoader)
    args = document["components"]["schemas"]["LRScheduler"]["properties"]["lr_scheduler_args"]
    args["anyOf"] = args.pop("oneOf")
    return OpenApiSchemas(document)


def errors(method: str, path: str, instance: object, status: str = "200") -> list[str]:
    schemas = load()
    return schemas.errors(schemas.response_schema(method, path, status), instance)
