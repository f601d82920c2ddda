"""Where a client finds the daemon's socket and drop folder, without loading the settings.

The daemon computes these paths from its validated settings; a client does the
same from the same sources, in the same order, with the standard library only:
an explicit option, the ``FTD_*`` variables the daemon would read, the
configuration file (``-c``, ``$FTD_CONFIG``, else ``/etc/ftd/config.toml`` when
readable), then the defaults — the caller's own (``$XDG_RUNTIME_DIR/ftd``) when
a socket is there, else a system daemon's (``/run/ftd``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftd.places import SOCKET_NAME, SYSTEM_CONFIG, default_paths

if TYPE_CHECKING:
    from collections.abc import Mapping


class ConfigFileError(Exception):
    """The configuration file the client was pointed at cannot be read."""


def _config_file(path: Path | None, env: Mapping[str, str]) -> Path | None:
    if path is not None:
        return path.expanduser()
    if env.get("FTD_CONFIG"):
        return Path(env["FTD_CONFIG"]).expanduser()
    directory = env.get("CONFIGURATION_DIRECTORY", "").split(":")[0]
    if directory.startswith("/") and (Path(directory) / "config.toml").is_file():
        return Path(directory) / "config.toml"
    if os.access(SYSTEM_CONFIG, os.R_OK):
        return SYSTEM_CONFIG
    return None


def _read(path: Path | None, *, required: bool) -> dict[str, Any]:
    if path is None:
        return {}
    import tomllib  # only when there is a file: most calls have none

    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        if required:
            raise ConfigFileError(f"{path}: {exc}") from None
        return {}


def _section(data: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = data.get(name)
    return value if isinstance(value, dict) else {}


def _path(value: object) -> Path | None:
    return Path(value).expanduser() if isinstance(value, str) and value else None


def socket_path(
    explicit: str | None, config: Path | None, env: Mapping[str, str] | None = None
) -> Path:
    environ: Mapping[str, str] = os.environ if env is None else env
    if explicit:
        return Path(explicit).expanduser()
    for name in ("FTD_SOCKET", "FTD_CONTROL__SOCKET"):
        if environ.get(name):
            return Path(environ[name]).expanduser()
    data = _read(_config_file(config, environ), required=config is not None)
    configured = _path(_section(data, "control").get("socket"))
    if configured is not None:
        return configured
    runtime = _path(environ.get("FTD_PATHS__RUNTIME_DIR")) or _path(
        _section(data, "paths").get("runtime_dir")
    )
    if runtime is not None:
        return runtime / SOCKET_NAME
    own = default_paths(environ, root=os.geteuid() == 0)["runtime_dir"] / SOCKET_NAME
    system = default_paths({}, root=True)["runtime_dir"] / SOCKET_NAME
    for candidate in (own, system):
        if candidate.exists():
            return candidate
    return own


def drop_dir(
    explicit: str | None, config: Path | None, env: Mapping[str, str] | None = None
) -> Path:
    environ: Mapping[str, str] = os.environ if env is None else env
    if explicit:
        return Path(explicit).expanduser()
    data = _read(_config_file(config, environ), required=config is not None)
    paths = _section(data, "paths")
    configured = _path(environ.get("FTD_PATHS__DROP_DIR")) or _path(paths.get("drop_dir"))
    if configured is not None:
        return configured
    state = _path(environ.get("FTD_PATHS__STATE_DIR")) or _path(paths.get("state_dir"))
    if state is None:
        state = default_paths(environ, root=os.geteuid() == 0)["state_dir"]
    return state / "drop"
