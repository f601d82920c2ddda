"""Test-only: holds a process's import of the OpenAI SDK until a file appears.

Put on ``PYTHONPATH`` with ``FTD_TEST_OPENAI_GATE=PATH`` by
tests/daemon/test_starting.py, so that a real ``ftd run`` is caught in the
middle of its start (building its providers) for as long as the test needs.
On reaching the import it creates ``PATH.held``; the import goes on once
``PATH`` exists (or after two minutes, so a failed test leaves no process
hanging). Without the variable it does nothing.
"""

from __future__ import annotations

import os
import sys
import time
from importlib.abc import MetaPathFinder
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

HOLD_AT_MOST = 120.0


class OpenAIGate(MetaPathFinder):
    def __init__(self, opened: str) -> None:
        self.opened = opened

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname == "openai":
            sys.meta_path.remove(self)
            with open(self.opened + ".held", "w"):
                pass
            deadline = time.monotonic() + HOLD_AT_MOST
            while not os.path.exists(self.opened) and time.monotonic() < deadline:
                time.sleep(0.02)
        return None  # the usual finders import it


_gate = os.environ.get("FTD_TEST_OPENAI_GATE")
if _gate:
    sys.meta_path.insert(0, OpenAIGate(_gate))
