"""Where ftd keeps its state and drop folder, and how it watches the drop folder."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import (
    Field,
)

from ftd.config.rules import DEFAULT_MAX_FILE_BYTES, AbsolutePath, _Section
from ftd.places import default_paths

# ----------------------------------------------------------------------------- [paths]


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

    @property
    def staging(self) -> Path:
        """Where ``ftd submit`` writes a file before renaming it into ``incoming/``.

        Beside ``incoming/`` so the rename stays on one filesystem and is atomic.
        """
        return self.root / "staging"

    def create(self) -> None:
        for path in (self.incoming, self.processing, self.processed, self.rejected, self.staging):
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
