"""Build a JSON value that validates against a JSON Schema, steered by suggestions.

Structured outputs must validate, whatever schema a caller sends: objects
with required keys, enums, bounded numbers, arrays, nested ``$ref``s, nullable
unions. The caller supplies a ``suggest(name, schema)`` callback (the judge's
score for a ``score`` field, the reply text for an ``answer`` field); a
suggestion is used only when it fits the schema, otherwise a valid value is
synthesised, so the result validates either way.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

Suggest = Callable[[str | None, Mapping[str, Any]], object]
_MAX_DEPTH = 16
_FORMATS = {
    "date-time": "2025-01-01T00:00:00Z",
    "date": "2025-01-01",
    "time": "00:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "hostname": "example.com",
    "ipv4": "127.0.0.1",
}


def _resolve(schema: Mapping[str, Any], root: Mapping[str, Any]) -> Mapping[str, Any]:
    seen = 0
    while isinstance(schema.get("$ref"), str) and seen < _MAX_DEPTH:
        target: Any = root
        for part in schema["$ref"].lstrip("#").strip("/").split("/"):
            if part:
                target = target[part.replace("~1", "/").replace("~0", "~")]
        siblings = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**target, **siblings}
        seen += 1
    return schema


def _merge_all_of(schema: Mapping[str, Any], root: Mapping[str, Any]) -> dict[str, Any]:
    merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
    for part in schema["allOf"]:
        part = _resolve(part, root)
        for key, value in part.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = sorted(set(merged.get("required", [])) | set(value))
            else:
                merged.setdefault(key, value)
    return merged


def _types(schema: Mapping[str, Any]) -> list[str]:
    kind = schema.get("type")
    if isinstance(kind, list):
        return [str(k) for k in kind]
    if isinstance(kind, str):
        return [kind]
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return ["object"]
    if "items" in schema or "prefixItems" in schema:
        return ["array"]
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
        return ["number"]
    return ["string"]


def _number(schema: Mapping[str, Any], suggestion: object, integer: bool) -> int | float:
    low = schema.get("minimum")
    high = schema.get("maximum")
    ex_low = schema.get("exclusiveMinimum")
    ex_high = schema.get("exclusiveMaximum")
    step = 1 if integer else 1e-6
    if isinstance(ex_low, int | float) and not isinstance(ex_low, bool):
        low = ex_low + step if low is None else max(low, ex_low + step)
    if isinstance(ex_high, int | float) and not isinstance(ex_high, bool):
        high = ex_high - step if high is None else min(high, ex_high - step)
    value: float
    if isinstance(suggestion, int | float) and not isinstance(suggestion, bool):
        value = float(suggestion)
    else:
        value = (
            float(low) if low is not None else (min(0.0, float(high)) if high is not None else 0.0)
        )
    if low is not None:
        value = max(value, float(low))
    if high is not None:
        value = min(value, float(high))
    multiple = schema.get("multipleOf")
    if isinstance(multiple, int | float) and multiple > 0:
        value = math.ceil(value / multiple) * multiple
        if high is not None and value > high:
            value -= multiple
    if integer:
        rounded = round(value)
        if low is not None and rounded < low:
            rounded = math.ceil(low)
        if high is not None and rounded > high:
            rounded = math.floor(high)
        return int(rounded)
    return value


def _string(schema: Mapping[str, Any], suggestion: object, name: str | None) -> str:
    fmt = schema.get("format")
    if isinstance(fmt, str) and fmt in _FORMATS:
        return _FORMATS[fmt]
    text = suggestion if isinstance(suggestion, str) else (name or "value")
    low = int(schema.get("minLength", 0))
    high = schema.get("maxLength")
    if len(text) < low:
        text = text + "x" * (low - len(text))
    if isinstance(high, int) and len(text) > high:
        text = text[:high]
    pattern = schema.get("pattern")
    if isinstance(pattern, str) and not _matches(pattern, text):
        for candidate in ("a", "A", "0", "a0", "value", "A1", ""):
            if _matches(pattern, candidate):
                return candidate
    return text


def _matches(pattern: str, text: str) -> bool:
    try:
        return re.search(pattern, text) is not None
    except re.error:
        return True


def _enum_choice(options: list[Any], suggestion: object) -> Any:
    if suggestion in options:
        return suggestion
    if isinstance(suggestion, int | float) and not isinstance(suggestion, bool):
        numeric = [o for o in options if isinstance(o, int | float) and not isinstance(o, bool)]
        if numeric:
            return min(numeric, key=lambda o: abs(o - suggestion))
    if isinstance(suggestion, str):
        wanted = suggestion.lower()
        for option in options:
            if isinstance(option, str) and option.lower() == wanted:
                return option
    return options[0]


def build_instance(
    schema: Mapping[str, Any],
    suggest: Suggest,
    *,
    root: Mapping[str, Any] | None = None,
    name: str | None = None,
    depth: int = 0,
) -> Any:
    """A value valid against ``schema``; ``suggest`` proposes values by property name."""
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if depth > _MAX_DEPTH:
        return None
    if "allOf" in schema:
        schema = _merge_all_of(schema, root)
    if "const" in schema:
        return schema["const"]
    suggestion = suggest(name, schema)
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return _enum_choice(schema["enum"], suggestion)
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list) and options:
            resolved = [_resolve(o, root) for o in options]
            chosen = next((o for o in resolved if "null" not in _types(o)), resolved[0])
            siblings = {k: v for k, v in schema.items() if k != key}
            return build_instance(
                {**siblings, **chosen}, suggest, root=root, name=name, depth=depth + 1
            )
    kinds = _types(schema)
    kind = next((k for k in kinds if k != "null"), "null")
    if kind == "object":
        properties = schema.get("properties") or {}
        result: dict[str, Any] = {}
        for key, sub in properties.items():
            result[key] = build_instance(sub, suggest, root=root, name=key, depth=depth + 1)
        for key in schema.get("required") or []:
            result.setdefault(key, "")
        return result
    if kind == "array":
        return _array(schema, suggest, root, name, depth)
    if kind in ("integer", "number"):
        return _number(schema, suggestion, integer=kind == "integer")
    if kind == "boolean":
        return suggestion if isinstance(suggestion, bool) else True
    if kind == "null":
        return None
    return _string(schema, suggestion, name)


def _array(
    schema: Mapping[str, Any],
    suggest: Suggest,
    root: Mapping[str, Any],
    name: str | None,
    depth: int,
) -> list[Any]:
    prefix = schema.get("prefixItems")
    if isinstance(prefix, list):
        return [
            build_instance(item, suggest, root=root, name=name, depth=depth + 1) for item in prefix
        ]
    raw_items = schema.get("items")
    items: Mapping[str, Any] = raw_items if isinstance(raw_items, dict) else {}
    low = int(schema.get("minItems", 1))
    high = schema.get("maxItems")
    count = max(low, 1) if not isinstance(high, int) else min(max(low, 1), high)
    values = []
    for index in range(count):
        value = build_instance(items, suggest, root=root, name=name, depth=depth + 1)
        if schema.get("uniqueItems") and value in values:
            value = f"{value} {index + 1}" if isinstance(value, str) else value
        values.append(value)
    return values
