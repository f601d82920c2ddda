"""Running ``ftd run`` as a real process against an emulator process, and reading what it did.

The daemon's JSON log lines and its database (read beside it; WAL allows
that) are the two windows into it; the emulator's API and its control routes
say what reached the provider.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

Event = dict[str, Any]


def good_lines(count: int, *, seed: str = "") -> list[str]:
    """Distinct valid supervised examples."""
    return [
        json.dumps(
            {
                "messages": [
                    {"role": "user", "content": f"{seed}What is {i} plus {i}?"},
                    {"role": "assistant", "content": f"{2 * i}"},
                ]
            }
        )
        for i in range(count)
    ]


def write_dataset(path: Path, count: int = 120, *, seed: str = "") -> bytes:
    """A valid dataset written elsewhere and renamed in, as a careful producer does."""
    data = ("\n".join(good_lines(count, seed=seed)) + "\n").encode()
    temporary = path.with_name("." + path.name + ".part")
    temporary.write_bytes(data)
    os.replace(temporary, path)
    return data


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def toml_text(sections: dict[str, dict[str, Any]]) -> str:
    lines: list[str] = []
    for section, keys in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in keys.items())
        lines.append("")
    return "\n".join(lines)


def run_ftd(
    *args: str, timeout: float = 60.0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ftd", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        check=False,
    )


def wait_until(what: str, check: Callable[[], Any], *, timeout: float = 180.0) -> Any:
    """``check()``'s first true value, looked for every 0.2 s; fails naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g} s: {what}")
        time.sleep(0.2)


