"""Commands that change things, on a store and a stand-in tracker: what they answer."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ftd.config import load_settings
from ftd.control.access import Peer
from ftd.control.handlers import steer
from ftd.control.server import Call
from ftd.ctl.steer import _adopted
from ftd.daemon.parts import Parts
from ftd.pace import Pace
from ftd.store import Store

pytestmark = pytest.mark.anyio


class RenamingTracker:
    """Adopts as the real tracker does, under the id the provider answered with."""

    def __init__(self, store: Store, answered: str) -> None:
        self.store = store
        self.answered = answered

    async def adopt(self, job_id: str, profile: str | None = None) -> str | None:
        adopted = await self.store.adopt_job(self.answered, "running", "gpt-4.1-mini", None)
        return self.answered if adopted else None


@pytest.fixture
async def parts(tmp_path: Path) -> AsyncIterator[Parts]:
    settings = load_settings(
        None,
        env={"HOME": str(tmp_path)},
        overrides={"paths": {"state_dir": str(tmp_path / "state"), "drop_dir": str(tmp_path)}},
    )
    (tmp_path / "state").mkdir()
    store = await Store.open(tmp_path / "state" / "ftd.db")
    yield Parts(
        settings=settings,
        store=store,
        providers=None,  # type: ignore[arg-type]  # adoption asks through the tracker
        tracker=RenamingTracker(store, "ftjob-Answered"),  # type: ignore[arg-type]
        pace=Pace(concurrency=4, per_minute=None),
        wake_prepare=lambda: None,
        wake_submit=lambda: None,
        socket_path=tmp_path / "ftd.sock",
    )
    await store.close()


async def test_an_adopted_job_answered_under_another_id_is_named(
    parts: Parts, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = await steer.adopt(parts, Call({"job": "ftjob-asked"}, Peer(0, 0, 0)))
    assert answer["job_id"] == "ftjob-Answered"
    assert answer["status"] == "running"
    capsys.readouterr()  # the store's log lines
    _adopted(answer)
    said = capsys.readouterr().out
    assert "None" not in said
    assert said.startswith("job ftjob-Answered (the provider's answer for ftjob-asked) (running)")
    again = await steer.adopt(parts, Call({"job": "ftjob-Answered"}, Peer(0, 0, 0)))
    capsys.readouterr()
    _adopted(again)
    assert capsys.readouterr().out == "job ftjob-Answered was followed already (running)\n"
