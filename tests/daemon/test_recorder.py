"""The recorder's choices: which shutdown date counts, which models it records, and when."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest

from ftd.config import EvaluationSettings, Settings, load_settings
from ftd.control.handlers.recordings import unrecorded_warnings
from ftd.daemon.recorder import Recorder, shutdown_date
from ftd.errors import RemoteError
from ftd.evaluation.service import EvaluationService
from ftd.store import Store, states
from ftd.store import recordings as rows_of

pytestmark = pytest.mark.anyio
BASE = "gpt-4.1-mini-2025-04-14"
TODAY = datetime.date(2026, 12, 2)


def test_the_configured_date_wins_then_the_providers() -> None:
    model = f"ft:{BASE}:org::abc"
    assert shutdown_date(model, {}, {}) is None  # nobody says: the catalogue is the provider's
    assert shutdown_date(model, {}, {"gpt-4.1-mini": "2027-10-01"}) == "2027-10-01"
    listed = {BASE: "2027-10-01"}
    assert shutdown_date(model, {}, listed) == "2027-10-01"
    assert shutdown_date(model, {BASE: "2027-01-14"}, listed) == "2027-01-14"
    assert shutdown_date(model, {"gpt-4.1-mini": "2027-01-15"}, listed) == "2027-01-15"


class _Capabilities:
    def __init__(self, needs_deployment: bool) -> None:
        self.needs_deployment = needs_deployment


class _Remote:
    def __init__(self, dates: dict[str, str] | None, *, needs_deployment: bool = False) -> None:
        self.dates = dates
        self.asked = 0
        self.capabilities = _Capabilities(needs_deployment)

    async def retirements(self) -> dict[str, str]:
        self.asked += 1
        if self.dates is None:
            raise RemoteError("list_retirements", "no such route", status=404)
        return self.dates


class _Providers:
    def __init__(self, remote: _Remote) -> None:
        self.remote = remote

    def get(self, profile: str) -> _Remote:
        return self.remote


def _settings(tmp_path: Path, **evaluation: Any) -> Settings:
    loaded = load_settings(None, {"HOME": str(tmp_path / "home")})
    return loaded.model_copy(update={"evaluation": EvaluationSettings(**evaluation)})


async def _made(store: Store, number: int, *, ready: bool = True, test_items: int = 10) -> str:
    model = f"ft:{BASE}:org::m{number}"
    async with store.transaction() as tx:
        await tx.execute(
            "INSERT INTO datasets (id, sha256, name, path, size_bytes, state, created_at, "
            "updated_at) VALUES (?, ?, ?, '/d', 1, ?, 0, 0)",
            (number, f"h{number}", f"d{number}.jsonl", states.SUBMITTED),
        )
        await tx.execute(
            "INSERT INTO splits (dataset_id, side, path, examples, sha256) "
            "VALUES (?, 'test', ?, ?, 'x')",
            (number, f"/splits/{number}.test.jsonl", test_items),
        )
        await tx.execute(
            "INSERT INTO jobs (dataset_id, job_id, status, model, fine_tuned_model, "
            "model_ready_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 0, 0)",
            (number, f"ftjob-{number}", states.JOB_SUCCEEDED, BASE, model, 1.0 if ready else None),
        )
    return model


def _recorder(store: Store, settings: Settings, remote: _Remote) -> Recorder:
    service = EvaluationService(store, settings)
    return Recorder(
        store,
        lambda: settings,
        service,
        _Providers(remote),  # type: ignore[arg-type]
        today=lambda: TODAY,
    )


async def test_a_model_is_recorded_once_when_its_base_retires_within_the_notice(
    store: Store, tmp_path: Path
) -> None:
    ready = await _made(store, 1)
    await _made(store, 2, ready=False)  # does not answer yet: nothing to ask
    await _made(store, 3, test_items=0)  # held out no test items: nothing to ask with
    remote = _Remote({BASE: "2026-12-12"})
    settings = _settings(tmp_path, record_days_before=14)
    recorder = _recorder(store, settings, remote)
    queued = await recorder.queue_retiring()
    assert len(queued) == 1
    row = await rows_of.get(store, queued[0])
    assert row is not None
    assert (row.name, row.model, row.origin, row.shutdown_date, row.job_id) == (
        ready,
        ready,
        "retirement",
        "2026-12-12",
        "ftjob-1",
    )
    assert row.test_file == "/splits/1.test.jsonl"
    assert row.params["request"] == {"temperature": 0.0, "max_completion_tokens": 1024}
    # Queued but not finished: still unrecorded, and said so.
    assert [u["model"] for u in recorder.unrecorded] == [ready]
    assert await recorder.queue_retiring() == []  # once per model
    assert remote.asked == 1  # the provider's list is read at most hourly
    await rows_of.finish(store, row.id, rows_of.SUCCEEDED, None)
    await recorder.queue_retiring()
    assert recorder.unrecorded == []


async def test_a_model_outside_the_notice_is_only_warned_about(
    store: Store, tmp_path: Path
) -> None:
    model = await _made(store, 1)
    settings = _settings(tmp_path, record_days_before=5, shutdown_dates={BASE: "2026-12-12"})
    recorder = _recorder(store, settings, _Remote(None))  # the provider lists no dates
    assert await recorder.queue_retiring() == []
    assert await rows_of.every(store) == []
    [warning] = unrecorded_warnings(recorder.unrecorded)
    assert warning["kind"] == "model_retiring_unrecorded"
    assert warning["message"] == (
        f"{model} stops answering on 2026-12-12 (10 days, with its base {BASE}) and it is "
        f"not recorded: `ftd record {model}`"
    )


async def test_a_model_already_gone_or_far_from_retiring_is_left_alone(
    store: Store, tmp_path: Path
) -> None:
    await _made(store, 1)
    for day in ("2026-11-30", "2027-06-01"):
        settings = _settings(tmp_path, record_days_before=14, shutdown_dates={BASE: day})
        recorder = _recorder(store, settings, _Remote({}))
        assert await recorder.queue_retiring() == []
        assert recorder.unrecorded == []
    zero = _settings(tmp_path, record_days_before=0, shutdown_dates={BASE: "2026-12-03"})
    recorder = _recorder(store, zero, _Remote({}))
    assert await recorder.queue_retiring() == []  # 0: only by hand
    assert len(recorder.unrecorded) == 1


async def test_where_models_answer_only_deployed_a_recording_waits_for_a_deployment(
    store: Store, tmp_path: Path
) -> None:
    model = await _made(store, 1)
    settings = _settings(tmp_path)
    recorder = _recorder(store, settings, _Remote({}, needs_deployment=True))
    row = await recorder.request(
        model=model, name=None, test_file="/t.jsonl", provider="default", dataset_id=1
    )
    assert not await recorder.can_ask(row)
    async with store.transaction() as tx:
        await tx.execute(
            "INSERT INTO deployments (provider, name, model, role, state, created_at, "
            "updated_at) VALUES ('default', 'ftd-kept', ?, 'candidate', 'ready', 0, 0)",
            (model,),
        )
    assert await recorder.can_ask(row)
    elsewhere = _recorder(store, settings, _Remote({}))
    other = await elsewhere.request(
        model="gpt-4o-mini", name="base", test_file="/t.jsonl", provider="default"
    )
    assert await elsewhere.can_ask(other)
