"""The daemon's answer to ``status``: counts and the warnings a person should act on."""

from __future__ import annotations

import datetime
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from ftd.config import load_settings
from ftd.control.access import Peer
from ftd.control.handlers import status as status_handler
from ftd.control.server import Call
from ftd.daemon.parts import Parts
from ftd.errors import RemoteError
from ftd.pace import Pace
from ftd.providers import Provider, Providers
from ftd.store import Store, states

pytestmark = pytest.mark.anyio


class Tracker:
    def __init__(self) -> None:
        soon = datetime.datetime.now(datetime.UTC).date() + datetime.timedelta(days=12)
        self.retiring = {"gpt-4o-mini-2024-07-18": soon.isoformat()}
        self.not_served = ["gpt-3.5-turbo-0613"]
        self.last_cycle = {"list": 1, "jobs": 0}


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    settings = load_settings(
        None,
        env={"HOME": str(tmp_path)},
        overrides={"paths": {"state_dir": str(tmp_path / "state"), "drop_dir": str(tmp_path)}},
    )
    (tmp_path / "state").mkdir()
    store = await Store.open(tmp_path / "state" / "ftd.db")
    pace = Pace(concurrency=4, per_minute=None)
    yield Parts(
        settings=settings,
        store=store,
        providers=Providers(settings, lambda _name: None),  # status never calls a provider
        tracker=Tracker(),  # type: ignore[arg-type]
        pace=pace,
        wake_prepare=lambda: None,
        wake_submit=lambda: None,
        socket_path=tmp_path / "ftd.sock",
    )
    await store.close()


async def _status(parts: Parts) -> dict[str, Any]:
    return await status_handler.status(parts, Call({}, Peer(0, 0, 0)))


async def test_counts_and_a_quiet_daemon(parts: Parts) -> None:
    parts.tracker.retiring = {}
    parts.tracker.not_served = []
    for n in range(3):
        await parts.store.add_dataset(
            sha256=f"{n:064x}", name=f"d{n}.jsonl", path="/x", size_bytes=1
        )
    answer = await _status(parts)
    assert answer["datasets"] == {states.DETECTED: 3}
    assert answer["jobs"] == {}
    assert answer["warnings"] == []
    assert answer["rate_limit"]["concurrency"] == 4
    assert answer["tracker"] == {"list": 1, "jobs": 0}


async def test_warnings_name_what_to_look_at(parts: Parts, monkeypatch: pytest.MonkeyPatch) -> None:
    row = await parts.store.add_dataset(sha256="a" * 64, name="b.jsonl", path="/x", size_bytes=1)
    await parts.store.transition(
        row.id, states.DETECTED, states.BLOCKED, error="403 training_not_available: no more"
    )
    waiting = await parts.store.add_dataset(
        sha256="b" * 64, name="w.jsonl", path="/x", size_bytes=1
    )
    await parts.store.transition(waiting.id, states.DETECTED, states.AWAITING_APPROVAL)
    parts.pace.hold(30, "test")
    usage = shutil.disk_usage(parts.settings.paths.state_dir)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=200 * 2**20))
    warnings = {w["kind"]: w["message"] for w in (await _status(parts))["warnings"]}
    assert set(warnings) == {
        "base_model_retiring",
        "base_model_not_served",
        "provider_blocked",
        "awaiting_approval",
        "rate_limited",
        "disk_low",
    }
    assert "gpt-4o-mini-2024-07-18 stops serving on" in warnings["base_model_retiring"]
    assert "(12 days)" in warnings["base_model_retiring"]
    assert "training_not_available" in warnings["provider_blocked"]
    assert "ftd approve ID" in warnings["awaiting_approval"]
    assert "0.20 GiB free" in warnings["disk_low"]


async def test_a_providers_troubles_are_warned_about_per_profile(parts: Parts) -> None:
    parts.tracker.retiring = {}
    parts.tracker.not_served = []
    eu = Provider("eu")
    eu.health.note("remote_cursor_stuck", "list_checkpoints")
    for _ in range(3):
        eu.health.failed(
            "file_content", "file-9", RemoteError("file_content", "500 boom", status=500)
        )
    parts.providers.add(eu)
    warnings = (await _status(parts))["warnings"]
    mine = [w for w in warnings if w.get("profile") == "eu"]
    assert sorted(w["kind"] for w in mine) == ["remote_cursor_stuck", "remote_failing"]
    assert all(w["message"].startswith("provider eu:") for w in mine)
