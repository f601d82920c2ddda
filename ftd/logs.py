"""structlog set-up shared by the daemon and the emulator.

JSON lines when stderr is not a terminal (journald, files, tests), a readable
console rendering on a terminal. Event names are stable snake_case strings;
the data travels in keys. When journald reads the stream, each line starts with
the kernel-style level prefix (``<3>`` error … ``<7>`` debug), which journald
strips and keeps as the entry's priority, so ``journalctl -p warning`` works.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any, TextIO

import structlog

from ftd.systemd import journal_stream_matches

if TYPE_CHECKING:
    from collections.abc import MutableMapping

_SECRET_KEYS = frozenset({"api_key", "authorization", "password", "secret", "token"})
# syslog priorities by structlog level name; journald reads them from a leading "<N>".
_PRIORITY = {"critical": 2, "error": 3, "warning": 4, "info": 6, "debug": 7}


def _drop_secrets(_: Any, __: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Last line of defence: a secret passed by mistake never reaches a log line."""
    for key in event.keys() & _SECRET_KEYS:
        event[key] = "[redacted]"
    return event


class _JournalPrefix:
    """Wraps the JSON renderer: ``<N>`` before each line, N the syslog priority of its level."""

    def __init__(self, render: structlog.typing.Processor) -> None:
        self._render = render

    def __call__(self, logger: Any, name: str, event: MutableMapping[str, Any]) -> str:
        priority = _PRIORITY.get(str(event.get("level", "")), 6)
        rendered = self._render(logger, name, event)
        assert isinstance(rendered, str), "JSONRenderer renders text"
        return f"<{priority}>{rendered}"


def configure(
    *, level: str = "info", stream: TextIO | None = None, json: bool | None = None
) -> None:
    out = stream if stream is not None else sys.stderr
    use_json = (not out.isatty()) if json is None else json
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    if use_json and journal_stream_matches(out):
        renderer = _JournalPrefix(renderer)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _drop_secrets,
            structlog.processors.dict_tracebacks if use_json else structlog.dev.set_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


def get_logger(name: str) -> structlog.typing.FilteringBoundLogger:
    # Lazy: it honours a configure() called after the module that asked for it was imported.
    logger: structlog.typing.FilteringBoundLogger = structlog.get_logger(logger_name=name)
    return logger
