"""A stand-in for systemd's notify socket, shared by the unit tests and the daemon tests."""

from __future__ import annotations

import socket
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable


class Receiver:
    """A bound datagram socket read by a thread, so arrival times hold even when a loop blocks.

    ``clock`` stamps each datagram: monotonic for gaps, wall-clock to set them beside the
    daemon's log timestamps.
    """

    def __init__(self, address: str | bytes, clock: Callable[[], float] = time.monotonic) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(address)
        self.sock.settimeout(0.05)
        self.got: list[tuple[float, str]] = []
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                continue
            self.got.append((self._clock(), data.decode()))

    def messages(self) -> list[str]:
        return [text for _, text in self.got]

    def wait(self, count: int, timeout: float = 5.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(self.got) < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return self.messages()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()
