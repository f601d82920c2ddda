"""Running ``ftd emulator`` as a real child process, for end-to-end and crash tests.

    with EmulatorProcess("--speed", "50") as emulator:
        client = openai.OpenAI(base_url=emulator.base_url, api_key="test-key")

Works as an async context manager too (start and stop run in a worker
thread). The child's stderr goes to a log file kept for the error message if
it fails to start, and to ``log_path`` for tests that want to read it.
"""

from __future__ import annotations

import os
import re
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from typing import IO, TYPE_CHECKING

import anyio.to_thread

from ftd.errors import FtdError

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

_LISTENING = re.compile(r"^listening on (http://\S+/v1)$")


class EmulatorStartError(FtdError):
    """The emulator process exited or stayed silent instead of announcing its address."""

    def __init__(self, message: str, log_tail: str) -> None:
        super().__init__(f"{message}\n--- emulator stderr ---\n{log_tail}")
        self.log_tail = log_tail


class EmulatorProcess:
    """A ``ftd emulator`` child process and the address it announced."""

    def __init__(
        self,
        *args: str,
        host: str = "127.0.0.1",
        startup_timeout: float = 30.0,
        env: dict[str, str] | None = None,
        log_path: Path | None = None,
    ) -> None:
        command = [sys.executable, "-m", "ftd.emulator", "--host", host, *args]
        if "--port" not in args:
            command += ["--port", "0"]
        self.command = command
        self.startup_timeout = startup_timeout
        self.env = env
        self.log_path = log_path
        self._process: subprocess.Popen[str] | None = None
        self._log: IO[bytes] | None = None
        self.base_url = ""
        self.returncode: int | None = None

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("the emulator process is not running")
        return self._process.pid

    @property
    def root_url(self) -> str:
        return self.base_url.removesuffix("/v1").removesuffix("/openai")

    def log_text(self) -> str:
        """What the process wrote to stderr so far."""
        if self.log_path is not None:
            return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        if self._log is None:
            return ""
        return os.pread(self._log.fileno(), 1 << 22, 0).decode(errors="replace")

    def _fail(self, message: str) -> EmulatorStartError:
        self._terminate()
        error = EmulatorStartError(message, self.log_text()[-4000:])
        self.stop()
        return error

    def start(self) -> str:
        """Start the process and wait for its address; returns the base URL."""
        # The log stays open for the child's lifetime and is closed by stop().
        self._log = (
            self.log_path.open("ab")
            if self.log_path is not None
            else tempfile.TemporaryFile(prefix="ftd-emulator-", suffix=".log")  # noqa: SIM115
        )
        env = dict(os.environ if self.env is None else self.env)
        self._process = subprocess.Popen(
            self.command, stdout=subprocess.PIPE, stderr=self._log, text=True, env=env
        )
        assert self._process.stdout is not None
        deadline = time.monotonic() + self.startup_timeout
        with selectors.DefaultSelector() as selector:
            selector.register(self._process.stdout, selectors.EVENT_READ)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not selector.select(remaining):
                    raise self._fail("the emulator did not announce its address in time")
                line = self._process.stdout.readline()
                if not line:
                    raise self._fail(f"the emulator exited with code {self._process.wait()}")
                match = _LISTENING.match(line.strip())
                if match:
                    self.base_url = match.group(1)
                    return self.base_url

    def _terminate(self, timeout: float = 15.0) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, wait, and SIGKILL if it does not exit; returns the exit code."""
        process = self._process
        if process is not None:
            self._terminate(timeout)
            self.returncode = process.returncode
            if process.stdout is not None:
                process.stdout.close()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        return self.returncode if self.returncode is not None else 0

    def kill(self) -> int:
        """SIGKILL without warning, as a crash test wants."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
        return self.stop()

    def __enter__(self) -> EmulatorProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> EmulatorProcess:
        await anyio.to_thread.run_sync(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await anyio.to_thread.run_sync(self.stop)
