"""Azure's three spec files turned into JSON Schemas that ``jsonschema`` can check.

- v1 data plane: OpenAPI 3.0 JSON, converted like the OpenAI document
  (``nullable``) by :mod:`tests.emulator.openapi_schemas`.
- Authoring (api-version) data plane and ARM: Swagger 2.0, whose schemas live
  under ``definitions`` and whose answers are ``responses[status].schema``;
  ``x-nullable: true`` becomes a null alternative.

Relaxation: ARM's ``$ref``s into ``../../../../../common-types/…`` point at
files that were not copied (README.md of the spec copy). They are rewritten to
the minimal stand-ins in ``COMMON_TYPES`` below, written from the ARM resource
conventions (id, name, type; ``{"error": {"code", "message", …}}``). The ARM
asynchronous-operation status answer has no schema in any file we hold; its
stand-in is ``AsyncOperationStatus``.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import jsonschema

from tests.emulator.openapi_schemas import OpenApiSchemas


def _spec_root() -> Path:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "azure-openapi" / "specification"
        if candidate.is_dir():
            return candidate
    return Path("/work/shared/azure-openapi/specification")


ROOT = _spec_root()
V1_PATH = ROOT / "ai" / "data-plane" / "OpenAI.v1" / "azure-v1-v1-generated.json"
AUTHORING_PATH = (
    ROOT
    / "cognitiveservices/data-plane/AzureOpenAI/authoring/preview/2025-04-01-preview"
    / "azureopenai.json"
)
ARM_PATH = (
    ROOT
    / "cognitiveservices/resource-manager/Microsoft.CognitiveServices/stable/2024-10-01"
    / "cognitiveservices.json"
)
_COMMON = "../../../../../common-types/resource-management/v2/"
_ERROR_DETAIL = {
    "type": "object",
    "properties": {
        "code": {"type": "string"},
        "message": {"type": "string"},
        "target": {"type": "string"},
        "details": {"type": "array", "items": {"$ref": "#/definitions/common.ErrorDetail"}},
        "additionalInfo": {"type": "array", "items": {"type": "object"}},
    },
}
_RESOURCE = {
    "type": "object",
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "type": {"type": "string"},
    },
}
COMMON_TYPES: dict[str, Any] = {
    "common.Resource": _RESOURCE,
    "common.ProxyResource": _RESOURCE,
    "common.AzureEntityResource": {
        "allOf": [_RESOURCE, {"properties": {"etag": {"type": "string"}}}]
    },
    "common.systemData": {
        "type": "object",
        "properties": {
            key: {"type": "string"}
            for key in (
                "createdBy",
                "createdByType",
                "createdAt",
                "lastModifiedBy",
                "lastModifiedByType",
                "lastModifiedAt",
            )
        },
    },
    "common.ErrorDetail": _ERROR_DETAIL,
    "common.ErrorResponse": {
        "type": "object",
        "properties": {"error": {"$ref": "#/definitions/common.ErrorDetail"}},
    },
    "common.OperationListResult": {"type": "object"},
    "common.PrivateEndpoint": {"type": "object"},
    "common.PrivateEndpointConnectionProvisioningState": {"type": "string"},
    "common.PrivateLinkServiceConnectionState": {"type": "object"},
    "common.AsyncOperationStatus": {
        "type": "object",
        "required": ["id", "name", "status", "startTime"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "status": {"enum": ["InProgress", "Succeeded", "Failed", "Canceled"]},
            "startTime": {"type": "string", "format": "date-time"},
            "endTime": {"type": "string", "format": "date-time"},
            "error": {"$ref": "#/definitions/common.ErrorDetail"},
        },
        "additionalProperties": False,
    },
}


def _swagger(node: Any) -> Any:
    """Swagger 2.0 schema idioms into JSON Schema 2020-12; external refs to stand-ins."""
    if isinstance(node, list):
        return [_swagger(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _swagger(value) for key, value in node.items() if key != "x-nullable"}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith(_COMMON):
        out["$ref"] = "#/definitions/common." + ref.rsplit("/", 1)[-1]
    if node.get("x-nullable") is True:
        out = {"anyOf": [out, {"type": "null"}]}
    return out


class SwaggerSchemas:
    def __init__(self, document: dict[str, Any]) -> None:
        self.paths: dict[str, Any] = document["paths"]
        definitions = _swagger(document["definitions"])
        definitions.update(COMMON_TYPES)
        self.root: dict[str, Any] = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "definitions": definitions,
        }

    def response_schema(self, method: str, path: str, status: str = "200") -> dict[str, Any]:
        responses = self.paths[path][method.lower()]["responses"]
        schema: dict[str, Any] = _swagger(responses[status]["schema"])
        return schema

    def definition(self, name: str) -> dict[str, Any]:
        return {"$ref": f"#/definitions/{name}"}

    def errors(self, schema: dict[str, Any], instance: object) -> list[str]:
        validator = jsonschema.Draft202012Validator({**self.root, **schema})
        found = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message[:300]}" for e in found
        ]


def _read(path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        document: dict[str, Any] = json.load(handle)
    return document


def available() -> bool:
    return V1_PATH.exists() and AUTHORING_PATH.exists() and ARM_PATH.exists()


@functools.cache
def v1() -> OpenApiSchemas:
    return OpenApiSchemas(_read(V1_PATH))


@functools.cache
def authoring() -> SwaggerSchemas:
    return SwaggerSchemas(_read(AUTHORING_PATH))


@functools.cache
def arm() -> SwaggerSchemas:
    return SwaggerSchemas(_read(ARM_PATH))
