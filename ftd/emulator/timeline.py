"""Where a job is at a given moment, computed from its record and the clock.

A job advances on "active time": wall time since creation minus the time it
spent paused. Its planned life is a fixed sequence (created, validating,
validated, started, one metrics event per step, checkpoints, model created,
succeeded; or a failure cutting it short) laid out on active time. Pauses,
resumes and a cancel are inserted into that sequence where they happened.
Events are numbered by their position in the merged sequence, so the visible
events are always a prefix and an event's number never changes; the sequence
is indexed arithmetically, never materialised, so a job with a million steps
costs no more than one with ten.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from ftd.emulator.records import CANCEL, PAUSE, RESUME, Control, JobRecord

VALIDATING_FILES = "validating_files"
QUEUED = "queued"
RUNNING = "running"
PAUSED = "paused"
SUCCEEDED = "succeeded"
FAILED = "failed"
CANCELLED = "cancelled"
TERMINAL = frozenset({SUCCEEDED, FAILED, CANCELLED})

# Entry kinds.
CREATED = "created"
VALIDATING = "validating"
VALIDATED = "validated"
STARTED = "started"
STEP = "step"
CHECKPOINT = "checkpoint"
MODEL_CREATED = "model_created"
KEPT_CHECKPOINTS = 3


@dataclass(frozen=True, slots=True)
class Entry:
    """One event of the job's life: its position, what happened, when, and at which step."""

    seq: int
    kind: str
    wall: float
    step: int = 0


