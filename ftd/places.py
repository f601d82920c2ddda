"""Where ftd keeps its files when the configuration does not say: standard library only.

The daemon's settings and the thin ``ftd`` client both need these answers, and
the client must not import pydantic to get them, so they live here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

SOCKET_NAME = "ftd.sock"
SYSTEM_CONFIG = Path("/etc/ftd/config.toml")


def first_dir(env: Mapping[str, str], name: str) -> Path | None:
    """systemd's *_DIRECTORY variables: colon-separated absolute paths, first is ours."""
    first = env.get(name, "").split(":")[0]
    return Path(first) if first.startswith("/") else None


def default_paths(env: Mapping[str, str], *, root: bool) -> dict[str, Path]:
    """state_dir and runtime_dir as systemd, root or an ordinary user would expect them."""
    state = first_dir(env, "STATE_DIRECTORY")
    if state is None:
        if root:
            state = Path("/var/lib/ftd")
        else:
            xdg = env.get("XDG_STATE_HOME", "")
            home = env.get("HOME") or str(Path.home())
            base = Path(xdg) if xdg.startswith("/") else Path(home) / ".local" / "state"
            state = base / "ftd"
    runtime = first_dir(env, "RUNTIME_DIRECTORY")
    if runtime is None:
        xdg_runtime = env.get("XDG_RUNTIME_DIR", "")
        if root:
            runtime = Path("/run/ftd")
        elif xdg_runtime.startswith("/"):
            runtime = Path(xdg_runtime) / "ftd"
        else:
            runtime = state / "run"
    return {"state_dir": state, "runtime_dir": runtime}
