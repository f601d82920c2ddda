"""Properties of derived job state: events form a stable prefix, pauses shift time, ids page."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from ftd.emulator import ids
from ftd.emulator.records import CANCEL, PAUSE, RESUME, Control, JobFailure, JobRecord, Plan
from ftd.emulator.timeline import Timeline


def make_job(n_epochs: int = 3, steps: int = 4, failure: JobFailure | None = None) -> JobRecord:
    plan = Plan(
        n_examples=steps,
        n_validation_examples=0,
        epoch_tokens=100,
        n_epochs=n_epochs,
        batch_size=1,
        validate_s=1.0,
        queue_s=1.0,
        step_s=0.5,
        finalize_s=1.0,
        valid_interval=0,
    )
    return JobRecord(
        id="ftjob-abcdefghijklmnop",
        created_at=1000.0,
        model="m",
        base_model="m",
        training_file="file-a",
        validation_file=None,
        suffix=None,
        seed=1,
        metadata=None,
        method="supervised",
        requested_hyperparameters={},
        hyperparameters={},
        method_extra={},
        integrations=[],
        plan=plan,
        failure=failure,
    )


def test_a_healthy_job_walks_through_every_status() -> None:
    job = make_job()
    timeline = Timeline(job)
    seen = [timeline.status(1000 + t / 10) for t in range(0, 200)]
    assert list(dict.fromkeys(seen)) == ["validating_files", "queued", "running", "succeeded"]
    kinds = [timeline.entry(i).kind for i in range(timeline.visible_count(2000))]
    assert kinds[:4] == ["created", "validating", "validated", "started"]
    assert kinds.count("step") == 12
    assert kinds[-4:] == ["checkpoint", "checkpoint", "model_created", "succeeded"]
    assert timeline.kept_steps == [4, 8, 12]


@settings(max_examples=60, deadline=None)
@given(
    moments=st.lists(st.floats(min_value=0, max_value=20), min_size=1, max_size=6),
    actions=st.lists(st.sampled_from([PAUSE, RESUME, CANCEL]), min_size=0, max_size=6),
)
def test_events_only_ever_grow_as_a_prefix(moments: list[float], actions: list[str]) -> None:
    job = make_job()
    now = 1000.0
    shown: list[tuple[int, str, float]] = []
    for moment, action in zip(sorted(moments), actions + [""] * len(moments), strict=False):
        now = max(now, 1000.0 + moment)
        timeline = Timeline(job)
        status = timeline.status(now)
        allowed = {
            PAUSE: status in ("validating_files", "queued", "running"),
            RESUME: status == "paused",
            CANCEL: status not in ("succeeded", "failed", "cancelled"),
        }.get(action, False)
        if allowed:
            job.controls.append(Control(action, now, timeline.active(now)))
            timeline = Timeline(job)
        visible = [timeline.entry(i) for i in range(timeline.visible_count(now))]
        current = [(e.seq, e.kind, e.wall) for e in visible]
        assert current[: len(shown)] == shown
        assert [e.seq for e in visible] == list(range(len(visible)))
        assert all(a.wall <= b.wall + 1e-9 for a, b in itertools.pairwise(visible))
        assert all(e.wall <= now + 1e-9 for e in visible)
        shown = current


def test_a_pause_shifts_everything_after_it() -> None:
    job = make_job()
    timeline = Timeline(job)
    steady_finish = timeline.wall(timeline.end)
    job.controls.append(Control(PAUSE, 1002.5, timeline.active(1002.5)))
    assert Timeline(job).status(1500) == "paused"
    job.controls.append(Control(RESUME, 1102.5, 2.5))
    resumed = Timeline(job)
    assert resumed.wall(resumed.end) == steady_finish + 100
    assert resumed.status(steady_finish + 99) == "running"
    assert resumed.status(steady_finish + 100) == "succeeded"


def test_failures_cut_the_plan_short() -> None:
    at_validation = Timeline(
        make_job(failure=JobFailure("invalid_n_examples", "few", "training_file", None))
    )
    assert at_validation.status(1000.9) == "validating_files"
    assert at_validation.status(1001) == "failed"
    assert at_validation.visible_count(5000) == 3
    mid_training = Timeline(make_job(failure=JobFailure("server_error", "boom", None, 5)))
    kinds = [mid_training.entry(i).kind for i in range(mid_training.visible_count(5000))]
    assert kinds.count("step") == 5
    assert kinds[-1] == "failed"
    assert not mid_training.checkpoints_visible(5000)


def test_ids_carry_their_sequence() -> None:
    job_id = "ftjob-abcdefghijklmnop"
    event = ids.event_id(job_id, 42)
    assert ids.event_seq(job_id, event) == 42
    assert ids.event_seq("ftjob-other", event) is None
    assert ids.event_id(job_id, 9) < ids.event_id(job_id, 10)
    assert ids.checkpoint_step(job_id, ids.checkpoint_id(job_id, 7)) == 7
    assert ids.checkpoint_step(job_id, "ftckpt_nonsense") is None