class Timeline:
    def __init__(self, job: JobRecord) -> None:
        plan = job.plan
        self._created = job.created_at
        self._controls: list[Control] = list(job.controls)
        self.validate_end = plan.validate_s
        self.queue_end = plan.validate_s + plan.queue_s
        self._step_s = plan.step_s
        total = plan.total_steps
        self.train_end = self.queue_end + total * plan.step_s
        self.checkpoint_t = self.train_end + plan.finalize_s / 2
        self.end = self.train_end + plan.finalize_s
        self.kept_steps = plan.checkpoint_steps[-KEPT_CHECKPOINTS:]
        failure = job.failure
        self._heads: list[tuple[float, str]] = [(0.0, CREATED), (0.0, VALIDATING)]
        self._tails: list[tuple[float, str, int]] = []
        self.failed_validation = failure is not None and failure.at_step is None
        if failure is not None and failure.at_step is None:
            self._heads.append((self.validate_end, FAILED))
            self._n_steps = 0
            self.terminal_t, self.terminal_status = self.validate_end, FAILED
        else:
            self._heads += [(self.validate_end, VALIDATED), (self.queue_end, STARTED)]
            if failure is not None and failure.at_step is not None:
                self._n_steps = min(failure.at_step, total)
                fail_t = self._step_t(self._n_steps) + plan.step_s / 2
                self._tails = [(fail_t, FAILED, self._n_steps)]
                self.terminal_t, self.terminal_status = fail_t, FAILED
            else:
                self._n_steps = total
                self._tails = [(self.checkpoint_t, CHECKPOINT, s) for s in self.kept_steps[:-1]]
                self._tails += [(self.checkpoint_t, MODEL_CREATED, total), (self.end, SUCCEEDED, 0)]
                self.terminal_t, self.terminal_status = self.end, SUCCEEDED
        self._head_times = [t for t, _ in self._heads]
        self._tail_times = [t for t, _, _ in self._tails]
        self._positions = [self._planned_count(c.active_at) for c in self._controls]
        self._cancel = next((c for c in self._controls if c.kind == CANCEL), None)

    # -- active time and wall time -------------------------------------------------
    def _step_t(self, step: int) -> float:
        return self.queue_end + step * self._step_s

    def _open_pause(self) -> Control | None:
        open_pause: Control | None = None
        for control in self._controls:
            if control.kind == PAUSE:
                open_pause = control
            elif control.kind == RESUME:
                open_pause = None
        return open_pause

    def active(self, now: float) -> float:
        """How far the job has progressed: wall time since creation minus paused time."""
        if self._cancel is not None:
            return self._cancel.active_at
        paused = 0.0
        open_pause: Control | None = None
        for control in self._controls:
            if control.kind == PAUSE:
                open_pause = control
            elif control.kind == RESUME and open_pause is not None:
                paused += control.wall - open_pause.wall
                open_pause = None
        if open_pause is not None:
            return open_pause.active_at
        return max(0.0, now - self._created - paused)

    def wall(self, active_t: float) -> float:
        offset = 0.0
        open_pause: Control | None = None
        for control in self._controls:
            if control.kind == PAUSE:
                open_pause = control
            elif control.kind == RESUME and open_pause is not None:
                if open_pause.active_at < active_t:
                    offset += control.wall - open_pause.wall
                open_pause = None
        return self._created + active_t + offset

    # -- the planned sequence, indexed arithmetically -------------------------------
    def _planned_len(self) -> int:
        return len(self._heads) + self._n_steps + len(self._tails)

    def _planned_count(self, active_t: float) -> int:
        """How many planned entries happen at or before an active time."""
        heads = bisect.bisect_right(self._head_times, active_t)
        if heads < len(self._heads):
            return heads
        steps = 0
        if self._step_s > 0 and active_t >= self.queue_end:
            steps = int((active_t - self.queue_end) / self._step_s)
        steps = max(0, min(self._n_steps, steps))
        while steps < self._n_steps and self._step_t(steps + 1) <= active_t:
            steps += 1
        while steps > 0 and self._step_t(steps) > active_t:
            steps -= 1
        if steps < self._n_steps:
            return heads + steps
        return heads + steps + bisect.bisect_right(self._tail_times, active_t)

    def _planned(self, index: int) -> tuple[float, str, int]:
        if index < len(self._heads):
            t, kind = self._heads[index]
            return t, kind, 0
        index -= len(self._heads)
        if index < self._n_steps:
            return self._step_t(index + 1), STEP, index + 1
        return self._tails[index - self._n_steps]

    # -- what clients see ------------------------------------------------------------
    def visible_count(self, now: float) -> int:
        planned = self._planned_count(self.active(now))
        if self._cancel is not None:
            planned = min(planned, self._positions[self._controls.index(self._cancel)])
        return min(planned, self._planned_len()) + len(self._controls)

    def entry(self, seq: int) -> Entry:
        for j, (position, control) in enumerate(zip(self._positions, self._controls, strict=True)):
            if seq == position + j:
                return Entry(seq, control.kind, control.wall)
            if seq < position + j:
                return self._planned_entry(seq, seq - j)
        return self._planned_entry(seq, seq - len(self._controls))

    def _planned_entry(self, seq: int, index: int) -> Entry:
        t, kind, step = self._planned(index)
        return Entry(seq, kind, self.wall(t), step)

    def status(self, now: float) -> str:
        if self._cancel is not None:
            return CANCELLED
        active = self.active(now)
        if active >= self.terminal_t:
            return self.terminal_status
        if self._open_pause() is not None:
            return PAUSED
        if active < self.validate_end:
            return VALIDATING_FILES
        return QUEUED if active < self.queue_end else RUNNING

    def finished_at(self, now: float) -> float | None:
        """When the job ended; null for a job that failed validation, as real ones show."""
        if self._cancel is not None:
            return self._cancel.wall
        if self.active(now) >= self.terminal_t and not self.failed_validation:
            return self.wall(self.terminal_t)
        return None

    def estimated_finish(self, now: float) -> float | None:
        if self.status(now) != RUNNING:
            return None
        return now + (self.end - self.active(now))

    def checkpoints_visible(self, now: float) -> bool:
        return self.terminal_status == SUCCEEDED and self.active(now) >= self.checkpoint_t

    def step_wall(self, step: int) -> float:
        return self.wall(self._step_t(step))
