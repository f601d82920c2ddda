"""A real job through the in-process emulator, tracked into a store as the daemon would.

The demo's bundled dataset is validated, recorded with its report and splits,
uploaded, trained at the emulator on a clock the caller moves, and followed by
the real tracker until every event, metric and checkpoint is stored.
"""

from __future__ import annotations

from pathlib import Path

import openai

from ftd.datasets.validate import Options, validate_file
from ftd.emulator.server import Emulator
from ftd.emulator.settings import EmulatorSettings, RuntimeConfig
from ftd.providers.core import CallPolicy
from ftd.providers.openai_api import OpenAIProvider
from ftd.store import Store
from ftd.store.rows import SplitRow
from ftd.tags import INSTANCE_KEY
from ftd.tracker import Tracker
from tests.emulator.helpers import FakeClock

DATA = Path(__file__).resolve().parents[2] / "ftd" / "demo" / "data"
MODEL = "gpt-4.1-mini-2025-04-14"
PRICE = 5.0
N_EPOCHS = 3


def split_lines(source: Path, out_dir: Path, validation_every: int = 8) -> tuple[Path, Path]:
    """Every ``validation_every``-th line to a validation file, the rest to training."""
    lines = source.read_text(encoding="utf-8").splitlines(keepends=True)
    train = out_dir / "train.jsonl"
    valid = out_dir / "validation.jsonl"
    train.write_text("".join(x for i, x in enumerate(lines) if i % validation_every), "utf-8")
    valid.write_text("".join(x for i, x in enumerate(lines) if not i % validation_every), "utf-8")
    return train, valid


async def record_dataset(store: Store, source: Path, train: Path, valid: Path) -> int:
    """The dataset as the daemon leaves it once accepted: its report, settings and splits."""
    report = validate_file(
        source, Options(model=MODEL, n_epochs=N_EPOCHS, prices=lambda _m: (PRICE, None), workers=1)
    ).to_json()
    row = await store.add_dataset(
        sha256=str(report["sha256"]), name=source.name, path=str(source), size_bytes=1
    )
    splits = [
        SplitRow(row.id, side, str(path), len(path.read_bytes().splitlines()), "0" * 64)
        for side, path in (("train", train), ("validation", valid))
    ]
    assert await store.transition(
        row.id,
        "detected",
        "creating_job",
        report=report,
        settings={"model": MODEL, "hyperparameters": {"n_epochs": N_EPOCHS}},
        estimated_cost_usd=report["estimate"]["cost_usd"],
        splits=splits,
    )
    return row.id


async def run_job(store: Store, clock: FakeClock, work_dir: Path) -> tuple[int, str]:
    """Trains the bundled dataset at an in-process emulator; (dataset id, job id) once tracked."""
    source = DATA / "support.jsonl"
    train, valid = split_lines(source, work_dir)
    dataset_id = await record_dataset(store, source, train, valid)
    settings = EmulatorSettings(runtime=RuntimeConfig(seed=5))
    async with (
        Emulator(settings, clock=clock) as emulator,
        openai.AsyncOpenAI(base_url=emulator.base_url, api_key="k", max_retries=0) as client,
    ):
        files = [
            await client.files.create(file=(p.name, p.read_bytes()), purpose="fine-tune")
            for p in (train, valid)
        ]
        metadata = {INSTANCE_KEY: await store.instance()}
        job = await client.fine_tuning.jobs.create(
            model=MODEL,
            training_file=files[0].id,
            validation_file=files[1].id,
            hyperparameters={"n_epochs": N_EPOCHS},
            suffix="support",
            metadata=metadata,
        )
        assert await store.add_job(
            dataset_id,
            expected="creating_job",
            job_id=job.id,
            status=job.status,
            model=MODEL,
            metadata=metadata,
        )

        async def no_wait(_seconds: float) -> None:
            return None

        async def finished() -> None:
            return None

        provider = OpenAIProvider("default", client, policy=CallPolicy(retries=6), sleep=no_wait)
        tracker = Tracker(
            store,
            provider,
            poll_seconds=1.0,
            on_finished=finished,
            price_per_mtok=lambda _model: PRICE,
            clock=clock,
        )
        for _ in range(2000):
            clock.advance(2.0)
            await tracker.cycle()
            row = await store.job(job.id)
            assert row is not None
            done = row.status in ("succeeded", "failed", "cancelled")
            if done and row.events_cursor is None and row.results_parsed_at is not None:
                await provider.close()  # its list pages' aiohttp session
                return dataset_id, job.id
    raise AssertionError(f"job {job.id} was not followed to its end")