@contextlib.contextmanager
def small_tmpfs(where: Path, *, size: str = "8m", inodes: int = 64) -> Iterator[Path]:
    """A tmpfs of ``size`` and ``inodes`` at ``where``, removed at the end; skips if unmountable."""
    where.mkdir(parents=True, exist_ok=True)
    mount = shutil.which("mount")
    if mount is None:
        pytest.skip("needs mount")
    done = subprocess.run(
        [mount, "-t", "tmpfs", "-o", f"size={size},nr_inodes={inodes}", "tmpfs", str(where)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()!r}")
    try:
        yield where
    finally:
        subprocess.run(["/usr/bin/umount", "-l", str(where)], check=False)


class Emulator:
    """Reading and steering an emulator process from a synchronous test."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        # The Azure flavour serves its data plane under /openai/v1, the OpenAI one under /v1.
        self.azure = base_url.endswith("/openai/v1")
        self.root_url = base_url.removesuffix("/v1").removesuffix("/openai")
        self.client = openai.OpenAI(base_url=base_url, api_key="test", max_retries=0)

    def _control(self, path: str, body: object | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(  # noqa: S310 - loopback emulator
            self.root_url + path,
            data=data,
            method="GET" if data is None else "POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
            result: dict[str, Any] = json.loads(answer.read())
            return result

    def configure(self, **knobs: object) -> None:
        self._control("/_emulator/config", knobs)

    def requests(self, route: str) -> int:
        counts: dict[str, int] = self._control("/_emulator/stats")["requests"]
        return counts.get(route, 0)

    def files(self, containing: str = "") -> list[str]:
        return [f.filename for f in self.client.files.list() if containing in f.filename]

    def jobs(self, dataset: sqlite3.Row | None = None) -> list[Any]:
        """All jobs, or those of one dataset row (by the tag ftd puts in their metadata)."""
        every = list(self.client.fine_tuning.jobs.list(limit=100))
        if dataset is None:
            return every
        # Read each job's own metadata: Azure's list takes no metadata filter.
        tag = f"{dataset['sha256'][:16]}-{dataset['tag']}"
        return [job for job in every if (job.metadata or {}).get("ftd_tag") == tag]

    def live_deployments(self) -> list[str]:
        """The names of the deployments that exist (the Azure flavour's; none elsewhere)."""
        if not self.azure:
            return []
        answer = self._control("/_emulator/deployments")
        return sorted(d["name"] for d in answer["deployments"])


class Daemon:
    """One ``ftd run`` process at a time over a fixed folder, config and log file."""

    def __init__(
        self,
        root: Path,
        base_url: str,
        extra: dict[str, dict[str, Any]],
        env: dict[str, str] | None = None,
    ) -> None:
        self.root = root
        self.env = dict(env or {})  # added to the environment of every start
        self.state_dir = root / "state"
        self.drop = root / "drop"
        self.incoming = self.drop / "incoming"
        self.log_path = root / "ftd.log"
        self.config_path = root / "config.toml"
        sections: dict[str, dict[str, Any]] = {
            "paths": {
                "state_dir": str(self.state_dir),
                "drop_dir": str(self.drop),
                "runtime_dir": str(root / "run"),
            },
            "intake": {"stable_seconds": 0.3, "rescan_seconds": 1.0},
            "provider": {"kind": "compatible", "max_retries": 2, "timeout_seconds": 20.0},
            "provider.compatible": {"base_url": base_url},
            "tracker": {"poll_seconds": 0.3},
            "log": {"format": "json", "level": "debug"},
        }
        for section, keys in extra.items():
            sections.setdefault(section, {}).update(keys)
        self.incoming.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(toml_text(sections))
        self._process: subprocess.Popen[bytes] | None = None
        self._mark = 0

    # ----------------------------------------------------------------- process

    def start(self, *, wait: bool = True, env: dict[str, str] | None = None) -> None:
        """``env`` adds variables (systemd's, for instance) to the daemon's environment."""
        assert self._process is None, "already running"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("FTD_")}
        environment["OPENAI_API_KEY"] = "sk-test-e2e-secret-key"
        environment.update(self.env)
        environment.update(env or {})
        self._mark = len(self._lines())
        with self.log_path.open("ab") as log:  # the child keeps its own descriptor
            self._process = subprocess.Popen(
                [sys.executable, "-m", "ftd", "run", "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env=environment,
            )
        if wait:
            # Two seconds on a quiet machine; several times that on a loaded one.
            self.wait_for("daemon_started", timeout=90)

    @property
    def socket(self) -> Path:
        return self.root / "run" / "ftd.sock"

    def ftd(self, *args: str, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
        """An ``ftd`` command against this daemon's socket, as a separate process."""
        return run_ftd(*args, "--socket", str(self.socket), timeout=timeout)

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait; the exit code."""
        process = self._take()
        process.send_signal(signal.SIGTERM)
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"ftd run did not exit {timeout:g} s after SIGTERM") from None

    def wait_exit(self, timeout: float) -> int:
        """Its exit code once it ends by itself; fails (killing it) after ``timeout``."""
        process = self._take()
        try:
            return process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"ftd run still running {timeout:g} s later") from None

    def kill(self) -> None:
        process = self._take()
        process.kill()
        process.wait()

    def _take(self) -> subprocess.Popen[bytes]:
        process = self._process
        assert process is not None, "not running"
        self._process = None
        return process

    def close(self) -> None:
        if self._process is not None:
            self.kill()

    # ----------------------------------------------------------------- log

    def _lines(self) -> list[str]:
        if not self.log_path.exists():
            return []
        return self.log_path.read_text(errors="replace").splitlines()

    def log_text(self) -> str:
        return "\n".join(self._lines())

    def events(self, name: str | None = None, *, since_start: bool = True) -> list[Event]:
        """Log events (of this start only, by default), parsed."""
        lines = self._lines()[self._mark if since_start else 0 :]
        found: list[Event] = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and (name is None or event.get("event") == name):
                found.append(event)
        return found

    def wait_for(
        self,
        name: str,
        where: Callable[[Event], bool] = lambda _: True,
        *,
        timeout: float = 30.0,
    ) -> Event:
        """The first event of this start with this name that matches; fails with the log tail."""
        deadline = time.monotonic() + timeout
        while True:
            for event in self.events(name):
                if where(event):
                    return event
            exited = self._process is not None and self._process.poll() is not None
            if exited or time.monotonic() > deadline:
                tail = "\n".join(self._lines()[-40:])
                why = "exited" if exited else f"no {name} within {timeout:g} s"
                raise AssertionError(f"ftd run {why}; log tail:\n{tail}")
            time.sleep(0.05)

    # ----------------------------------------------------------------- database

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with sqlite3.connect(f"file:{self.state_dir / 'ftd.db'}?mode=ro", uri=True) as db:
            db.row_factory = sqlite3.Row
            return list(db.execute(sql, params))

    def dataset(self, name: str) -> sqlite3.Row:
        rows = self.query("SELECT * FROM datasets WHERE name = ? ORDER BY id", (name,))
        assert len(rows) == 1, f"{len(rows)} datasets named {name}"
        return rows[0]

    def wait_dataset(self, name: str, state: str, *, timeout: float = 30.0) -> sqlite3.Row:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.query("SELECT * FROM datasets WHERE name = ? ORDER BY id", (name,))
            if rows and rows[-1]["state"] == state:
                return rows[-1]
            if time.monotonic() > deadline:
                seen = [r["state"] for r in rows]
                tail = "\n".join(self._lines()[-30:])
                raise AssertionError(f"{name} is {seen}, not {state}; log tail:\n{tail}")
            time.sleep(0.1)

    def wait_job(self, name: str, status: str, *, timeout: float = 60.0) -> sqlite3.Row:
        deadline = time.monotonic() + timeout
        while True:
            rows = self.query(
                "SELECT jobs.* FROM jobs JOIN datasets ON datasets.id = jobs.dataset_id "
                "WHERE datasets.name = ?",
                (name,),
            )
            if rows and rows[0]["status"] == status:
                return rows[0]
            if time.monotonic() > deadline:
                tail = "\n".join(self._lines()[-30:])
                raise AssertionError(
                    f"job of {name} is {[r['status'] for r in rows]}, not {status}:\n{tail}"
                )
            time.sleep(0.1)


ARM_TOKEN = "arm-test-token"


def azure_profile(root_url: str) -> tuple[dict[str, dict[str, Any]], dict[str, str]]:
    """Config sections and environment for a daemon whose default profile is the Azure
    flavour at ``root_url``: v1 data plane, ARM on the same port, a test ARM token."""
    sections: dict[str, dict[str, Any]] = {
        "provider": {"kind": "azure", "api_key_env": "OPENAI_API_KEY"},
        "provider.azure": {
            "endpoint": root_url,
            "use_v1_path": True,
            "management_url": root_url,
            "management_auth": "token",
            "subscription_id": "sub-1",
            "resource_group": "rg-ftd",
            "account": "acct-ftd",
        },
    }
    return sections, {"AZURE_MANAGEMENT_TOKEN": ARM_TOKEN}
