"""The README says what the program does: every command in its table, one demo duration."""

from __future__ import annotations

import re
from pathlib import Path

from ftd.cli import COMMANDS
from ftd.demo import command as demo

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
DAEMON_ITSELF = {"run", "demo", "validate", "emulator"}  # each has a section of its own


def test_the_command_table_lists_every_client_command() -> None:
    table = README.split("| command | what it does |", 1)[1].split("\n\n", 1)[0]
    named: set[str] = set()
    for row in re.findall(r"^\| `ftd ([a-z/-]+)", table, flags=re.MULTILINE):
        named |= set(row.split("/"))
    missing = sorted(set(COMMANDS) - DAEMON_ITSELF - named)
    assert missing == [], f"not in the README's command table: {missing}"
    for name in DAEMON_ITSELF:
        assert f"`ftd {name}" in README, name


def test_demo_help_and_readme_give_the_same_duration() -> None:
    said = re.findall(r"about (\d+) seconds", (demo.__doc__ or "") + demo.HELP["demo"])
    assert said, "ftd demo --help names no duration"
    assert set(said) == {said[0]}
    assert f"about {said[0]} seconds" in README
    assert "about a minute" not in README + (demo.__doc__ or "") + demo.HELP["demo"]


def test_stopping_time_is_the_measured_one() -> None:
    assert "under a second" not in README
    assert "bench/stop_time.py" in README
    assert (Path(__file__).resolve().parents[1] / "bench" / "stop_time.py").exists()


def test_the_offline_tokenizer_note_is_in_try_it() -> None:
    try_it = README.split("## Try it", 1)[1].split("\n## ", 1)[0]
    assert "TIKTOKEN_CACHE_DIR" in try_it
