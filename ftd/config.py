"""ftd's configuration: one ``Settings`` object from a TOML file, ``FTD_*`` variables and secrets.

Precedence, highest first: overrides passed in code, ``FTD_*`` environment
variables (``__`` separates nesting levels), the TOML file, built-in defaults.
The API key never comes from the TOML file: it is read from the provider's usual
environment variable, a key file or a systemd credential, and is kept outside
the model's fields so that no repr, dump or error message can carry it.
Every failure becomes a ``ConfigError`` naming the dotted key and where its
value came from, because an operator fixing a unit file at 3 a.m. needs both.
"""

from __future__ import annotations

import json
import math
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from ftd import catalog
from ftd.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

__all__ = [
    "AzureProfile",
    "CompatibleProfile",
    "DatasetOverrides",
    "Hyperparameters",
    "IntakeSettings",
    "LogSettings",
    "OpenAIProfile",
    "PathsSettings",
    "Price",
    "ProviderSettings",
    "RunDefaults",
    "RunSettings",
    "Settings",
    "default_paths",
    "find_config_file",
    "load_overrides",
    "load_settings",
]

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

Kind = Literal["openai", "azure", "compatible"]
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


# ----------------------------------------------------------------------------- [paths]


def _first_dir(env: Mapping[str, str], name: str) -> Path | None:
    """systemd's *_DIRECTORY variables: colon-separated absolute paths, first is ours."""
    first = env.get(name, "").split(":")[0]
    return Path(first) if first.startswith("/") else None


def default_paths(env: Mapping[str, str], *, root: bool) -> dict[str, Path]:
    """state_dir and runtime_dir as systemd, root or an ordinary user would expect them."""
    state = _first_dir(env, "STATE_DIRECTORY")
    if state is None:
        if root:
            state = Path("/var/lib/ftd")
        else:
            xdg = env.get("XDG_STATE_HOME", "")
            home = env.get("HOME") or str(Path.home())
            base = Path(xdg) if xdg.startswith("/") else Path(home) / ".local" / "state"
            state = base / "ftd"
    runtime = _first_dir(env, "RUNTIME_DIRECTORY")
    if runtime is None:
        xdg_runtime = env.get("XDG_RUNTIME_DIR", "")
        if root:
            runtime = Path("/run/ftd")
        elif xdg_runtime.startswith("/"):
            runtime = Path(xdg_runtime) / "ftd"
        else:
            runtime = state / "run"
    return {"state_dir": state, "runtime_dir": runtime}


def _is_root() -> bool:
    return os.geteuid() == 0


def _process_default(name: str) -> Path:
    return default_paths(os.environ, root=_is_root())[name]


def _default_drop_dir(data: dict[str, Any]) -> Path:
    state = data.get("state_dir")
    return (state if isinstance(state, Path) else _process_default("state_dir")) / "drop"


class PathsSettings(_Section):
    state_dir: AbsolutePath = Field(default_factory=lambda: _process_default("state_dir"))
    runtime_dir: AbsolutePath = Field(default_factory=lambda: _process_default("runtime_dir"))
    drop_dir: AbsolutePath = Field(default_factory=_default_drop_dir)

    @property
    def incoming_dir(self) -> Path:
        return self.drop_dir / "incoming"

    @property
    def processed_dir(self) -> Path:
        return self.drop_dir / "processed"

    @property
    def rejected_dir(self) -> Path:
        return self.drop_dir / "rejected"


# ----------------------------------------------------------------------------- [intake]


class IntakeSettings(_Section):
    stable_seconds: float = Field(default=5.0, ge=0, allow_inf_nan=False)
    rescan_seconds: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    force_polling: bool = False
    max_file_bytes: int = Field(default=DEFAULT_MAX_FILE_BYTES, gt=0)


# ----------------------------------------------------------------------------- [provider]


class OpenAIProfile(_Section):
    base_url: Url | None = None
    organization: str | None = Field(default=None, min_length=1)
    project: str | None = Field(default=None, min_length=1)


