"""[control]: the local socket through which ``ftd`` commands see and steer the daemon."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from ftd.config.rules import AbsolutePath, _Section

GroupName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[^\s:]+$")]


class ControlSettings(_Section):
    # Default: <paths.runtime_dir>/ftd.sock (Settings.socket_path).
    socket: AbsolutePath | None = None
    # Members may use every read-only command; None: the daemon's own group.
    # The group must exist where the daemon runs: it is looked up when the socket is made.
    group: GroupName | None = None
    # When set, commands that change things are for this group's members only.
    admin_group: GroupName | None = None
    max_clients: int = Field(default=128, ge=1, le=4096)
    idle_seconds: float = Field(default=300.0, gt=0, le=86_400, allow_inf_nan=False)
    max_request_bytes: int = Field(default=65_536, ge=1024, le=16 * 1024 * 1024)
