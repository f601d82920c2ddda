"""Bounds on the figures a provider reports that ftd turns into money.

``trained_tokens`` becomes a job's cost and a completion's usage an
evaluation's; both are summed into the spend the guard compares with its
cap. The SDK builds its objects without validating them, so a server can
send a negative count, a float, NaN or a count no dataset could produce. A
figure outside these bounds is refused (a warning in the log and in
``ftd status``) and never summed: a job's tokens (and so its cost) stay
unknown, and an answer with such usage is refused like any bad answer (its
request gives up, and a request that gives up costs nothing).
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

from ftd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ftd.providers import Provider, RemoteJob
    from ftd.store import JobRow, Store

log = get_logger("ftd.figures")

# OpenAI allows up to 50 epochs; a job's tokens beyond its dataset's tokens per epoch times
# this (and the slack below, for counting that differs a little) are not believed.
MAX_EPOCHS = 50
SLACK = 1.5
# With no dataset to compare against (an adopted job): more than any training file can hold.
MAX_TRAINED_TOKENS = 10_000_000_000
# One completion: the largest context any model serves, prompt and answer alike.
MAX_PROMPT_TOKENS = 2_000_000
MAX_COMPLETION_TOKENS = 1_000_000


def _count_problem(name: str, value: Any, ceiling: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{name} is {value!r}, not a count"
    if isinstance(value, float) and (not math.isfinite(value) or value != int(value)):
        return f"{name} is {value!r}, not a whole number"
    if value < 0:
        return f"{name} is negative ({value:g})"
    if value > ceiling:
        return f"{name} is {value:,.0f}, over the bound of {ceiling:,}"
    return None


def trained_tokens_problem(value: Any, tokens_per_epoch: int | None) -> str | None:
    """Why a job's ``trained_tokens`` cannot be believed; None if it can."""
    ceiling = MAX_TRAINED_TOKENS
    if tokens_per_epoch is not None and tokens_per_epoch > 0:
        ceiling = min(ceiling, math.ceil(tokens_per_epoch * MAX_EPOCHS * SLACK))
    return _count_problem("trained_tokens", value, ceiling)


def usage_problem(
    prompt_tokens: Any, completion_tokens: Any, params: Mapping[str, Any]
) -> str | None:
    """Why a completion's usage cannot be believed; None if it can.

    ``completion_tokens`` may not pass the answer limit the request set
    (reasoning tokens count within it).
    """
    limit = params.get("max_completion_tokens", params.get("max_tokens"))
    ceiling = MAX_COMPLETION_TOKENS
    if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0:
        ceiling = min(ceiling, limit)
    return _count_problem("prompt_tokens", prompt_tokens, MAX_PROMPT_TOKENS) or _count_problem(
        "completion_tokens", completion_tokens, ceiling
    )


async def believable_job(
    store: Store, provider: Provider, row: JobRow, job: RemoteJob
) -> RemoteJob:
    """The job as the provider told it, less a ``trained_tokens`` that cannot be believed.

    Compared with the dataset's own billed tokens per epoch where ftd made the
    job; checked only when the figure is new, so a steady job costs nothing.
    """
    value = job.trained_tokens
    if value is None or value == row.trained_tokens:
        return job
    per_epoch: int | None = None
    if row.dataset_id is not None:
        rows = await store.read(
            "SELECT json_extract(report, '$.estimate.billed_tokens_per_epoch') AS n "
            "FROM datasets WHERE id = ?",
            (row.dataset_id,),
        )
        found = rows[0]["n"] if rows else None
        per_epoch = found if isinstance(found, int) else None
    problem = trained_tokens_problem(value, per_epoch)
    if problem is None:
        return job
    log.warning(
        "figure_refused",
        job_id=job.id,
        provider=provider.profile,
        figure="trained_tokens",
        problem=problem,
        tokens_per_epoch=per_epoch,
    )
    provider.health.note("figure_refused", "trained_tokens", problem, subject=job.id)
    return dataclasses.replace(job, trained_tokens=None)
