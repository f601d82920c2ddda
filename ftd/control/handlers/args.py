"""Reading a request's arguments: each wrong one is refused by name, with what was expected."""

from __future__ import annotations

from typing import Any

from ftd.control.protocol import INVALID_ARGUMENT
from ftd.control.server import CommandError


def _bad(name: str, expected: str, value: object) -> CommandError:
    return CommandError(INVALID_ARGUMENT, f"argument {name!r} must be {expected}, not {value!r}")


def text(args: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = args.get(name)
    if value is None:
        if required:
            raise CommandError(INVALID_ARGUMENT, f"argument {name!r} is required")
        return None
    if not isinstance(value, str) or not value.strip():
        raise _bad(name, "a non-empty string", value)
    return value.strip()


def required_text(args: dict[str, Any], name: str) -> str:
    value = text(args, name)
    assert value is not None
    return value


def texts(args: dict[str, Any], name: str) -> list[str] | None:
    value = args.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise _bad(name, "a string or a list of strings", value)
    return list(value)


def number(
    args: dict[str, Any], name: str, default: float | None, *, low: float, high: float
) -> float | None:
    value = args.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise _bad(name, f"a number from {low:g} to {high:g}", value)
    return float(value)


def integer(args: dict[str, Any], name: str, default: int, *, low: int, high: int) -> int:
    value = args.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _bad(name, f"an integer from {low} to {high}", value)
    return value


def flag(args: dict[str, Any], name: str) -> bool:
    value = args.get(name, False)
    if not isinstance(value, bool):
        raise _bad(name, "true or false", value)
    return value
