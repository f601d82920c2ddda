"""``train`` and the retry of a run: a dataset trained again, on its split, by hand.

``train DATASET`` starts a run with the dataset's settings (its first run's, or
those of the run named ``run-N``) changed where asked
(``--provider``, ``--model``, ``--set key=value``); a run with the very same
settings already made is refused, naming it. ``retry`` of a run whose job was
cancelled or failed starts the same run afresh (a new tag, so a new job).
Either way the run goes through the spend guard like a dropped dataset, and
the submit stage takes it from there.
"""

from __future__ import annotations

import tomllib
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ftd.config.run import DatasetOverrides, RunSettings
from ftd.config.sweep import merged
from ftd.control.handlers import args as arg
from ftd.control.handlers.show import find_dataset
from ftd.control.protocol import CONFLICT, INVALID_ARGUMENT, NOT_FOUND, UNAVAILABLE
from ftd.control.server import CommandError
from ftd.errors import ConfigError
from ftd.runs import NOT_THE_RUN, parse_run, run_key, run_name
from ftd.store import states
from ftd.store.runs import runs_of

if TYPE_CHECKING:
    from ftd.control.server import Call
    from ftd.daemon.parts import Parts
    from ftd.daemon.prepare import Preparer
    from ftd.store import DatasetRow

# What ``--set`` may change: a sidecar's keys, less those that shape the split
# (every run of a dataset trains on its one split).
SETTABLE = (
    *(name for name in DatasetOverrides.model_fields if name not in NOT_THE_RUN),
    "max_cost_usd",
)
RETRYABLE_JOBS = (states.JOB_CANCELLED, states.JOB_FAILED)


async def find_run(parts: Parts, key: str) -> DatasetRow:
    """The run ``run-N``, ``N`` or the newest dataset of a file name names."""
    number = parse_run(key)
    found = await parts.store.dataset(number) if number is not None else await _by_name(parts, key)
    if found is None:
        raise CommandError(NOT_FOUND, f"no run or dataset {key!r} (see `ftd datasets`)")
    return found


async def _by_name(parts: Parts, key: str) -> DatasetRow | None:
    row = await find_dataset(parts.store, key)
    return await parts.store.dataset(int(row["id"])) if row is not None else None


def _preparer(parts: Parts) -> Preparer:
    if parts.preparer is None:
        raise CommandError(UNAVAILABLE, "this daemon cannot start runs")
    return parts.preparer


def _value(text: str) -> Any:
    """A --set value as TOML reads it (numbers, booleans, strings in quotes, tables);
    anything TOML cannot read is taken as a plain string."""
    try:
        return tomllib.loads(f"value = {text}")["value"]
    except tomllib.TOMLDecodeError:
        return text


def _changes(call: Call) -> dict[str, Any]:
    """The settings asked for, as a nested dict; an unknown key is refused by name."""
    out: dict[str, Any] = {}
    pairs = arg.texts(call.args, "set") or []
    for name in ("provider", "model"):
        given = arg.text(call.args, name, required=False)
        if given is not None:
            pairs.append(f"{name}={tomllib_string(given)}")
    for pair in pairs:
        key, sep, text = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CommandError(INVALID_ARGUMENT, f"--set {pair!r}: expected key=value")
        path = key.split(".")
        if path[0] not in SETTABLE:
            raise CommandError(
                INVALID_ARGUMENT,
                f"--set {key}: unknown setting {path[0]!r}; a run may set {', '.join(SETTABLE)}",
            )
        value: Any = _value(text.strip())
        for part in reversed(path[1:]):
            value = {part: value}
        out = merged(out, {path[0]: value})
    return out


def tomllib_string(text: str) -> str:
    """``text`` as a TOML basic string, so --model and --provider are never read as numbers."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _settings_of(parts: Parts, base: DatasetRow, changes: dict[str, Any]) -> RunSettings:
    """The base run's settings with the changes, checked as a sidecar's would be."""
    data = merged(dict(base.settings or {}), changes)
    defaults = parts.settings.defaults
    # As in a sidecar: the limit may be tightened, never loosened, and approval is the operator's.
    data["max_cost_usd"] = min(
        float(data.get("max_cost_usd", defaults.max_cost_usd)), defaults.max_cost_usd
    )
    data["auto_approve"] = defaults.auto_approve
    try:
        run = RunSettings.model_validate(data)
        return _preparer(parts).checked(run)
    except ValidationError as exc:
        from ftd.config.loading import _config_error

        raise CommandError(
            INVALID_ARGUMENT, str(_config_error(exc, lambda _loc: "--set", RunSettings))
        ) from None
    except ConfigError as exc:
        raise CommandError(INVALID_ARGUMENT, str(exc)) from None


def _answer(made: DatasetRow, **more: Any) -> dict[str, Any]:
    settings = made.settings or {}
    return {
        "run": run_name(made.id),
        "run_id": made.id,
        "dataset_id": made.root_id,
        "name": made.name,
        "state": made.state,
        "provider": settings.get("provider"),
        "model": settings.get("model"),
        "estimated_cost_usd": made.estimated_cost_usd,
        "approval": (made.report or {}).get("approval"),
        **more,
    }


async def train(parts: Parts, call: Call) -> dict[str, Any]:
    key = arg.required_text(call.args, "dataset")
    base = await find_run(parts, key)
    if base.duplicate_of is not None:
        base = await find_run(parts, str(base.duplicate_of))
    if parse_run(key) is None and base.run_of is not None:
        # A file name means the dataset: its first run's settings are the base.
        base = await find_run(parts, str(base.run_of))
    if not await parts.store.splits(base.id) or not base.settings:
        raise CommandError(
            CONFLICT,
            f"dataset {base.id} ({base.name}) is {base.state}: only a dataset that passed "
            "validation has a split to train on",
        )
    changes = _changes(call)
    run = _settings_of(parts, base, changes)
    key = run_key(run.model_dump(mode="json"))
    for other in await runs_of(parts.store, base.root_id):
        if other.settings and run_key(other.settings) == key:
            raise CommandError(
                CONFLICT,
                f"{run_name(other.id)} of dataset {base.root_id} has these settings already "
                f"({other.state}); `ftd retry {run_name(other.id)}` trains it again once its "
                "job was cancelled or failed",
            )
    made = await _preparer(parts).start_run(
        base, run, {"started_by": call.peer.describe(), "from_run": run_name(base.id)}
    )
    return _answer(made, changed=changes)


async def retry_run(parts: Parts, call: Call, row: dict[str, Any]) -> dict[str, Any]:
    """A submitted run whose job was cancelled or failed: the same run, afresh."""
    jobs = await parts.store.read(
        "SELECT job_id, status FROM jobs WHERE dataset_id = ?", (row["id"],)
    )
    status = jobs[0]["status"] if jobs else None
    if status not in RETRYABLE_JOBS:
        raise CommandError(
            CONFLICT,
            f"{run_name(row['id'])} ({row['name']}) has job {jobs[0]['job_id'] if jobs else '-'}"
            f" {status or 'not yet made'}; only rejected, failed, blocked datasets and runs "
            f"whose job was {' or '.join(RETRYABLE_JOBS)} can be retried",
        )
    base = await find_run(parts, str(row["id"]))
    run = _settings_of(parts, base, {})
    made = await _preparer(parts).start_run(
        base, run, {"retried_by": call.peer.describe(), "retry_of": run_name(base.id)}
    )
    return _answer(
        made,
        retry_of=run_name(base.id),
        previous=f"job {jobs[0]['job_id']} {status}",
        dataset_state=made.state,
    )
