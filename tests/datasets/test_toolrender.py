"""The TypeScript-like rendering of function definitions that tools are billed by."""

from __future__ import annotations

from typing import Any

from ftd.datasets.toolrender import render_functions


def _fn(name: str, parameters: Any = None, description: str | None = None) -> dict[str, Any]:
    fn: dict[str, Any] = {"name": name}
    if description is not None:
        fn["description"] = description
    if parameters is not None:
        fn["parameters"] = parameters
    return {"type": "function", "function": fn}


def test_functions_render_as_a_namespace_of_types() -> None:
    tools = [
        _fn(
            "land_drone",
            {
                "type": "object",
                "properties": {
                    "location": {"type": "string", "enum": ["current", "home_base"]},
                    "coordinates": {"type": "object"},
                    "tags": {"type": "array", "items": {"type": "integer"}},
                    "fast": {"type": "boolean", "description": "Hurry.\nReally."},
                },
                "required": ["location"],
            },
            description="Land the drone.",
        ),
        _fn("reject_request", {"type": "object", "properties": {}}),
        {
            "name": "legacy",
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        },
    ]
    assert render_functions(tools) == (
        "# Tools\n\n## functions\n\nnamespace functions {\n\n"
        "// Land the drone.\n"
        "type land_drone = (_: {\n"
        'location: "current" | "home_base",\n'
        "coordinates?: object,\n"
        "tags?: number[],\n"
        "// Hurry.\n// Really.\n"
        "fast?: boolean,\n"
        "}) => any;\n\n"
        "type reject_request = () => any;\n\n"
        "type legacy = (_: {\nq?: string,\n}) => any;\n\n"
        "} // namespace functions"
    )


def test_nested_objects_indent_and_odd_schemas_do_not_break_it() -> None:
    nested = {
        "type": "object",
        "properties": {"point": {"type": "object", "properties": {"x": {"type": "number"}}}},
        "required": [{"not": "a name"}, "point"],
    }
    text = render_functions([_fn("f", nested)])
    assert "point: {\n    x?: number,\n    }," in text
    assert render_functions([]) == ""
    assert render_functions("tools") == ""
    assert render_functions([1, None, {"function": "x"}]) == ""
    deep: dict[str, Any] = {"type": "object", "properties": {}}
    cursor = deep
    for _ in range(100):
        inner: dict[str, Any] = {"type": "object", "properties": {}}
        cursor["properties"]["a"] = inner
        cursor = inner
    cursor["properties"]["leaf"] = {"type": ["string", "null"]}
    assert "any" in render_functions([_fn("deep", deep)])
