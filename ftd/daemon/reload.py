"""Reading the configuration again while running (``ftd reload``, SIGHUP), where that is safe.

Only settings that the parts read afresh each time take effect: the run
defaults and prices (for datasets validated from now on), the log level, the
tracker's interval, and the control socket's limits for new connections.
Everything else (paths, the provider and its key, the socket's place and
groups) is built into running parts; a change there is reported as needing a
restart and left as it was, so a reload never half-applies a change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio

from ftd import logs
from ftd.config import load_settings
from ftd.errors import ConfigError
from ftd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from ftd.config import Settings
    from ftd.daemon.parts import Parts

log = get_logger("ftd.daemon.reload")
# Dotted prefixes of the keys a reload applies.
RELOADABLE = ("defaults", "prices", "log.level", "tracker.poll_seconds", "evaluation", "notify")


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict) and data:
        flat: dict[str, Any] = {}
        for key, value in data.items():
            flat.update(_flatten(value, f"{prefix}{key}."))
        return flat
    return {prefix.rstrip("."): data}


def changed_keys(old: Settings, new: Settings) -> list[str]:
    before = _flatten(old.model_dump(mode="json"))
    after = _flatten(new.model_dump(mode="json"))
    return sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))


def _reloadable(key: str) -> bool:
    return any(key == p or key.startswith(p + ".") for p in RELOADABLE)


def merge(old: Settings, new: Settings) -> Settings:
    """``old`` with the reloadable parts of ``new``."""
    update: dict[str, Any] = {
        "defaults": new.defaults,
        "prices": new.prices,
        "log": old.log.model_copy(update={"level": new.log.level}),
        "tracker": old.tracker.model_copy(update={"poll_seconds": new.tracker.poll_seconds}),
        "evaluation": new.evaluation,
        "notify": new.notify,
    }
    return old.model_copy(update=update)


class Reloader:
    def __init__(
        self,
        parts: Parts,
        config_file: Path | None,
        *,
        on_applied: Callable[[Settings], None],
        notify: Callable[[str], None] = lambda _state: None,
    ) -> None:
        self._parts = parts
        self._config_file = config_file
        self._on_applied = on_applied
        self._notify = notify
        self._lock = anyio.Lock()

    async def __call__(self) -> dict[str, Any]:
        async with self._lock:
            self._notify("reloading")
            try:
                return await self._reload()
            finally:
                self._notify("ready")

    async def _reload(self) -> dict[str, Any]:
        old = self._parts.settings
        try:
            new = await anyio.to_thread.run_sync(load_settings, self._config_file)
        except ConfigError as exc:
            log.error("reload_failed", error=str(exc))
            return {"ok": False, "error": str(exc), "applied": [], "needs_restart": []}
        changed = changed_keys(old, new)
        applied = [k for k in changed if _reloadable(k)]
        ignored = [k for k in changed if not _reloadable(k)]
        if applied:
            merged = merge(old, new)
            self._parts.settings = merged
            self._on_applied(merged)
            if old.log.level != new.log.level:
                fmt = merged.log.format
                json = None if fmt == "auto" else fmt == "json"
                logs.configure(level=merged.log.level, json=json)
        log.info("config_reloaded", applied=applied, needs_restart=ignored)
        return {
            "ok": True,
            "config_file": str(self._config_file) if self._config_file else None,
            "applied": applied,
            "needs_restart": ignored,
        }
