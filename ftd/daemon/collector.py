"""How often the cyclic garbage collector runs in the daemon, set once at start.

The tracker builds tens of thousands of short-lived, acyclic objects a cycle
(list pages parsed into jobs, rows, events and their rows), all freed by
reference counting. At CPython's default threshold (a collection every 700
net allocations) 10,000 jobs made about 200 young collections a cycle, and
each one promoted whatever a page still held, so the oldest generation,
the whole heap, was walked twice a cycle: a fifth of the cycle's CPU spent
finding no garbage. Collecting every 50,000 net allocations still bounds
what a rare cycle of garbage can hold; what exists once the daemon has
started (modules, settings, its parts) lives as long as it does and is
frozen out of every later walk.
"""

from __future__ import annotations

import gc

from ftd.logs import get_logger

log = get_logger("ftd.daemon")
# Young collections every this many net allocations; the older generations as CPython's.
YOUNG_THRESHOLD = 50_000


def tune_collector() -> None:
    """Collect what starting left, freeze the rest, and collect the young rarely."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)
    log.debug("collector_tuned", young=YOUNG_THRESHOLD, frozen=gc.get_freeze_count())
