"""The command: one ``listening on`` line on stdout, a clean exit on SIGTERM."""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys

import pytest

from ftd import cli
from ftd.emulator import command
from ftd.emulator.process import EmulatorProcess, EmulatorStartError


@pytest.mark.timeout(60)
def test_command_announces_its_address_and_exits_zero_on_sigterm() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ftd.emulator",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--speed",
            "10",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert re.fullmatch(r"listening on http://127\.0\.0\.1:(\d+)/v1\n", line), line
        assert int(line.rsplit(":", 1)[1].split("/")[0]) > 0
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert stdout == ""  # exactly one line was printed
    assert "emulator_started" in stderr
    assert "test-key" not in stderr


@pytest.mark.timeout(60)
def test_process_helper_reports_a_failed_start() -> None:
    helper = EmulatorProcess("--error-rate", "7")
    with pytest.raises(EmulatorStartError) as caught:
        helper.start()
    assert "exited with code 2" in str(caught.value)
    assert "must be between 0 and 1" in caught.value.log_tail


def test_command_module_imports_only_the_standard_library() -> None:
    assert command.HELP
    assert "\n" not in command.HELP
    probe = (
        "import sys, ftd.emulator.command; "
        "print(sorted({'aiohttp', 'openai', 'tiktoken'} & set(sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert loaded.stdout.strip() == "[]"


def test_cli_registers_the_command() -> None:
    if "emulator" not in cli.COMMANDS:
        pytest.skip("ftd.cli does not register the emulator subcommand yet")
    parser = cli.build_parser()
    args = parser.parse_args(["emulator", "--port", "0", "--rpm-limit", "5"])
    assert (args.port, args.rpm_limit, args.host) == (0, 5, "127.0.0.1")


def test_result_files_are_base64_unless_the_command_says_plain() -> None:
    parser = argparse.ArgumentParser()
    command.configure(parser, "emulator")
    assert parser.parse_args([]).result_files_base64 is True
    assert parser.parse_args(["--no-result-files-base64"]).result_files_base64 is False
    assert parser.parse_args(["--result-files-base64"]).result_files_base64 is True
