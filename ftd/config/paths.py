"""Where ftd keeps its state, drop folder and socket, and how it watches the drop folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import (
    Field,
)

from ftd.config.rules import DEFAULT_MAX_FILE_BYTES, AbsolutePath, _Section

if TYPE_CHECKING:
    from collections.abc import Mapping


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
    def drop(self) -> DropFolder:
        return DropFolder(self.drop_dir)


@dataclass(frozen=True, slots=True)
class DropFolder:
    """The drop folder's parts: where files arrive, wait, and end."""

    root: Path

    @property
    def incoming(self) -> Path:
        return self.root / "incoming"

    @property
    def processing(self) -> Path:
        return self.root / "processing"

    @property
    def processed(self) -> Path:
        return self.root / "processed"

    @property
    def rejected(self) -> Path:
        return self.root / "rejected"

    def create(self) -> None:
        for path in (self.incoming, self.processing, self.processed, self.rejected):
            path.mkdir(parents=True, exist_ok=True)


# ----------------------------------------------------------------------------- [intake]


class IntakeSettings(_Section):
    stable_seconds: float = Field(default=5.0, ge=0, allow_inf_nan=False)
    rescan_seconds: float = Field(default=60.0, gt=0, allow_inf_nan=False)
    force_polling: bool = False
    max_file_bytes: int = Field(default=DEFAULT_MAX_FILE_BYTES, gt=0)


# ----------------------------------------------------------------------------- [tracker]


class TrackerSettings(_Section):
    poll_seconds: float = Field(default=30.0, ge=0.1, le=3600, allow_inf_nan=False)
