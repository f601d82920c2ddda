"""What has gone wrong lately with one provider profile, kept for ``ftd status`` and for back-off.

A log line is read by whoever looks at the journal; a person running
``ftd status`` should also see that a listing's cursor stopped advancing, that
an answer was refused as too large or absurd, or that the same call has
failed cycle after cycle. Each is kept per profile with how often and how
lately it happened, and dropped once it has not recurred for an hour.

A call that keeps failing for the same object (a result file, a job, its
events) across cycles is a lasting error: after ``LASTING_FAILURES`` in a row
it shows in status and the callers that ask ``due`` try it less and less
often (doubling up to an hour) instead of every cycle for ever; one success
clears it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ftd.providers.kinds import backoff

if TYPE_CHECKING:
    from collections.abc import Callable

    from ftd.errors import RemoteError

LASTING_FAILURES = 3
BACKOFF_BASE_SECONDS = 30.0
BACKOFF_MAX_SECONDS = 3600.0
STALE_SECONDS = 3600.0
MAX_KEPT = 200  # troubles kept per profile; the oldest go first

_SAYS = {
    "remote_cursor_stuck": "the cursor of {operation} did not advance; the walk was stopped",
    "remote_pages_capped": "{operation} said there was more after {detail}; the walk was stopped",
    "remote_page_oversized": "{operation} sent more items than asked ({detail}); cut to the limit",
    "remote_answer_too_large": "an answer to {operation}{subject} was over the size bound "
    "({detail})",
    "remote_deadline": "{operation}{subject} got no whole answer in time ({detail})",
    "remote_filter_ignored": "{operation}: the server ignored the metadata filter ({detail} "
    "were left aside)",
    "figure_refused": "{operation}: {detail}; not counted",
    "remote_failing": "{operation} keeps failing{subject}: {detail}; retried less often",
}


@dataclass(slots=True)
class Trouble:
    kind: str
    operation: str
    subject: str | None
    detail: str
    count: int
    first_at: float
    last_at: float
    retry_at: float = 0.0


class Health:
    """One profile's recent troubles; cheap enough to consult on every call."""

    def __init__(self, profile: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.profile = profile
        self._clock = clock
        self._noted: dict[tuple[str, str, str | None], Trouble] = {}
        self._failing: dict[tuple[str, str | None], Trouble] = {}

    def note(self, kind: str, operation: str, detail: str = "", subject: str | None = None) -> None:
        """Something the server did that ftd refused or worked around."""
        now = self._clock()
        key = (kind, operation, subject)
        trouble = self._noted.get(key)
        if trouble is None:
            if len(self._noted) >= MAX_KEPT:
                oldest = min(self._noted, key=lambda k: self._noted[k].last_at)
                del self._noted[oldest]
            self._noted[key] = Trouble(kind, operation, subject, detail, 1, now, now)
            return
        trouble.count += 1
        trouble.last_at = now
        trouble.detail = detail

    def failed(self, operation: str, subject: str | None, error: RemoteError) -> None:
        """A call that gave up; counted toward a lasting error of this operation and object."""
        now = self._clock()
        key = (operation, subject)
        trouble = self._failing.get(key)
        if trouble is None:
            if len(self._failing) >= MAX_KEPT:
                oldest = min(self._failing, key=lambda k: self._failing[k].last_at)
                del self._failing[oldest]
            trouble = Trouble("remote_failing", operation, subject, str(error), 0, now, now)
            self._failing[key] = trouble
        trouble.count += 1
        trouble.last_at = now
        trouble.detail = str(error)
        if trouble.count >= LASTING_FAILURES:
            wait = backoff(
                trouble.count - LASTING_FAILURES, BACKOFF_BASE_SECONDS, BACKOFF_MAX_SECONDS
            )
            trouble.retry_at = now + wait

    def succeeded(self, operation: str, subject: str | None) -> None:
        if self._failing:
            self._failing.pop((operation, subject), None)

    def due(self, operation: str, subject: str | None) -> bool:
        """Whether a call is worth making now (False while a lasting error backs off)."""
        trouble = self._failing.get((operation, subject))
        return trouble is None or self._clock() >= trouble.retry_at

    def lasting(self) -> list[Trouble]:
        return [t for t in self._failing.values() if t.count >= LASTING_FAILURES]

    def warnings(self) -> list[dict[str, str]]:
        """For ``ftd status``: each recent trouble, newest first, naming its profile."""
        now = self._clock()
        for key in [k for k, t in self._noted.items() if now - t.last_at > STALE_SECONDS]:
            del self._noted[key]
        troubles = sorted(
            [*self._noted.values(), *self.lasting()], key=lambda t: t.last_at, reverse=True
        )
        shown = []
        for trouble in troubles:
            subject = f" for {trouble.subject}" if trouble.subject else ""
            said = _SAYS.get(trouble.kind, "{operation}: {detail}").format(
                operation=trouble.operation, detail=trouble.detail, subject=subject
            )
            ago = max(0, round(now - trouble.last_at))
            shown.append(
                {
                    "kind": trouble.kind,
                    "profile": self.profile,
                    "message": f"provider {self.profile}: {said} "
                    f"({trouble.count} time(s), last {ago} s ago)",
                }
            )
        return shown
