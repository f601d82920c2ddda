"""Promotion: every configured gate must hold, and then the configured command runs, once.

A gate reads the summary only (a grader's mean, the paired verdict), so what
promoted a model can always be shown beside it. The command gets the model
name in place of ``{model}`` and in ``FTD_MODEL``; it runs without a shell,
with a time limit, and what it printed is kept (shortened) with its exit
status. It runs at most once per evaluation: the outcome is recorded before
anything else can ask for it again.
"""

from __future__ import annotations

import os
import subprocess
import time
from typing import TYPE_CHECKING, Any

import anyio

from ftd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from ftd.config.evaluation import EvaluationSettings, Gate

log = get_logger("ftd.evaluation.gates")
OUTPUT_LIMIT = 4000


def check_gate(name: str, gate: Gate, summary: Mapping[str, Any]) -> dict[str, Any]:
    grader = summary.get("graders", {}).get(gate.grader)
    reasons: list[str] = []
    passed = True
    if grader is None:
        return {
            "name": name,
            "grader": gate.grader,
            "passed": False,
            "reason": f"{gate.grader} was not graded",
        }
    if gate.min_mean is not None:
        mean = (grader.get("candidate") or {}).get("estimate")
        if mean is None or mean < gate.min_mean:
            passed = False
            reasons.append(f"mean {mean} is below {gate.min_mean:g}")
        else:
            reasons.append(f"mean {mean} is at least {gate.min_mean:g}")
    if gate.verdict is not None:
        verdict = grader.get("verdict")
        ok = verdict == "better" if gate.verdict == "better" else verdict not in (None, "worse")
        passed = passed and ok
        reasons.append(f"verdict {verdict or 'none (no base)'}, {gate.verdict} required")
    return {"name": name, "grader": gate.grader, "passed": passed, "reason": "; ".join(reasons)}


def check_gates(
    settings: EvaluationSettings, summary: Mapping[str, Any]
) -> tuple[list[dict[str, Any]], bool | None]:
    """Each gate's outcome, and whether the model is promoted (None: no gates configured)."""
    if not settings.gates:
        return [], None
    outcomes = [check_gate(name, gate, summary) for name, gate in settings.gates.items()]
    return outcomes, all(o["passed"] for o in outcomes)


def command_for(template: Sequence[str], model: str) -> list[str]:
    return [part.replace("{model}", model) for part in template]


async def run_promote_command(
    template: Sequence[str], model: str, evaluation_id: int, *, seconds: float
) -> dict[str, Any]:
    """Run the promote command; its exit status and output, or why it could not run."""
    argv = command_for(template, model)
    env = {**os.environ, "FTD_MODEL": model, "FTD_EVALUATION_ID": str(evaluation_id)}
    started = time.monotonic()
    outcome: dict[str, Any] = {"command": argv}
    try:
        with anyio.fail_after(seconds):
            result = await anyio.run_process(
                argv, check=False, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT
            )
    except TimeoutError:
        outcome.update(status=None, error=f"still running after {seconds:g} s; stopped")
    except OSError as exc:
        outcome.update(status=None, error=f"cannot run {argv[0]}: {exc.strerror or exc}")
    else:
        output = result.stdout.decode(errors="replace")
        outcome.update(status=result.returncode, output=output[-OUTPUT_LIMIT:])
    outcome["seconds"] = round(time.monotonic() - started, 3)
    level = log.info if outcome.get("status") == 0 else log.warning
    level(
        "promote_command_ran",
        evaluation_id=evaluation_id,
        model=model,
        status=outcome.get("status"),
        error=outcome.get("error"),
        seconds=outcome["seconds"],
    )
    return outcome
