"""The shipped units pass systemd's own checks, and agree with what the daemon does."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ftd.cli import EXIT_CONFIG
from ftd.config import load_settings
from ftd.daemon.command import EXIT_DATABASE_GONE, EXIT_LOCKED
from ftd.store.db import BUSY_TIMEOUT_MS

UNITS = Path(__file__).resolve().parents[2] / "systemd"
SERVICE = UNITS / "ftd.service"
INSTALLED_FTD = "/opt/ftd/bin/ftd"
MAX_EXPOSURE = 1.5


def _tool(name: str) -> str:
    """The tool's path; a skip without it, a failure when $CI says it must be there."""
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (Debian package systemd)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)


def _keys(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_verify_prints_nothing(tmp_path: Path) -> None:
    analyze = _tool("systemd-analyze")
    # verify insists that ExecStart= exists here: point it at this checkout's ftd.
    ftd = Path(sys.executable).with_name("ftd")
    assert ftd.is_file(), f"{ftd} missing: pip install -e . first"
    text = SERVICE.read_text()
    assert text.count(f"ExecStart={INSTALLED_FTD} ") == 1
    copy = tmp_path / "ftd.service"
    copy.write_text(text.replace(f"ExecStart={INSTALLED_FTD} ", f"ExecStart={ftd} "))
    # It exits 0 even for unknown keys and values it cannot parse: any output is a failure.
    result = _run(analyze, "verify", "--man=no", str(copy))
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_security_exposure_is_low() -> None:
    analyze = _tool("systemd-analyze")
    result = _run(analyze, "security", "--offline=true", "--no-pager", str(SERVICE))
    assert result.returncode == 0, result.stdout + result.stderr
    match = re.search(r"Overall exposure level for ftd\.service: (\d+\.\d+)", result.stdout)
    assert match is not None, result.stdout
    exposure = float(match.group(1))
    assert exposure <= MAX_EXPOSURE, result.stdout


def test_service_agrees_with_the_daemon() -> None:
    keys = _keys(SERVICE)
    assert keys["Type"] == ["notify"]
    assert keys["User"] == keys["Group"] == ["ftd"]
    # A configuration error (78) or a second daemon (75) fails once instead of looping.
    assert keys["RestartPreventExitStatus"] == [f"{EXIT_CONFIG} {EXIT_LOCKED} {EXIT_DATABASE_GONE}"]
    assert keys["Restart"] == ["on-failure"]
    # Stopping waits at most for one commit's busy timeout; systemd must wait longer.
    stop = keys["TimeoutStopSec"][0]
    assert stop.endswith("s")
    assert float(stop[:-1]) > BUSY_TIMEOUT_MS / 1000
    # The drop folder the packaged configuration names is the one the sandbox lets ftd write.
    settings = load_settings(UNITS / "config.toml", env={})
    assert keys["ReadWritePaths"] == [str(settings.paths.drop_dir)]
    # The configuration file alone says where things are; the environment only adds a cache.
    assert keys["Environment"] == ["TIKTOKEN_CACHE_DIR=%C/ftd/tiktoken"]
    assert keys["LoadCredential"][0].startswith("openai_api_key:")
    assert keys["ExecReload"] == ["/bin/kill -HUP $MAINPID"]


@pytest.mark.skipif(os.geteuid() != 0, reason="creating users and chown need root")
def test_sysusers_and_tmpfiles_make_the_drop_folder(tmp_path: Path) -> None:
    sysusers = _tool("systemd-sysusers")
    tmpfiles = _tool("systemd-tmpfiles")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").touch()
    (root / "etc" / "group").touch()
    for kind, source in (("sysusers.d", "ftd.sysusers"), ("tmpfiles.d", "ftd.tmpfiles")):
        (root / "usr" / "lib" / kind).mkdir(parents=True)
        text = (UNITS / source).read_text()
        if kind == "tmpfiles.d":
            # ACL user names resolve in the host's user database, not under --root.
            text = text.replace("user:ftd:", "user:root:")
        (root / "usr" / "lib" / kind / "ftd.conf").write_text(text)
    made = _run(sysusers, f"--root={root}", "ftd.conf")
    assert made.returncode == 0, made.stderr
    users = {
        line.split(":")[0]: line.split(":")
        for line in (root / "etc/passwd").read_text().splitlines()
    }
    groups = {
        line.split(":")[0]: line.split(":")
        for line in (root / "etc/group").read_text().splitlines()
    }
    assert set(groups) == {"ftd", "ftd-submit"}
    assert users["ftd"][5] == "/var/lib/ftd"
    created = _run(tmpfiles, f"--root={root}", "--create", "ftd.conf")
    assert (created.returncode, created.stderr) == (0, "")
    spool = root / "var" / "spool" / "ftd"
    submit_gid = int(groups["ftd-submit"][2])
    modes = {}
    for path in [spool, *sorted(spool.iterdir())]:
        info = path.stat()
        assert (info.st_uid, info.st_gid) == (int(users["ftd"][2]), submit_gid), path
        modes[path.name] = oct(info.st_mode & 0o7777)
    assert modes == {
        "ftd": "0o2750",
        "incoming": "0o3770",
        "processed": "0o2750",
        "processing": "0o2750",
        "rejected": "0o2750",
        "staging": "0o3770",
    }
    for name in ("incoming", "staging"):
        assert "system.posix_acl_default" in os.listxattr(spool / name)
