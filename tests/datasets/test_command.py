"""`ftd validate` as a user runs it: exit codes, text and JSON output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ftd.cli import main

DATA = Path(__file__).resolve().parents[1] / "data" / "datasets"


def test_accepted_file_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DATA / "tools.jsonl")]) == 0
    out = capsys.readouterr().out
    assert "accepted" in out
    assert "estimate: 8 epochs (auto)" in out


def test_rejected_file_exits_1_and_limits_samples(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--samples", "1", str(DATA / "supervised_defects.jsonl")]) == 1
    out = capsys.readouterr().out
    assert "REJECTED" in out
    assert "invalid_json (3)" in out
    assert "line 2, column 48" in out
    assert "line 43" not in out  # only the first sample of each kind
    assert "… and 2 more" in out


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["validate", "--json", "--model", "gpt-4o-2024-08-06", str(DATA / "vision.jsonl")])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["accepted"] is True
    assert report["model"] == "gpt-4o-2024-08-06"
    assert report["stats"]["images"] == 12
    assert report["estimate"]["n_epochs"] == 8
    assert set(report["stats"]["tokens_per_example"]) == {
        "min",
        "p10",
        "median",
        "p90",
        "max",
        "mean",
        "total",
    }


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "/nonexistent/file.jsonl"],
        ["validate", "/tmp"],
        ["validate", "--epochs", "0", str(DATA / "tools.jsonl")],
    ],
)
def test_unreadable_paths_and_bad_options_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert "ftd validate:" in capsys.readouterr().err


def test_usage_errors_exit_2() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["validate", "--method", "nope", "x.jsonl"])
    assert exc.value.code == 2


def test_version_help_and_subcommand_help() -> None:
    from ftd import __version__

    run = [sys.executable, "-m", "ftd"]
    out = subprocess.run([*run, "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == f"ftd {__version__}"
    top = subprocess.run([*run, "--help"], capture_output=True, text=True, check=True)
    assert "validate" in top.stdout
    sub = subprocess.run([*run, "validate", "--help"], capture_output=True, text=True, check=True)
    assert "--method" in sub.stdout
    assert "Exit status" in sub.stdout
    bare = subprocess.run(run, capture_output=True, text=True)
    assert bare.returncode == 2


def test_prices_and_model_come_from_the_configuration(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "ftd.toml"
    config.write_text(
        '[defaults]\nmodel = "gpt-4o-mini-2024-07-18"\n\n'
        '[prices."gpt-4o-mini-2024-07-18"]\ntraining_per_mtok = 1000.0\n'
    )
    monkeypatch.delenv("FTD_CONFIG", raising=False)
    assert main(["validate", "--json", "-c", str(config), str(DATA / "tools.jsonl")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == "gpt-4o-mini-2024-07-18"
    assert report["estimate"]["price_per_mtok"] == 1000.0
    expected = report["estimate"]["billed_tokens"] * 1000.0 / 1e6
    assert report["estimate"]["cost_usd"] == round(expected, 4)
    monkeypatch.setenv("FTD_CONFIG", str(tmp_path / "missing.toml"))
    assert main(["validate", str(DATA / "tools.jsonl")]) == 2
    assert "missing.toml" in capsys.readouterr().err


def test_a_small_run_imports_no_configuration_code(tmp_path: Path) -> None:
    # pydantic costs a third of a small file's run; it is for configuration files only.
    script = (
        "import sys\n"
        "from ftd.cli import main\n"
        f"code = main(['validate', {str(DATA / 'tools.jsonl')!r}])\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic'"
        " or m.startswith('ftd.config') or m == 'concurrent.futures.process')\n"
        "print('HEAVY', heavy, code)\n"
    )
    unset = ("FTD_CONFIG", "CONFIGURATION_DIRECTORY")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "HEAVY [] 0"


@pytest.mark.parametrize(
    ("given", "env", "file_there"),
    [
        (None, {}, False),
        (None, {}, True),
        (Path("x.toml"), {}, False),
        (None, {"FTD_CONFIG": "/nowhere/ftd.toml"}, False),
        (None, {"FTD_CONFIG": ""}, True),
        (None, {"CONFIGURATION_DIRECTORY": "relative/dir"}, True),
    ],
)
def test_config_file_lookup_agrees_with_the_configuration_loader(
    tmp_path: Path, given: Path | None, env: dict[str, str], file_there: bool
) -> None:
    from ftd.config import find_config_file
    from ftd.config.rules import CONFIG_ENV, CONFIG_FILE_NAME
    from ftd.datasets import command

    assert (command.CONFIG_ENV, command.CONFIG_FILE_NAME) == (CONFIG_ENV, CONFIG_FILE_NAME)
    environ = {"CONFIGURATION_DIRECTORY": f"{tmp_path}:/other", **env}
    if file_there:
        (tmp_path / CONFIG_FILE_NAME).write_text("")
    expected = find_config_file(given, environ) is not None
    assert command.config_file_exists(given, environ) is expected


def test_dash_reads_standard_input() -> None:
    data = (DATA / "supervised_defects.jsonl").read_bytes()
    done = subprocess.run(
        [sys.executable, "-m", "ftd", "validate", "--json", "-"],
        input=data,
        capture_output=True,
        cwd="/",
    )
    assert done.returncode == 1, done.stderr
    report = json.loads(done.stdout)
    assert report["path"] == "(standard input)"
    assert (report["lines"], report["examples"], report["invalid_examples"]) == (55, 15, 39)
    import hashlib

    assert report["sha256"] == hashlib.sha256(data).hexdigest()


def test_fix_writes_the_valid_lines_and_leaves_the_original(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "defects.jsonl"
    # A CRLF line and an over-long line are handled as well.
    body = (DATA / "supervised_defects.jsonl").read_bytes()
    good = (DATA / "tools.jsonl").read_bytes().splitlines(keepends=True)
    source.write_bytes(body + good[0].replace(b"\n", b"\r\n") + b'{"x": "' + b"y" * 1_100_000)
    before = source.read_bytes()
    out = tmp_path / "fixed.jsonl"
    assert main(["validate", "--samples", "0", "--fix", str(out), str(source)]) == 1
    err = capsys.readouterr().err
    assert f"wrote {out}: kept 16 line(s), dropped 40 rejected and 1 blank" in err
    assert source.read_bytes() == before
    lines = out.read_bytes().splitlines(keepends=True)
    assert len(lines) == 16
    assert lines[-1] == good[0]
    assert all(b"\r" not in line for line in lines)
    assert main(["validate", "--json", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["examples"] == 16
    assert report["invalid_examples"] == 0


def test_fix_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "defects.jsonl"
    source.write_bytes((DATA / "supervised_defects.jsonl").read_bytes())
    before = source.read_bytes()
    assert main(["validate", "--fix", str(source), str(source)]) == 2
    assert "is the file being checked" in capsys.readouterr().err
    taken = tmp_path / "taken.jsonl"
    taken.write_text("mine\n")
    assert main(["validate", "--fix", str(taken), str(source)]) == 2
    assert "exists; it is not overwritten" in capsys.readouterr().err
    assert taken.read_text() == "mine\n"
    assert source.read_bytes() == before


def test_fix_of_an_accepted_file_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "fixed.jsonl"
    assert main(["validate", "--fix", str(out), str(DATA / "tools.jsonl")]) == 0
    assert "accepted as it is" in capsys.readouterr().err
    assert not out.exists()
