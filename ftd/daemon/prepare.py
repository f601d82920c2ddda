"""From a claimed file to a dataset ready to upload: duplicate check, sidecar, validation, split.

Every outcome ends with the user's files moved out of ``processing/``: to
``processed/`` (accepted, or a duplicate, with a note beside it) or to
``rejected/`` with ``NAME.errors.json`` beside it. Reports are written before
the state changes, so a crash in between only means writing them again.
"""

from __future__ import annotations

import os
import time
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio

from ftd.config.run import retirement
from ftd.config.sweep import load_sweep
from ftd.daemon import snapshot
from ftd.daemon.files import free_name, settle_moves, write_json
from ftd.daemon.workers import WorkerFailed, WorkerFull, Workers, environment
from ftd.datasets.estimate import estimate as training_estimate
from ftd.errors import ConfigError
from ftd.evaluation import rft
from ftd.evaluation.budget import Pricing
from ftd.evaluation.forecast import forecast
from ftd.evaluation.items import ItemsError
from ftd.logs import get_logger
from ftd.runs import run_key, run_name
from ftd.store import SplitRow, states
from ftd.store.rows import DatasetRow
from ftd.store.runs import insert_run, runs_of

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from ftd.config import DatasetOverrides, RunSettings, Settings
    from ftd.config.paths import DropFolder
    from ftd.store import FileRow, Store

log = get_logger("ftd.daemon.prepare")
WORKER_ATTEMPTS = 3
WORKER_RETRY_SECONDS = 30.0
ERRORS_SUFFIX = ".errors.json"
DUPLICATE_SUFFIX = ".duplicate.json"
MOVE_RETRY_SECONDS = (5.0, 300.0)
# A copy whose original is still being validated looks again this much later.
ORIGINAL_WAIT_SECONDS = 1.0
UNDECIDED = frozenset({states.DETECTED, states.VALIDATING})


class WorkerError(Exception):
    """The validation child process died or answered nonsense."""


class WorkerBlocked(WorkerError):
    """The validation child could not write (a full disk): no fault of the dataset."""


def approve_marker(processed: Path) -> Path:
    """The file whose presence approves a dataset held by the spend guard."""
    return processed.with_name(processed.name + ".approve")


