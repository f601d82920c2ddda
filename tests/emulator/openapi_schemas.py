"""The official OpenAPI document, turned into JSON Schemas that ``jsonschema`` can check.

The spec mixes OpenAPI 3.0 idioms (``nullable: true``, boolean
``exclusiveMinimum``) into a 3.1 document; both are rewritten into plain JSON
Schema 2020-12. References stay ``#/components/schemas/…`` and resolve
against the converted document itself.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import jsonschema
import yaml


def _spec_path() -> Path:
    """The shared spec beside the checkout, whichever folder depth the checkout is at."""
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "openai-openapi" / "openapi.yaml"
        if candidate.is_file():
            return candidate
    return Path("/work/shared/openai-openapi/openapi.yaml")


SPEC_PATH = _spec_path()


def _convert(node: Any) -> Any:
    if isinstance(node, list):
        return [_convert(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _convert(value) for key, value in node.items() if key != "nullable"}
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if out.get(bound) is True:
            out[bound] = out.pop(limit)
        elif out.get(bound) is False:
            del out[bound]
    if node.get("nullable") is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        elif isinstance(kind, list):
            out["type"] = [*kind, "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


class OpenApiSchemas:
    def __init__(self, document: dict[str, Any]) -> None:
        self.paths: dict[str, Any] = document["paths"]
        self.root: dict[str, Any] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": {"schemas": _convert(document["components"]["schemas"])},
        }

    def response_schema(self, method: str, path: str, status: str = "200") -> dict[str, Any]:
        """The JSON schema the spec declares for one route's answer."""
        responses = self.paths[path][method.lower()]["responses"]
        schema: dict[str, Any] = responses[status]["content"]["application/json"]["schema"]
        return _convert(schema)  # type: ignore[no-any-return]

    def component(self, name: str) -> dict[str, Any]:
        schema: dict[str, Any] = self.root["components"]["schemas"][name]
        return schema

    def validator(self, schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
        return jsonschema.Draft202012Validator({**self.root, **schema})

    def errors(self, schema: dict[str, Any], instance: object) -> list[str]:
        found = sorted(self.validator(schema).iter_errors(instance), key=lambda e: list(e.path))
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}" for e in found
        ]


@functools.cache
def load() -> OpenApiSchemas:
    with SPEC_PATH.open("rb") as handle:
        document = yaml.load(handle, Loader=yaml.CSafeLoader)  # the C loader: 2 s, not 20
    return OpenApiSchemas(document)


def admit_real_service_extensions(schemas: OpenApiSchemas) -> None:
    """Where the live service goes beyond the spec: ``paused`` jobs, ``error: {}``, and
    ``hyperparameters: null`` at the top level of DPO jobs (korean_2024_12 in
    openai-real-answers.json: failed DPO jobs of 2024-12 print ``hyperparameters=None``)."""
    job = schemas.component("FineTuningJob")
    status = job["properties"]["status"]
    if "paused" not in status["enum"]:
        status["enum"] = [*status["enum"], "paused"]
    error = job["properties"]["error"]
    empty = {"type": "object", "maxProperties": 0}
    if empty not in error["anyOf"]:
        error["anyOf"] = [*error["anyOf"], empty]
    hyperparameters = job["properties"]["hyperparameters"]
    if hyperparameters.get("type") == "object":
        job["properties"]["hyperparameters"] = {"anyOf": [hyperparameters, {"type": "null"}]}
