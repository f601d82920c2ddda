"""Shell completion generated from the parser: run in a real bash, and checked for zsh and fish."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ftd.cli import COMMANDS


def script(shell: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ftd", "completion", shell],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def complete_in_bash(generated: Path, words: list[str], cwd: Path) -> list[str]:
    """What bash offers for the last word of ``words``, with the script sourced."""
    quoted = " ".join("'" + w.replace("'", "'\\''") + "'" for w in words)
    program = (
        f"source {generated}\n"
        f"COMP_WORDS=({quoted}); COMP_CWORD={len(words) - 1}\n"
        "_ftd\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    bash = shutil.which("bash")
    assert bash is not None
    done = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=cwd,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if line]


@pytest.fixture
def bash_script(tmp_path: Path) -> Path:
    if shutil.which("bash") is None:
        pytest.skip("bash is not installed")
    path = tmp_path / "ftd.bash"
    path.write_text(script("bash"))
    return path


def test_bash_completes_commands_options_choices_and_files(
    bash_script: Path, tmp_path: Path
) -> None:
    assert complete_in_bash(bash_script, ["ftd", "sta"], tmp_path) == ["status"]
    assert set(complete_in_bash(bash_script, ["ftd", ""], tmp_path)) >= set(COMMANDS)
    assert complete_in_bash(bash_script, ["ftd", "validate", "--met"], tmp_path) == ["--method"]
    assert complete_in_bash(bash_script, ["ftd", "validate", "--method", "d"], tmp_path) == ["dpo"]
    assert complete_in_bash(bash_script, ["ftd", "completion", ""], tmp_path) == [
        "bash",
        "zsh",
        "fish",
    ]
    (tmp_path / "faq.jsonl").write_text("")
    (tmp_path / "faq.toml").write_text("")
    offered = complete_in_bash(bash_script, ["ftd", "submit", "--sidecar", "faq.t"], tmp_path)
    assert offered == ["faq.toml"]
    assert sorted(complete_in_bash(bash_script, ["ftd", "submit", "fa"], tmp_path)) == [
        "faq.jsonl",
        "faq.toml",
    ]
    assert "--drop" in complete_in_bash(bash_script, ["ftd", "submit", "--d"], tmp_path)


def test_zsh_and_fish_scripts_cover_every_command() -> None:
    zsh = script("zsh")
    fish = script("fish")
    assert zsh.startswith("#compdef ftd\n")
    for name in COMMANDS:
        assert f"    ({name}) _arguments" in zsh, name
        assert f"__fish_use_subcommand -a {name} " in fish, name
    assert "'--method[training method; detected from the first valid line" in zsh
    assert ":method:(supervised dpo reinforcement)'" in zsh
    assert "-l method -x -a 'supervised dpo reinforcement'" in fish
    assert "-l sidecar -r -F" in fish
    for shell, text in (("zsh", zsh), ("fish", fish)):
        if shutil.which(shell):  # not installed here; checked where it is
            checked = subprocess.run(
                [shell, "-n", "-c", text], capture_output=True, text=True, timeout=30, check=False
            )
            assert checked.returncode == 0, (shell, checked.stderr)


def test_install_writes_where_the_shell_looks(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env["HOME"] = str(tmp_path)
    for shell, where in (
        ("bash", tmp_path / ".local/share/bash-completion/completions/ftd"),
        ("zsh", tmp_path / ".local/share/zsh/site-functions/_ftd"),
        ("fish", tmp_path / ".config/fish/completions/ftd.fish"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "ftd", "completion", shell, "--install"],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert f"wrote {where}" in done.stdout
        assert where.read_text() == script(shell)


def test_fish_completes_from_the_generated_script(tmp_path: Path) -> None:
    fish = shutil.which("fish")
    if fish is None:
        pytest.skip("fish is not installed")
    path = tmp_path / "ftd.fish"
    path.write_text(script("fish"))

    def offered(line: str) -> list[str]:
        done = subprocess.run(
            [fish, "--no-config", "-c", f"source {path}; complete -C '{line}'"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return [entry.split("\t")[0] for entry in done.stdout.splitlines()]

    assert offered("ftd sta") == ["status"]
    assert offered("ftd validate --meth") == ["--method"]
    assert sorted(offered("ftd validate --method ")) == ["dpo", "reinforcement", "supervised"]
    assert offered("ftd completion ") == ["bash", "fish", "zsh"]


ZSH_DRIVER = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PROMPT='> '; fpath=({folder} \$fpath); autoload -U compinit; compinit -u -D"
zpty -w -n z $'ftd validate --met\t'
local seen="" chunk
integer tries=0
while (( tries++ < 400 )); do
  if zpty -r -t z chunk; then seen+=$chunk; else sleep 0.05; fi
  [[ $seen == *"--method"* ]] && break
done
print -r -- "$seen"
zpty -d z
"""


def test_zsh_completes_from_the_generated_script(tmp_path: Path) -> None:
    zsh = shutil.which("zsh")
    if zsh is None:
        pytest.skip("zsh is not installed")
    (tmp_path / "_ftd").write_text(script("zsh"))
    driver = tmp_path / "driver.zsh"
    driver.write_text(ZSH_DRIVER.replace("{folder}", str(tmp_path)))
    done = subprocess.run(
        [zsh, "-f", str(driver)], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    # the typed "--met" became "--method " on the command line
    assert "ftd validate --method" in done.stdout.replace("\x1b[1m", "").replace("\x1b[0m", "")