class Preparer:
    def __init__(
        self,
        store: Store,
        drop: DropFolder,
        settings: Callable[[], Settings],
        *,
        splits_dir: Path,
        on_ready: Callable[[], None],
        secret_env: tuple[str, ...] = (),
        snapshots: Path | None = None,
    ) -> None:
        self._store = store
        self._drop = drop
        self._settings = settings
        self._splits_dir = splits_dir
        self._on_ready = on_ready
        self._secret_env = secret_env
        self._snapshots = snapshots or drop.root.parent / "snapshots"
        self._workers = Workers(environment(secret_env))
        # Choosing free names in processed/ or rejected/ and taking them is one
        # step: two datasets of the same name finishing together get two names.
        self._placing = anyio.Lock()

    async def aclose(self) -> None:
        """End the validation processes kept for the next datasets."""
        await self._workers.aclose()

    async def handle(self, row: DatasetRow) -> None:
        if not await self._files_taken(row):
            return
        # A row left in ``validating`` by a handler that could not finish (a
        # locked database, a full disk) is taken up again like a new one.
        if not await self._store.transition(
            row.id, [states.DETECTED, states.VALIDATING], states.VALIDATING
        ):
            return
        files = await self._store.files(row.id)
        original = await self._store.original_of(row) if row.sha256 else None
        waits_for = await self._earlier_undecided(row) if row.sha256 else None
        if waits_for is not None:
            # Dropped with its original (or another copy): whether this is a copy or a
            # new run depends on the earlier one's verdict, so wait for it.
            log.info("dataset_waits_for_original", dataset_id=row.id, original=waits_for)
            await self._store.transition(
                row.id,
                states.VALIDATING,
                states.DETECTED,
                next_attempt_at=time.time() + ORIGINAL_WAIT_SECONDS,
            )
            return
        if row.size_bytes > self._settings().intake.max_file_bytes:
            await self._reject(
                row,
                files,
                _file_errors(
                    row,
                    "too_large",
                    f"{row.size_bytes:,} bytes is over intake.max_file_bytes "
                    f"({self._settings().intake.max_file_bytes:,}); the file was not read",
                ),
            )
            return
        taken = await self._taken(row, files)
        unfit = _first_unfit(taken, files)
        if unfit is not None:
            await self._reject(row, files, _file_errors(row, *unfit))
            return
        try:
            runs = _distinct(self._run_settings(taken))
        except ConfigError as exc:
            # The sidecar is named as the user knows it, not by ftd's own copy.
            copy = taken.copies.get("sidecar")
            folder = str(Path(copy).parent) + os.sep if copy else ""
            message = str(exc).replace(folder, "") if folder else str(exc)
            await self._reject(row, files, _file_errors(row, "bad_sidecar", message))
            return
        if original is not None:
            # Same content: a run already made with these settings makes this a copy;
            # other settings are new runs of the dataset, on its split.
            known = {
                run_key(r.settings): r
                for r in await runs_of(self._store, original.root_id)
                if r.settings
            }
            fresh = [r for r in runs if run_key(r.model_dump(mode="json")) not in known]
            if not fresh:
                same = known[run_key(runs[0].model_dump(mode="json"))]
                await self._duplicate(row, files, same)
                return
            runs = fresh
        run = runs[0]
        try:
            result = await self._validate(row, taken, run)
        except WorkerBlocked as exc:
            await self._wait(row, states.VALIDATING, str(exc))
            return
        except WorkerError as exc:
            await self._worker_failed(row, str(exc))
            return
        if not result["accepted"]:
            await self._reject(row, files, _validation_errors(row, result["reports"]))
            return
        await self._accept(row, files, runs, result, original)

    async def _earlier_undecided(self, row: DatasetRow) -> int | None:
        """An earlier row of the same content still being decided: this one waits for it."""
        undecided = sorted(UNDECIDED)
        found = await self._store.read(
            "SELECT id FROM datasets WHERE sha256 = ? AND id < ? AND duplicate_of IS NULL "
            "AND state IN (?, ?) ORDER BY id LIMIT 1",
            (row.sha256, row.id, *undecided),
        )
        return int(found[0]["id"]) if found else None

    async def _taken(self, row: DatasetRow, files: dict[str, FileRow]) -> snapshot.Taken:
        """The copy made at the claim; made now from the recorded files if there is none."""
        folder = self._snapshots / row.tag
        taken = await anyio.to_thread.run_sync(snapshot.load, folder)
        if taken is not None:
            return taken
        return await anyio.to_thread.run_sync(
            lambda: snapshot.retake(
                self._drop.root,
                files,
                folder,
                row.owner_uid,
                max_bytes=self._settings().intake.max_file_bytes,
            )
        )

    async def _files_taken(self, row: DatasetRow) -> bool:
        """Finish the dataset's recorded moves; False when it must wait (or its file is gone).

        A move that failed (a read-only drop folder, a full disk) is tried again
        later, sooner while the wait is short: after half the time the dataset
        has waited, between MOVE_RETRY_SECONDS.
        """
        files = await self._store.files(row.id)
        if not any(item.moving_from for item in files.values()):
            return True
        try:
            missing = await settle_moves(self._store, row.id, root=self._drop.root)
        except OSError as exc:
            await self._wait(row, states.DETECTED, f"cannot take its files yet: {exc}")
            return False
        if any(item.role == "dataset" for item in missing):
            await self._store.transition(
                row.id,
                states.DETECTED,
                states.MISSING,
                error="the file vanished before ftd took it",
            )
            return False
        return True

    async def _wait(self, row: DatasetRow, state: str, error: str) -> None:
        """Back to ``detected``, due again later: the machine, not the dataset, is in the way.

        No attempt is counted. The wait is half the time the dataset has waited
        so far, within MOVE_RETRY_SECONDS, so a short outage costs little and a
        long one few retries.
        """
        low, high = MOVE_RETRY_SECONDS
        wait = round(min(high, max(low, (time.time() - row.created_at) / 2)), 1)
        log.warning("dataset_waiting", dataset_id=row.id, error=error, retry_in=wait)
        await self._store.transition(
            row.id, state, states.DETECTED, next_attempt_at=time.time() + wait, error=error
        )

    async def _evaluation_forecast(
        self, run: RunSettings, test: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """What evaluating the model on its test split will cost; None when there is none."""
        if test is None or not test.get("examples"):
            return None
        settings = self._settings()
        evaluation = settings.evaluation
        if run.evaluation is not None:
            evaluation = run.evaluation.applied_to(evaluation)
        evaluation = rft.for_run(
            evaluation,
            {
                "method": run.method,
                "reinforcement": run.reinforcement and run.reinforcement.model_dump(),
            },
            graders_chosen=run.evaluation is not None and run.evaluation.graders is not None,
        )

        def pricing(model: str) -> Pricing:
            return Pricing.of(settings.price_for(model))

        try:
            return await anyio.to_thread.run_sync(
                partial(
                    forecast, Path(test["path"]), evaluation, base_model=run.model, pricing=pricing
                )
            )
        except ItemsError as exc:
            log.warning("evaluation_forecast_failed", error=str(exc))
            return None

    def _run_settings(self, taken: snapshot.Taken) -> list[RunSettings]:
        """The runs the sidecar asks for (several under ``[[runs]]``), else the defaults."""
        sidecar = taken.copies.get("sidecar")
        listed: Sequence[DatasetOverrides | None] = (
            load_sweep(Path(sidecar)) if sidecar is not None else [None]
        )
        return [self.run_settings(overrides) for overrides in listed]

    def run_settings(self, overrides: DatasetOverrides | None) -> RunSettings:
        """The defaults with ``overrides`` over them, checked against the provider profiles."""
        return self.checked(self._settings().defaults.merged(overrides))

    def checked(self, run: RunSettings) -> RunSettings:
        """``run`` if its provider profile exists and takes its settings; else ConfigError."""
        profile = self._settings().profile(run.provider)  # an unknown profile rejects it
        refused = retirement(run.model, run.method, profile.kind)
        if refused is not None:
            raise ConfigError("method", refused)
        if run.training_type is not None and profile.kind != "azure":
            raise ConfigError(
                "training_type",
                f"is Azure's training tier; provider profile {run.provider!r} is {profile.kind}",
            )
        return run

    async def _validate(
        self, row: DatasetRow, taken: snapshot.Taken, run: RunSettings
    ) -> dict[str, Any]:
        price = self._settings().price_for(run.model)
        profile = self._settings().profile(run.provider)
        epochs = run.hyperparameters.n_epochs
        stem = Path(row.name).stem
        spec = {
            "dataset": taken.copies["dataset"],
            "companions": {
                role: taken.copies[role] for role in ("validation", "test") if role in taken.copies
            },
            "model": run.model,
            "method": run.method,
            "provider": profile.kind,
            "tokenizer_file": profile.together.tokenizer_for(run.model),
            "n_epochs": epochs if isinstance(epochs, int) else None,
            "price_per_mtok": price.training_per_mtok,
            "price_per_hour": price.training_per_hour,
            "split": {
                "out_dir": str(self._splits_dir / str(row.id)),
                "stem": stem,
                "validation_fraction": run.validation_fraction,
                "test_fraction": run.test_fraction,
                "min_test_examples": run.min_test_examples,
            },
        }
        log.info("validation_started", dataset_id=row.id, name=row.name, model=run.model)
        started = time.perf_counter()
        try:
            result = await self._workers.prepare(spec, size=row.size_bytes)
        except WorkerFull as exc:
            raise WorkerBlocked(str(exc)) from exc
        except WorkerFailed as exc:
            raise WorkerError(str(exc)) from exc
        for role, report in result.get("reports", {}).items():
            if isinstance(report, dict) and role in taken.names:
                report["path"] = taken.names[role]  # as the dropper knows it, not ftd's copy
        log.info(
            "validation_finished",
            dataset_id=row.id,
            accepted=result["accepted"],
            seconds=round(time.perf_counter() - started, 3),
        )
        return result

    async def _worker_failed(self, row: DatasetRow, error: str) -> None:
        if row.attempts + 1 >= WORKER_ATTEMPTS:
            await self._store.transition(
                row.id, states.VALIDATING, states.FAILED, error=error, detail={"error": error}
            )
            return
        await self._store.transition(
            row.id,
            states.VALIDATING,
            states.DETECTED,
            attempts=row.attempts + 1,
            next_attempt_at=time.time() + WORKER_RETRY_SECONDS,
            error=error,
            detail={"error": error},
        )

    async def _destinations(
        self, directory: Path, files: dict[str, FileRow], note: str | None
    ) -> dict[str, Path]:
        """Free names in ``directory`` for the dataset, its sidecar (same stem), companions
        and note (under the role ``note``): free of files and of moves still on record."""
        taken = {
            Path(move.path).name
            for move in await self._store.pending_moves()
            if Path(move.path).parent == directory
        }
        dataset = free_name(directory, Path(files["dataset"].path).name, taken)
        while note is not None and (directory / (dataset.stem + note)).exists():
            taken.add(dataset.name)
            dataset = free_name(directory, Path(files["dataset"].path).name, taken)
        taken.add(dataset.name)
        chosen = {"dataset": dataset}
        if note is not None:
            chosen["note"] = directory / (dataset.stem + note)
            taken.add(chosen["note"].name)
        for role, item in files.items():
            if role == "dataset":
                continue
            name = dataset.stem + ".toml" if role == "sidecar" else Path(item.path).name
            chosen[role] = free_name(directory, name, taken)
            taken.add(chosen[role].name)
        return chosen

    async def _finish(
        self,
        row: DatasetRow,
        files: dict[str, FileRow],
        directory: Path,
        new_state: str,
        note: tuple[str, dict[str, Any]] | None,
        *,
        more_runs: Sequence[dict[str, Any]] = (),
        held: list[int] | None = None,
        **fields: Any,
    ) -> Path:
        """Write the note, change the state with the moves, make the moves; the dataset's path.

        The note is readable by the dropper and ftd only; names are chosen and
        taken under one lock, and every write and move goes through folders ftd
        opened itself (nofollow.py)."""
        async with self._placing:
            targets = await self._destinations(directory, files, note[0] if note else None)
            if note is not None:
                body = note[1]
                await anyio.to_thread.run_sync(
                    lambda: write_json(
                        targets.pop("note"), body, root=self._drop.root, reader_uid=row.owner_uid
                    )
                )
            moves = {role: (files[role].path, str(path)) for role, path in targets.items()}
            held = held if held is not None else []
            async with self._store.transaction() as tx:
                # A sweep's other runs are made with the first: a crash keeps all or none.
                done = await tx.transition(
                    row.id, states.VALIDATING, new_state, moves=moves, **fields
                )
                if done:
                    accepted = await tx.one("SELECT * FROM datasets WHERE id = ?", (row.id,))
                    assert accepted is not None
                    for extra in more_runs:
                        made = await insert_run(tx, DatasetRow.from_row(accepted), **extra)
                        if extra["state"] == states.AWAITING_APPROVAL:
                            held.append(made)
            if done:
                await settle_moves(self._store, row.id, root=self._drop.root)
                work = Path(files["dataset"].path).parent
                if work.parent == self._drop.processing:
                    await anyio.to_thread.run_sync(_remove_empty_tree, work)
                await anyio.to_thread.run_sync(snapshot.discard, self._snapshots / row.tag)
        return targets["dataset"]

    async def _duplicate(
        self, row: DatasetRow, files: dict[str, FileRow], original: DatasetRow
    ) -> None:
        note = {
            "duplicate_of": original.id,
            "original_name": original.name,
            "original_state": original.state,
            "sha256": row.sha256,
            "dataset": original.root_id,
            "run": run_name(original.id),
            "message": (
                f"same content and settings as {run_name(original.id)} of dataset "
                f"{original.root_id} ({original.name}); not uploaded or trained again "
                "(other settings in a sidecar, or `ftd train`, make a new run)"
            ),
        }
        await self._finish(
            row,
            files,
            self._drop.processed,
            states.DUPLICATE,
            (DUPLICATE_SUFFIX, note),
            duplicate_of=original.id,
            detail={"duplicate_of": original.id},
        )

    async def _reject(
        self, row: DatasetRow, files: dict[str, FileRow], errors: dict[str, Any]
    ) -> None:
        summary = "; ".join(_first_message(e) for e in errors["errors"][:3])
        await self._finish(
            row,
            files,
            self._drop.rejected,
            states.REJECTED,
            (ERRORS_SUFFIX, errors),
            report=errors,
            error=summary[:2000],
            detail={"errors": sum(int(e.get("count", 1)) for e in errors["errors"])},
        )

    async def _accept(
        self,
        row: DatasetRow,
        files: dict[str, FileRow],
        runs: Sequence[RunSettings],
        result: dict[str, Any],
        original: DatasetRow | None,
    ) -> None:
        """Accept the dataset as its first run (or, same content, as a new run of the
        earlier dataset on that dataset's split); a sweep's other runs come with it."""
        run = runs[0]
        report = result["reports"]["dataset"]
        if original is not None:
            splits = [
                SplitRow(row.id, side, part.path, part.examples, part.sha256)
                for side, part in (await self._store.splits(original.id)).items()
            ]
        else:
            splits = [
                SplitRow(row.id, side, part["path"], part["examples"], part["sha256"])
                for side, part in result["parts"].items()
            ]
        estimate = report.get("estimate") or {}
        cost = estimate.get("cost_usd")
        new_state, reason = await self._guard(run, cost, splits, report)
        companions = {k: v for k, v in result["reports"].items() if k != "dataset"}
        stored = {**report, "companions": companions, "notes": result.get("notes", [])}
        if original is not None:
            stored["run_of"] = original.root_id
        more_runs = [await self.planned_run(stored, splits, other) for other in runs[1:]]
        fields: dict[str, Any] = {}
        if original is not None:
            fields["run_of"] = original.root_id
        held: list[int] = []  # the sweep's other runs the spend guard holds
        path = await self._finish(
            row,
            files,
            self._drop.processed,
            new_state,
            None,
            more_runs=more_runs,
            held=held,
            report=stored,
            settings=run.model_dump(mode="json"),
            estimated_cost_usd=cost,
            approved_at=time.time() if new_state == states.READY else None,
            splits=splits,
            detail={
                "examples": {s.side: s.examples for s in splits},
                "estimated_cost_usd": cost,
                **({"run_of": original.root_id} if original is not None else {}),
                **({"runs": 1 + len(more_runs)} if more_runs else {}),
            },
            **fields,
        )
        for note in result.get("notes", []):
            log.info("split_note", dataset_id=row.id, note=note)
        if new_state == states.AWAITING_APPROVAL:
            log.warning(
                "approval_needed",
                dataset_id=row.id,
                reason=reason,
                approve_by=f"ftd approve {row.id}, or touch {approve_marker(path)}",
            )
        for run_id in held:
            log.warning(
                "approval_needed",
                dataset_id=run_id,
                run_of=row.id,
                approve_by=f"ftd approve {run_name(run_id)}",
            )
        if new_state == states.READY or len(held) < len(more_runs):
            self._on_ready()

    async def _guard(
        self,
        run: RunSettings,
        cost: float | None,
        splits: Sequence[SplitRow],
        report: dict[str, Any],
    ) -> tuple[str, str | None]:
        """The spend guard for one run: its state (ready or held) and why it is held.

        The run's evaluation forecast, hosting and approval figures go into ``report``.
        """
        test = next((s for s in splits if s.side == "test" and s.examples > 0), None)
        evaluation = await self._evaluation_forecast(
            run, {"path": test.path, "examples": test.examples} if test is not None else None
        )
        if evaluation is not None:
            report["evaluation_estimate"] = evaluation
        else:
            report.pop("evaluation_estimate", None)
        evaluation_cost = float(evaluation["counted_usd"]) if evaluation else 0.0
        hosting = self._hosting_estimate(run, test is not None)
        report.pop("hosting_estimate_usd", None)
        if hosting:
            # Serving the models for their evaluation (Azure's deployments) is part of
            # what the evaluation costs.
            report["hosting_estimate_usd"] = hosting
            evaluation_cost = round(evaluation_cost + hosting, 4)
        total = None if cost is None else cost + evaluation_cost
        within = total is not None and total <= run.max_cost_usd
        new_state = states.READY if within and run.auto_approve else states.AWAITING_APPROVAL
        report.pop("approval", None)
        if new_state == states.READY:
            return new_state, None
        reason = _approval_reason(cost, evaluation_cost, run, within=within)
        report["approval"] = {
            "reason": reason,
            "training_usd": cost,
            "evaluation_usd": evaluation_cost,
            "limit_usd": run.max_cost_usd,
        }
        return new_state, reason

    async def planned_run(
        self, report: Mapping[str, Any] | None, splits: Sequence[SplitRow], run: RunSettings
    ) -> dict[str, Any]:
        """A new run of a dataset whose validation ``report`` and ``splits`` are given:
        its estimate (the dataset's training tokens at this run's model and epochs) and
        the spend guard's decision, as ``insert_run`` takes them."""
        own = {
            key: value
            for key, value in (report or {}).items()
            if key not in ("estimate", "approval", "evaluation_estimate", "hosting_estimate_usd")
        }
        figures = _run_estimate(self._settings(), report, splits, run)
        if figures is not None:
            own["estimate"] = figures
        cost = figures.get("cost_usd") if figures is not None else None
        state, _reason = await self._guard(run, cost, splits, own)
        return {
            "splits": splits,
            "settings": run.model_dump(mode="json"),
            "state": state,
            "report": own,
            "estimated_cost_usd": cost,
        }

    async def start_run(
        self, dataset: DatasetRow, run: RunSettings, detail: Mapping[str, Any]
    ) -> DatasetRow:
        """A run of ``dataset`` started by hand (``ftd train``, ``ftd retry``), on its split."""
        splits = list((await self._store.splits(dataset.id)).values())
        planned = await self.planned_run(dataset.report, splits, run)
        async with self._store.transaction() as tx:
            run_id = await insert_run(tx, dataset, detail=detail, **planned)
        made = await self._store.dataset(run_id)
        assert made is not None
        if made.state == states.AWAITING_APPROVAL:
            log.warning(
                "approval_needed",
                dataset_id=run_id,
                reason=(made.report or {}).get("approval", {}).get("reason"),
                approve_by=f"ftd approve {run_id}",
            )
        else:
            self._on_ready()
        return made

    def _hosting_estimate(self, run: RunSettings, tested: bool) -> float:
        """What serving the models for the evaluation will cost, where the provider bills it.

        One hour per deployment: a deployment lives while it is provisioned, the
        test split is asked and it is torn down, which is well under an hour for
        the splits ftd evaluates live, and hosting is billed by the hour.
        """
        settings = self._settings()
        profile = settings.profile(run.provider)
        if not tested:
            return 0.0
        if profile.kind == "together":
            # A full fine-tune is served on a dedicated endpoint (an hour); a LoRA one is
            # served serverless where its base allows, which only Together can say later.
            full = run.together is not None and run.together.training_type == "full"
            hardware = profile.together.endpoint_hardware is not None
            return profile.together.endpoint_hourly_usd if full and hardware else 0.0
        if profile.kind != "azure" or not profile.azure.can_deploy:
            return 0.0
        if run.evaluation is not None and run.evaluation.enabled is False:
            return 0.0
        if run.evaluation is None and not settings.evaluation.enabled:
            return 0.0
        count = 1 if run.model in profile.azure.deployments else 2
        return round(count * profile.azure.deployment_hourly_usd, 4)


def _run_estimate(
    settings: Settings,
    report: Mapping[str, Any] | None,
    splits: Sequence[SplitRow],
    run: RunSettings,
) -> dict[str, Any] | None:
    """The dataset's training tokens per epoch at this run's model price and epochs."""
    counted = (report or {}).get("estimate") or {}
    per_epoch = counted.get("billed_tokens_per_epoch")
    train = next((s for s in splits if s.side == "train"), None)
    if not isinstance(per_epoch, int) or train is None:
        return None
    price = settings.price_for(run.model)
    epochs = run.hyperparameters.n_epochs
    figures = training_estimate(
        n_examples=train.examples,
        billed_tokens_per_epoch=per_epoch,
        n_epochs=epochs if isinstance(epochs, int) else None,
        price_per_mtok=price.training_per_mtok,
        price_per_hour=price.training_per_hour,
    ).to_json()
    if counted.get("covers"):
        figures["covers"] = counted["covers"]
    return figures


def _distinct(runs: Sequence[RunSettings]) -> list[RunSettings]:
    """A sweep's runs with any run listed twice kept once, in the sidecar's order."""
    seen: dict[str, RunSettings] = {}
    for run in runs:
        seen.setdefault(run_key(run.model_dump(mode="json")), run)
    return list(seen.values())


def _approval_reason(
    training: float | None, evaluation: float, run: RunSettings, *, within: bool
) -> str:
    """Why a dataset waits for a person, with both figures and the limit."""
    if within:
        return "auto_approve is off"
    if training is None:
        return "the training cost cannot be estimated (no price for the model)"
    total = training + evaluation
    return (
        f"estimated ${training:,.2f} training + ${evaluation:,.2f} evaluation = "
        f"${total:,.2f}, over max_cost_usd ${run.max_cost_usd:,.2f}"
    )


def _first_unfit(taken: snapshot.Taken, files: dict[str, FileRow]) -> tuple[str, str] | None:
    """(kind, message) for the first of a dataset's files ftd did not take, if any."""
    for role in ("dataset", "sidecar", "validation", "test"):
        if role in taken.unfit:
            return taken.unfit[role]
        refused = files[role].refused if role in files else None
        if refused is not None:
            return ("bad_sidecar" if role == "sidecar" else f"bad_{role}_file"), refused
    for role in ("dataset", "sidecar", "validation", "test"):
        if role in files and role not in taken.copies:
            kind = "bad_sidecar" if role == "sidecar" else f"bad_{role}_file"
            name = taken.names.get(role, Path(files[role].path).name)
            return kind, f"{name} is no longer the file that was dropped; drop it again"
    return None


def _remove_empty_tree(path: Path) -> None:
    """Remove ftd's own per-dataset folder once every file has left it."""
    for directory, _subdirs, _files in os.walk(path, topdown=False):
        try:
            os.rmdir(directory)
        except OSError:
            return


def _issue(kind: str, message: str) -> dict[str, Any]:
    """A finding about a whole file, shaped like the validator's issues."""
    return {"kind": kind, "count": 1, "samples": [{"line": None, "message": message}]}


def _first_message(issue: dict[str, Any]) -> str:
    samples = issue.get("samples") or [{}]
    line = samples[0].get("line")
    message = str(samples[0].get("message", issue.get("kind", "error")))
    return f"line {line}: {message}" if line else message


def _file_errors(row: DatasetRow, kind: str, message: str) -> dict[str, Any]:
    return {
        "path": row.name,
        "accepted": False,
        "sha256": row.sha256 or None,
        "errors": [_issue(kind, message)],
        "warnings": [],
    }


def _validation_errors(row: DatasetRow, reports: dict[str, Any]) -> dict[str, Any]:
    """The validator's report of the dataset, with its companions' failures beside it."""
    main = dict(reports["dataset"])
    main["path"] = row.name
    if "unreadable" in main:
        main["errors"] = [_issue("unreadable", main.pop("unreadable"))]
    errors = list(main.get("errors", []))
    companions = {}
    for role, report in reports.items():
        if role == "dataset" or report.get("accepted"):
            continue
        companions[role] = report
        message = report.get("unreadable") or (
            f"{len(report.get('errors', []))} kinds of error, listed under companions.{role}"
        )
        errors.append(_issue(f"bad_{role}_file", f"{role} file: {message}"))
    main["errors"] = errors
    if companions:
        main["companions"] = companions
    return main
