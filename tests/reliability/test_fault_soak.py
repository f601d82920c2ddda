"""The fault soak, short: the whole pipeline through an emulator that fails a third of requests.

20% 5xx, 10% 429 with ``retry-after``, latency spikes, dropped connections;
six datasets in two waves, to evaluation and report. Everything completes,
nothing is made or asked twice beyond what the retries allow, and the
daemon's memory after the second wave is within 30 MiB of what it was after
the first. ``bench/fault_soak.py`` is the full-size version, whose spikes
also outlast the client's timeout; this one has smaller datasets (about 6
held-out items each) and spikes of up to 0.4 s, to keep CI quick.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.runs import MIB, SoakSettings, run_soak


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_the_pipeline_completes_under_faults_once_and_with_flat_memory(tmp_path: Path) -> None:
    settings = SoakSettings(datasets=6, waves=2, seed=5, examples=60, jitter_ms=400)
    report = run_soak(tmp_path, settings)
    print(report.table())
    found = report.audit
    assert found.ok, found.explain()
    assert found.by_state == {"submitted": 4, "rejected": 1, "duplicate": 1}
    assert (found.remote_files, found.jobs, found.evaluations) == (8, 4, 4)
    statuses = report.statuses
    assert statuses.get("429", 0) > 0
    assert sum(statuses.get(code, 0) for code in ("500", "502", "503")) > 0
    assert statuses.get("dropped", 0) > 0
    assert 1 < found.most_sent <= settings.attempts  # retried, within the attempts
    assert report.rss_end < report.rss_warm + 30 * MIB
