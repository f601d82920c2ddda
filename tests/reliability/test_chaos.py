"""The crash suite, short: six datasets while ``ftd run`` is SIGKILLed a dozen times.

The run and its audit are ``tests/reliability/runs.py`` and ``audit.py``;
``bench/chaos.py`` is the full-size version. Kills are seeded (the schedule
and the aim repeat; where in the code each lands depends on timing); a
life armed with a log line that opens a risky window (an upload or a job
create in flight, a status change, an evaluation) is killed just after it
when the line comes in time, which with this seed is a third of the kills.
It runs against every emulator flavour: on Azure every evaluation needs
deployments, made and torn down across the same kills; Together keeps no
metadata, so each job is found again by its training file's name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.runs import ChaosSettings, run_chaos


@pytest.mark.slow
@pytest.mark.timeout(400)
@pytest.mark.parametrize("flavor", ["openai", "azure", "together"])
def test_sigkills_at_random_moments_duplicate_and_lose_nothing(tmp_path: Path, flavor: str) -> None:
    settings = ChaosSettings(datasets=6, kills=12, seed=3, emulator_kills=1, flavor=flavor)
    report = run_chaos(tmp_path, settings)
    print(report.table())
    found = report.audit
    assert found.ok, found.explain()
    assert report.kills == 12
    assert report.emulator_kills == 1
    assert found.by_state == {"submitted": 4, "rejected": 1, "duplicate": 1}
    assert (found.remote_files, found.jobs, found.evaluations) == (8, 4, 4)
    assert found.integrity == "ok"
    # Lives last 0.3-6 s; on a loaded machine a start takes longer, so some lives end
    # before the socket answers; every third life is let get that far, whatever the
    # load. How fast a start is, is measured by bench/, not here.
    assert len(report.recoveries) >= 4
    # Items in flight at a kill are asked again; committed ones never are.
    assert report.chat_sent >= report.chat_recorded > 0
    if flavor == "azure":
        # A candidate per job, the base and the judge; every one torn down.
        assert found.deployments == 4 + 2
        assert found.deployments_left == 0
