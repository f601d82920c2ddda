"""Shared test set-up: offline tokenizer files, nothing that reaches the network, and the
fixtures every async test uses (asyncio, a fresh store)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ftd.store import Store

_SHARED_TIKTOKEN = Path(__file__).resolve().parents[2] / "shared" / "tiktoken"

if "TIKTOKEN_CACHE_DIR" not in os.environ and _SHARED_TIKTOKEN.is_dir():
    os.environ["TIKTOKEN_CACHE_DIR"] = str(_SHARED_TIKTOKEN)

# No test may reach a real provider: any client built without an explicit base
# URL would go to api.openai.com, so point the default somewhere unroutable.
os.environ["OPENAI_BASE_URL"] = "http://127.0.0.1:9/v1"
os.environ.pop("OPENAI_API_KEY", None)
os.environ.pop("FTD_CONFIG", None)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The slow tests first: spread over the workers from the start, they do not
    leave one worker running a long test alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    """A new, empty database, closed after the test."""
    opened = await Store.open(tmp_path / "ftd.db")
    yield opened
    await opened.close()