class AzureProfile(_Section):
    endpoint: Url | None = None
    api_version: str | None = Field(default=None, pattern=r"^\d{4}-\d{2}-\d{2}(-preview)?$")
    use_v1_path: bool = False
    # model name (base or ft:) -> the deployment serving it; Azure calls take the
    # deployment name where OpenAI takes the model name.
    deployments: dict[
        Annotated[str, StringConstraints(min_length=1)],
        Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._-]{1,64}$")],
    ] = Field(default_factory=dict)

    @field_validator("endpoint")
    @classmethod
    def _bare_endpoint(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme != "https":
            raise ValueError("must be an https:// URL such as https://NAME.openai.azure.com")
        if parts.path.strip("/"):
            raise ValueError(
                "must be the resource URL without a path; set use_v1_path = true for /openai/v1/"
            )
        return value.rstrip("/")

    def deployment_for(self, model: str) -> str:
        return self.deployments.get(model, model)


class CompatibleProfile(_Section):
    base_url: Url | None = None


class ProviderSettings(_Section):
    kind: Kind = "openai"
    api_key_env: EnvName | None = None
    api_key_file: AbsolutePath | None = None
    credential_name: CredentialName = DEFAULT_CREDENTIAL
    timeout_seconds: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    upload_timeout_seconds: float = Field(default=600.0, gt=0, allow_inf_nan=False)
    max_retries: int = Field(default=3, ge=0, le=20)
    openai: OpenAIProfile = Field(default_factory=OpenAIProfile)
    azure: AzureProfile = Field(default_factory=AzureProfile)
    compatible: CompatibleProfile = Field(default_factory=CompatibleProfile)

    _api_key: SecretStr | None = PrivateAttr(default=None)
    _api_key_source: str | None = PrivateAttr(default=None)
    _api_key_search: tuple[str, ...] = PrivateAttr(default=())

    @model_validator(mode="after")
    def _profile_complete(self) -> Self:
        if self.kind == "azure":
            if self.azure.endpoint is None:
                raise _KeyedError(
                    ("azure", "endpoint"),
                    'required when provider.kind = "azure" (e.g. https://NAME.openai.azure.com)',
                )
            if (self.azure.api_version is None) == (not self.azure.use_v1_path):
                raise _KeyedError(
                    ("azure", "api_version"),
                    'provider.kind = "azure" needs exactly one of api_version (e.g. '
                    '"2025-04-01-preview") or use_v1_path = true',
                )
        if self.kind == "compatible" and self.compatible.base_url is None:
            raise _KeyedError(
                ("compatible", "base_url"),
                'required when provider.kind = "compatible" (e.g. http://127.0.0.1:8080/v1)',
            )
        return self

    @property
    def key_env_name(self) -> str:
        if self.api_key_env is not None:
            return self.api_key_env
        return "AZURE_OPENAI_API_KEY" if self.kind == "azure" else "OPENAI_API_KEY"

    @property
    def base_url(self) -> str | None:
        """The URL an OpenAI client should use; None means the SDK's default (or AzureOpenAI)."""
        if self.kind == "openai":
            return self.openai.base_url
        if self.kind == "compatible":
            return self.compatible.base_url
        if self.azure.use_v1_path and self.azure.endpoint is not None:
            return f"{self.azure.endpoint}/openai/v1/"
        return None

    @property
    def api_key(self) -> SecretStr | None:
        return self._api_key

    @property
    def api_key_source(self) -> str | None:
        return self._api_key_source

    def require_api_key(self) -> SecretStr:
        if self._api_key is not None:
            return self._api_key
        searched = (
            "; ".join(self._api_key_search) or "the key was never looked up (use load_settings)"
        )
        raise ConfigError("provider.api_key", f"no API key found. Looked at: {searched}")


def _read_key(value: str, where: str) -> tuple[SecretStr | None, str]:
    key = value.strip()
    if not key:
        return None, f"{where} (empty)"
    if not key.isascii() or not key.isprintable() or any(c.isspace() for c in key):
        return None, f"{where} (holds whitespace or non-ASCII characters; expected one key)"
    return SecretStr(key), where


def _read_key_file(path: Path, where: str) -> tuple[SecretStr | None, str, bool]:
    """(key, description, found): found means the search stops here, key or not."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(4097)
    except FileNotFoundError:
        return None, f"{where} (no such file)", False
    except OSError as exc:
        return None, f"{where} (unreadable: {exc.strerror or exc.__class__.__name__})", True
    if len(raw) > 4096:
        return None, f"{where} (larger than 4 KiB; not an API key)", True
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None, f"{where} (not UTF-8 text)", True
    key, description = _read_key(text, where)
    return key, description, bool(text.strip())


def _key_candidates(
    provider: ProviderSettings, env: Mapping[str, str]
) -> Iterator[tuple[SecretStr | None, str, bool]]:
    """(key, description, decisive) per place; a decisive place ends the search, key or not."""
    name = provider.key_env_name
    where = f"environment variable {name}"
    if name in env:
        key, description = _read_key(env[name], where)
        yield key, description, bool(env[name].strip())
    else:
        yield None, f"{where} (not set)", False
    if provider.api_key_file is not None:
        yield _read_key_file(
            provider.api_key_file, f"file {provider.api_key_file} (provider.api_key_file)"
        )
    credential = f"systemd credential {provider.credential_name}"
    directory = _first_dir(env, "CREDENTIALS_DIRECTORY")
    if directory is None:
        yield None, f"{credential} (CREDENTIALS_DIRECTORY not set)", False
    else:
        yield _read_key_file(directory / provider.credential_name, f"{credential} in {directory}")


def _resolve_api_key(provider: ProviderSettings, env: Mapping[str, str]) -> None:
    """Env var, then key file, then systemd credential: the first place holding a value decides.

    A malformed key where one is expected stops the search, so that a broken
    setting is reported instead of silently replaced by a key from elsewhere.
    """
    searched: list[str] = []
    for key, description, decisive in _key_candidates(provider, env):
        searched.append(description)
        if key is not None:
            provider._api_key = key
            provider._api_key_source = description
            provider._api_key_search = ()
            return
        if decisive:
            break
    provider._api_key_search = tuple(searched)


# ----------------------------------------------------------------------------- [defaults]


class Hyperparameters(_Section):
    n_epochs: Annotated[int | Auto, BeforeValidator(_epochs)] = "auto"
    batch_size: Annotated[int | Auto, BeforeValidator(_batch)] = "auto"
    learning_rate_multiplier: Annotated[float | Auto, BeforeValidator(_lr)] = "auto"
    beta: Annotated[float | Auto, BeforeValidator(_beta)] = "auto"

    def updated(self, other: Hyperparameters | None) -> Hyperparameters:
        """Only the values ``other`` states explicitly replace ours."""
        stated = {name: getattr(self, name) for name in self.model_fields_set}
        if other is not None:
            stated.update({name: getattr(other, name) for name in other.model_fields_set})
        return Hyperparameters.model_validate(stated)


def _check_run(
    model: str,
    method: str,
    hyperparameters: Hyperparameters,
    validation_fraction: float,
    test_fraction: float,
) -> None:
    """Rules tying run settings together, applied alike to [defaults] and to each merged run."""
    entry = catalog.lookup(model)
    if entry is not None and method not in entry.methods:
        raise _KeyedError(
            ("method",),
            f"{entry.name} supports {', '.join(entry.methods)}; not {method}",
        )
    if (
        "beta" in hyperparameters.model_fields_set
        and hyperparameters.beta != "auto"
        and method != catalog.DPO
    ):
        raise _KeyedError(("hyperparameters", "beta"), f"applies to method dpo only, not {method}")
    if validation_fraction + test_fraction >= 0.9:
        raise _KeyedError(
            ("test_fraction",),
            f"validation_fraction + test_fraction must stay below 0.9 so training keeps at "
            f"least 10%, got {validation_fraction:g} + {test_fraction:g}",
        )


class RunDefaults(_Section):
    model: ModelName = catalog.DEFAULT_MODEL
    method: Method = "supervised"
    hyperparameters: Hyperparameters = Field(default_factory=Hyperparameters)
    suffix: Suffix | None = None
    seed: Seed | None = None
    metadata: Metadata = Field(default_factory=dict)
    validation_fraction: Fraction = 0.1
    test_fraction: Fraction = 0.1
    min_test_examples: int = Field(default=10, ge=0)
    max_cost_usd: Usd = 50.0
    auto_approve: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_run(
            self.model,
            self.method,
            self.hyperparameters,
            self.validation_fraction,
            self.test_fraction,
        )
        return self

    def merged(self, overrides: DatasetOverrides | None = None) -> RunSettings:
        """The settings one dataset runs with: these defaults, then its sidecar's values."""
        if overrides is None:
            overrides = DatasetOverrides()
        where = f"sidecar {overrides.source}" if overrides.source else "dataset overrides"
        validation_file = overrides.resolved("validation_file")
        test_file = overrides.resolved("test_file")

        def pick(name: str) -> Any:
            value = getattr(overrides, name)
            return getattr(self, name) if value is None else value

        method = pick("method")
        hyperparameters = self.hyperparameters.updated(overrides.hyperparameters)
        own = overrides.hyperparameters
        if method != catalog.DPO and (own is None or "beta" not in own.model_fields_set):
            # A beta in [defaults] belongs to dpo runs; a sidecar choosing another
            # method has not asked for it.
            hyperparameters = Hyperparameters.model_validate(
                hyperparameters.model_dump(include=hyperparameters.model_fields_set - {"beta"})
            )
        data: dict[str, Any] = {
            "model": pick("model"),
            "method": method,
            "hyperparameters": hyperparameters,
            "suffix": pick("suffix"),
            "seed": pick("seed"),
            "metadata": {**self.metadata, **(overrides.metadata or {})},
            "validation_file": validation_file,
            "test_file": test_file,
            "validation_fraction": 0.0 if validation_file else pick("validation_fraction"),
            "test_fraction": 0.0 if test_file else pick("test_fraction"),
            "min_test_examples": self.min_test_examples,
            # A sidecar may tighten the spend guard, never loosen it: anyone who can
            # drop a file can write a sidecar, but only the operator sets the limit.
            "max_cost_usd": min(self.max_cost_usd, pick("max_cost_usd")),
            "auto_approve": self.auto_approve,
        }
        try:
            return RunSettings.model_validate(data)
        except ValidationError as exc:
            raise _config_error(exc, lambda loc: f"{where} combined with [defaults]") from None


class RunSettings(_Section):
    """Effective settings of one run; a fraction is 0 where a separate file replaces the split."""

    model: ModelName
    method: Method
    hyperparameters: Hyperparameters
    suffix: Suffix | None
    seed: Seed | None
    metadata: Metadata
    validation_file: Path | None
    test_file: Path | None
    validation_fraction: Fraction
    test_fraction: Fraction
    min_test_examples: int = Field(ge=0)
    max_cost_usd: Usd
    auto_approve: bool

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        _check_run(
            self.model,
            self.method,
            self.hyperparameters,
            self.validation_fraction,
            self.test_fraction,
        )
        return self


class DatasetOverrides(_Section):
    """The sidecar NAME.toml beside NAME.jsonl: every key optional, None = use [defaults]."""

    model: ModelName | None = None
    method: Method | None = None
    hyperparameters: Hyperparameters | None = None
    suffix: Suffix | None = None
    seed: Seed | None = None
    metadata: Metadata | None = None
    validation_file: SidecarFile | None = None
    test_file: SidecarFile | None = None
    max_cost_usd: Usd | None = None
    validation_fraction: Fraction | None = None
    test_fraction: Fraction | None = None

    _source: Path | None = PrivateAttr(default=None)

    @model_validator(mode="after")
    def _file_or_fraction(self) -> Self:
        for part in ("validation", "test"):
            if (
                getattr(self, f"{part}_file") is not None
                and getattr(self, f"{part}_fraction") is not None
            ):
                raise _KeyedError(
                    (f"{part}_fraction",),
                    f"{part}_file replaces the split; set one of {part}_file and "
                    f"{part}_fraction, not both",
                )
        return self

    @property
    def source(self) -> Path | None:
        return self._source

    @property
    def base_dir(self) -> Path:
        return self._source.parent if self._source is not None else Path.cwd()

    def resolved(self, key: Literal["validation_file", "test_file"]) -> Path | None:
        """The file beside the sidecar; a symlink leading elsewhere is refused like '..'."""
        relative: Path | None = getattr(self, key)
        if relative is None:
            return None
        target = self.base_dir / relative
        if not target.resolve().is_relative_to(self.base_dir.resolve()):
            where = f"in sidecar {self._source}" if self._source else "in dataset overrides"
            raise ConfigError(key, f"{relative} leads outside {self.base_dir} ({where})")
        return target


# ----------------------------------------------------------------------------- [prices], [log]


class Price(_Section):
    """USD figures; None where the catalogue has none and the configuration sets none."""

    training_per_mtok: Usd | None = None
    training_per_hour: Usd | None = None
    input_per_mtok: Usd | None = None
    output_per_mtok: Usd | None = None


class LogSettings(_Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"

    @field_validator("level", "format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value


# ----------------------------------------------------------------------------- Settings


class Settings(BaseSettings):
    """Everything the daemon reads at start. Build it with ``load_settings``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        env_parse_none_str="null",
        case_sensitive=False,
        extra="forbid",
        frozen=True,
        validate_default=True,
    )

    paths: PathsSettings = Field(default_factory=PathsSettings)
    intake: IntakeSettings = Field(default_factory=IntakeSettings)
    provider: ProviderSettings = Field(default_factory=ProviderSettings)
    defaults: RunDefaults = Field(default_factory=RunDefaults)
    prices: dict[Annotated[str, StringConstraints(min_length=1)], Price] = Field(
        default_factory=dict
    )
    log: LogSettings = Field(default_factory=LogSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # No .env files and no secrets_dir: secrets go through _resolve_api_key only.
        return (init_settings, env_settings)

    @field_validator("prices")
    @classmethod
    def _price_keys(cls, value: dict[str, Price]) -> dict[str, Price]:
        """Aliases such as gpt-4.1-mini are stored under the snapshot the API resolves them to."""
        normalised: dict[str, Price] = {}
        for name, price in value.items():
            key = catalog.base_name(name)
            if key in normalised:
                raise ValueError(f"{name!r} and another entry both mean {key}; keep one")
            normalised[key] = price
        return normalised

    def price_for(self, model: str) -> Price:
        """Configured figures first, catalogue figures for what the configuration leaves out."""
        name = catalog.base_name(model)
        entry = catalog.lookup(model)
        figures: dict[str, float | None] = dict.fromkeys(Price.model_fields)
        if entry is not None:
            figures.update(
                training_per_mtok=entry.training_price_per_mtok,
                training_per_hour=entry.training_price_per_hour,
                input_per_mtok=entry.input_price_per_mtok,
                output_per_mtok=entry.output_price_per_mtok,
            )
        override = self.prices.get(name)
        if override is None and entry is not None:
            override = self.prices.get(entry.name)
        if override is not None:
            figures.update({field: getattr(override, field) for field in override.model_fields_set})
        return Price.model_validate(figures)


# ----------------------------------------------------------------------------- loading


class _MappingEnvSource(EnvSettingsSource):
    """pydantic-settings' env source over a mapping the caller chose, not os.environ."""

    def __init__(self, settings_cls: type[BaseSettings], environ: Mapping[str, str]) -> None:
        self._environ = environ
        super().__init__(settings_cls)

    def _load_env_vars(self) -> Mapping[str, str | None]:
        none = self.env_parse_none_str
        return {
            key.lower(): (None if none is not None and value == none else value)
            for key, value in self._environ.items()
        }


@dataclass(frozen=True, slots=True)
class _Origins:
    """Where each value came from, so an error can point at the line to fix."""

    init: Mapping[str, Any]
    env: Mapping[str, str]
    toml: Mapping[str, Any]
    toml_path: Path | None

    def describe(self, loc: tuple[str, ...]) -> str:
        if _has(self.init, loc):
            return "set by the caller"
        lowered = {name.lower(): name for name in self.env}
        for depth in range(len(loc), 0, -1):
            name = lowered.get((ENV_PREFIX + "__".join(loc[:depth])).lower())
            if name is None:
                continue
            if depth == len(loc):
                return f"environment variable {name}"
            try:
                nested = json.loads(self.env[name])
            except ValueError:
                return f"environment variable {name}"
            if isinstance(nested, dict) and _has(nested, loc[depth:]):
                return f"environment variable {name}"
        if self.toml_path is not None and _has(self.toml, loc):
            return f"in {self.toml_path}"
        return "not set"


def _has(data: Mapping[str, Any], loc: tuple[str, ...]) -> bool:
    node: Any = data
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _dotted(loc: tuple[str, ...]) -> str:
    return ".".join(
        part if re.fullmatch(r"[A-Za-z0-9_-]+", part) else json.dumps(part) for part in loc
    )


def _model_at(root: type[BaseModel], loc: tuple[str, ...]) -> type[BaseModel] | None:
    """The model class holding the last key of ``loc``, to list what is allowed there."""
    model: type[BaseModel] = root
    skip_key = False
    for part in loc:
        if skip_key:
            skip_key = False
            continue
        field = model.model_fields.get(part)
        if field is None:
            return None
        value = _dict_value_model(field.annotation)
        target = value if value is not None else _model_type(field.annotation)
        if target is None:
            return None
        model, skip_key = target, value is not None
    return model


def _model_type(annotation: Any) -> type[BaseModel] | None:
    for candidate in (annotation, *get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return candidate
    return None


def _dict_value_model(annotation: Any) -> type[BaseModel] | None:
    if get_origin(annotation) is dict:
        return _model_type(get_args(annotation)[1])
    return None


def _config_error(
    exc: ValidationError,
    describe: Callable[[tuple[str, ...]], str],
    root: type[BaseModel] | None = None,
) -> ConfigError:
    problems: list[tuple[str, str]] = []
    for error in exc.errors(include_url=False):
        if error["type"] == "default_factory_not_called":
            continue  # a consequence of another error in the same list
        loc = tuple(str(part) for part in error["loc"] if part != "[key]")
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, _KeyedError):
            loc, message = (*loc, *cause.key), str(cause)
        elif isinstance(cause, ValueError):
            message = str(cause)
        else:
            message = error["msg"]
        if error["type"] == "extra_forbidden":
            parent = _model_at(root, loc[:-1]) if root is not None else None
            allowed = ", ".join(parent.model_fields) if parent is not None else ""
            message = "unknown key" + (f"; allowed here: {allowed}" if allowed else "")
        elif error["type"] == "missing":
            message = "required"
        else:
            value = error.get("input")
            # Strings are never echoed: a misplaced API key must not reach a log.
            if isinstance(value, int | float) and not message.endswith(f"got {value:g}"):
                message += f", got {value!r}"
        if "[key]" in error["loc"]:
            message = f"the name itself: {message}"
        problems.append((_dotted(loc), f"{message} ({describe(loc)})"))
    key, first = problems[0]
    rest = "".join(f"\n  {other}: {text}" for other, text in problems[1:])
    return ConfigError(key, first + rest)


def find_config_file(path: Path | None, env: Mapping[str, str]) -> Path | None:
    """-c, else $FTD_CONFIG, else $CONFIGURATION_DIRECTORY/config.toml when it exists."""
    if path is not None:
        return path.expanduser()
    if env.get(CONFIG_ENV):
        return Path(env[CONFIG_ENV]).expanduser()
    directory = _first_dir(env, "CONFIGURATION_DIRECTORY")
    if directory is not None and (directory / CONFIG_FILE_NAME).is_file():
        return directory / CONFIG_FILE_NAME
    return None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(str(path), "no such file") from None
    except IsADirectoryError:
        raise ConfigError(str(path), "is a directory, not a TOML file") from None
    except OSError as exc:
        raise ConfigError(str(path), f"cannot read: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(str(path), f"not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's message ends with "(at line L, column C)".
        raise ConfigError(str(path), f"invalid TOML: {exc}") from None


def _secret_keys(data: Mapping[str, Any], prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    for key, value in data.items():
        if key.lower() in _SECRET_NAMES:
            yield (*prefix, key)
        elif isinstance(value, dict):
            yield from _secret_keys(value, (*prefix, key))


def _refuse_secrets(data: Mapping[str, Any], where: str) -> None:
    section = data.get("provider")
    if not isinstance(section, dict):
        return
    for loc in _secret_keys(section, ("provider",)):
        env_name = section.get("api_key_env")
        if not isinstance(env_name, str):
            azure = section.get("kind") == "azure"
            env_name = "AZURE_OPENAI_API_KEY" if azure else "OPENAI_API_KEY"
        credential = section.get("credential_name")
        if not isinstance(credential, str):
            credential = DEFAULT_CREDENTIAL
        raise ConfigError(
            _dotted(loc),
            f"API keys are not accepted {where}. Put the key in the environment variable "
            f"{env_name} (or the one named by provider.api_key_env), in a file named by "
            f"provider.api_key_file, or in the systemd credential {credential} "
            f"(LoadCredential={credential}:/path/to/key in the unit)",
        )


def _env_as_tree(env: Mapping[str, str]) -> dict[str, Any]:
    """FTD_A__B=x as {"a": {"b": "x"}}, for the secret check and unknown-section check."""
    tree: dict[str, Any] = {}
    for name, value in env.items():
        if not name.upper().startswith(ENV_PREFIX) or name.upper() == CONFIG_ENV:
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) == 1:
            try:
                whole = json.loads(value)
            except ValueError:
                whole = None
            if isinstance(whole, dict):
                tree[parts[0]] = whole
                continue
        node = tree
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[parts[-1]] = value
    return tree


def _check_env(env: Mapping[str, str]) -> None:
    tree = _env_as_tree(env)
    for name in env:
        upper = name.upper()
        if not upper.startswith(ENV_PREFIX) or upper == CONFIG_ENV:
            continue
        section = upper[len(ENV_PREFIX) :].split("__")[0].lower()
        if "__" in upper and section not in Settings.model_fields:
            raise ConfigError(
                section,
                f"unknown section (environment variable {name}); allowed: "
                f"{', '.join(Settings.model_fields)}",
            )
        if "__" not in upper and section in Settings.model_fields:
            try:
                parsed = json.loads(env[name])
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                raise ConfigError(
                    section,
                    f"environment variable {name} must hold a JSON object; set single keys "
                    f"as {ENV_PREFIX}{section.upper()}__KEY",
                )
    _refuse_secrets(tree, "in FTD_* environment variables")


def load_settings(
    path: Path | None = None,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Read the configuration once at start; any problem is a ConfigError naming the key."""
    environ: Mapping[str, str] = os.environ if env is None else env
    config_file = find_config_file(path, environ)
    toml = _read_toml(config_file) if config_file is not None else {}
    _refuse_secrets(toml, f"in {config_file}")
    _check_env(environ)
    init = dict(overrides or {})
    origins = _Origins(init=init, env=environ, toml=toml, toml_path=config_file)
    computed = {"paths": default_paths(environ, root=_is_root())}
    sources: tuple[PydanticBaseSettingsSource, ...] = (
        InitSettingsSource(Settings, init),
        _MappingEnvSource(Settings, environ),
        InitSettingsSource(Settings, toml),
        InitSettingsSource(Settings, computed),
    )
    try:
        # BaseSettings.__init__ takes _build_sources; mypy sees only the field signature.
        build: Callable[..., Settings] = Settings
        settings = build(_build_sources=(sources, init))
    except ValidationError as exc:
        raise _config_error(exc, origins.describe, Settings) from None
    except SettingsError as exc:
        raise ConfigError("environment", str(exc)) from None
    _resolve_api_key(settings.provider, environ)
    return settings


def load_overrides(path: Path) -> DatasetOverrides:
    """Read a dataset's sidecar; errors name the sidecar and the key."""
    data = _read_toml(path)
    try:
        overrides = DatasetOverrides.model_validate(data)
    except ValidationError as exc:
        raise _config_error(exc, lambda loc: f"in sidecar {path}", DatasetOverrides) from None
    overrides._source = path
    return overrides
