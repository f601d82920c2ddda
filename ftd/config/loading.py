"""Reading the TOML file and FTD_ variables into Settings, with errors that name the key."""

from __future__ import annotations

import json
import os
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args, get_origin

from pydantic import (
    BaseModel,
    ValidationError,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    InitSettingsSource,
    PydanticBaseSettingsSource,
    SettingsError,
)

from ftd.config.paths import _is_root
from ftd.config.provider import _resolve_api_key, _resolve_wandb_key
from ftd.config.rules import (
    _SECRET_NAMES,
    CONFIG_ENV,
    CONFIG_FILE_NAME,
    DEFAULT_CREDENTIAL,
    ENV_PREFIX,
    _KeyedError,
)
from ftd.config.run import DatasetOverrides
from ftd.config.settings import Settings
from ftd.errors import ConfigError
from ftd.places import default_paths
from ftd.places import first_dir as _first_dir

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping


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
        if isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]  # an entry of an array of tables ([[notify]])
            continue
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
    except RecursionError:
        raise ConfigError(str(path), "invalid TOML: nested too deeply") from None


def _secret_keys(data: Mapping[str, Any], prefix: tuple[str, ...]) -> Iterator[tuple[str, ...]]:
    for key, value in data.items():
        if key.lower() in _SECRET_NAMES:
            yield (*prefix, key)
        elif isinstance(value, dict):
            yield from _secret_keys(value, (*prefix, key))


def _refuse_secrets(data: Mapping[str, Any], where: str) -> None:
    sections: list[tuple[tuple[str, ...], Any]] = [(("provider",), data.get("provider"))]
    profiles = data.get("providers")
    if isinstance(profiles, dict):
        sections += [(("providers", str(name)), value) for name, value in profiles.items()]
    for prefix, section in sections:
        if isinstance(section, dict):
            _refuse_secrets_in(section, prefix, where)


def _refuse_secrets_in(section: Mapping[str, Any], prefix: tuple[str, ...], where: str) -> None:
    for loc in _secret_keys(section, prefix):
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
    for profile in settings.profiles.values():
        _resolve_api_key(profile, environ)
        if profile.kind == "together":
            _resolve_wandb_key(profile.together, environ)
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
