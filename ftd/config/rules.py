"""Constants, value rules and the base of every section: what each key may hold."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
)

ENV_PREFIX = "FTD_"
CONFIG_ENV = "FTD_CONFIG"
CONFIG_FILE_NAME = "config.toml"
DEFAULT_CREDENTIAL = "openai_api_key"
# OpenAI allows 16 metadata pairs per job; ftd tags its jobs with its own keys
# (dataset hash, run id) and keeps this prefix for them.
MAX_USER_METADATA = 14
RESERVED_METADATA_PREFIX = "ftd_"
MAX_SEED = 2_147_483_647
# Files API: 512 MB per request; the Uploads API takes up to 8 GB in parts.
DEFAULT_MAX_FILE_BYTES = 8_000_000_000
_SECRET_NAMES = frozenset({"api_key", "apikey", "key", "secret", "token", "password"})

Kind = Literal["openai", "azure", "compatible", "together"]
Method = Literal["supervised", "dpo", "reinforcement"]
Auto = Literal["auto"]


class _KeyedError(ValueError):
    """A cross-field rule broken at a sub-key the validator knows and pydantic's loc does not."""

    def __init__(self, key: tuple[str, ...], message: str) -> None:
        super().__init__(message)
        self.key = key


# ----------------------------------------------------------------------------- value rules


def _auto_or_number(
    value: object, *, integer: bool, low: float, high: float | None, low_open: bool
) -> object:
    """One readable message for "auto or a number in range", not one per union branch."""
    kind = "an integer" if integer else "a number"
    if high is None:
        bounds = f"above {low:g}" if low_open else f"of at least {low:g}"
    else:
        bounds = f"above {low:g} and at most {high:g}" if low_open else f"from {low:g} to {high:g}"
    allowed = f'"auto" or {kind} {bounds}'
    if value == "auto":
        return value
    number: float
    if isinstance(value, bool):
        raise ValueError(f"must be {allowed}")
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str):
        try:
            number = int(value) if integer else float(value)
        except ValueError:
            raise ValueError(f"must be {allowed}") from None
    else:
        raise ValueError(f"must be {allowed}")
    too_low = number <= low if low_open else number < low
    too_high = high is not None and number > high
    fractional = integer and not float(number).is_integer()
    if not math.isfinite(number) or too_low or too_high or fractional:
        raise ValueError(f"must be {allowed}, got {number:g}")
    return int(number) if integer else float(number)


def _epochs(value: object) -> object:
    return _auto_or_number(value, integer=True, low=1, high=50, low_open=False)


def _batch(value: object) -> object:
    return _auto_or_number(value, integer=True, low=1, high=256, low_open=False)


def _lr(value: object) -> object:
    return _auto_or_number(value, integer=False, low=0, high=None, low_open=True)


def _beta(value: object) -> object:
    return _auto_or_number(value, integer=False, low=0, high=2, low_open=True)


def _absolute(path: Path) -> Path:
    expanded = path.expanduser()
    if not expanded.is_absolute():
        raise ValueError("must be an absolute path (ftd runs with / as its working directory)")
    return expanded


def _url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// URL with a host")
    if parts.username or parts.password:
        raise ValueError("must not carry credentials; the API key has its own settings")
    if parts.query or parts.fragment:
        raise ValueError("must not have a query string or fragment")
    return value


def _suffix_chars(value: str) -> str:
    # The suffix becomes one colon-separated field of ft:BASE:ORG:SUFFIX:ID.
    if not re.fullmatch(r"[A-Za-z0-9._-]+", value):
        raise ValueError("may contain only letters, digits, '.', '_' and '-'")
    return value


def _metadata(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_USER_METADATA:
        raise ValueError(
            f"at most {MAX_USER_METADATA} pairs (OpenAI allows 16; ftd adds its own), "
            f"got {len(value)}"
        )
    for key in value:
        if key.startswith(RESERVED_METADATA_PREFIX):
            raise ValueError(f"key {key!r}: the prefix {RESERVED_METADATA_PREFIX!r} is ftd's own")
    return value


def _sidecar_path(path: Path) -> Path:
    # A sidecar comes from whoever may drop files; it must not point ftd (which
    # uploads what it is given) at files outside the drop folder.
    if path.is_absolute() or ".." in path.parts or path == Path():
        raise ValueError("must be a file name relative to the sidecar, without '..'")
    if path.suffix != ".jsonl":
        raise ValueError("must name a .jsonl file")
    return path


AbsolutePath = Annotated[Path, AfterValidator(_absolute)]
Url = Annotated[str, AfterValidator(_url)]
ModelName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=256, pattern=r"^\S+$")
]
Suffix = Annotated[
    str, StringConstraints(min_length=1, max_length=64), AfterValidator(_suffix_chars)
]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
Fraction = Annotated[float, Field(ge=0, le=0.5)]
Usd = Annotated[float, Field(ge=0, allow_inf_nan=False)]
Metadata = Annotated[
    dict[
        Annotated[str, StringConstraints(min_length=1, max_length=64)],
        Annotated[str, StringConstraints(max_length=512)],
    ],
    AfterValidator(_metadata),
]
SidecarFile = Annotated[Path, AfterValidator(_sidecar_path)]
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
CredentialName = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", max_length=255)
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)
