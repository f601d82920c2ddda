"""Log lines: JSON off a terminal, readable on one, secrets never written."""

from __future__ import annotations

import io
import json

from ftd import logs


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_json_lines_when_not_on_a_terminal() -> None:
    out = io.StringIO()
    logs.configure(stream=out)
    logs.get_logger("ftd.test").info("dataset_state", dataset_id=3, state="ready")
    line = json.loads(out.getvalue())
    assert (line["event"], line["dataset_id"], line["state"]) == ("dataset_state", 3, "ready")
    assert (line["level"], line["logger_name"]) == ("info", "ftd.test")


def test_readable_lines_on_a_terminal() -> None:
    out = Terminal()
    logs.configure(stream=out)
    logs.get_logger("ftd.test").warning("approval_needed", dataset_id=7)
    text = out.getvalue()
    assert "approval_needed" in text
    assert "dataset_id" in text
    assert not text.lstrip().startswith("{")


def test_secrets_are_redacted_and_levels_filter() -> None:
    out = io.StringIO()
    logs.configure(stream=out, level="warning")
    log = logs.get_logger("ftd.test")
    log.info("quiet")
    log.warning("loud", api_key="sk-secret", authorization="Bearer sk-secret")
    lines = out.getvalue().splitlines()
    assert len(lines) == 1
    assert "sk-secret" not in lines[0]
    assert json.loads(lines[0])["api_key"] == "[redacted]"
