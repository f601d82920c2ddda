"""What a run of the whole pipeline must have left, checked from outside the daemon.

Shared by the crash suite and the fault soak (``tests/reliability/`` and
``bench/``). A workload is a set of files to drop (good ones, a few that must
be rejected, copies that must be recognised as duplicates); the audit reads
the daemon's database (read-only, beside it: WAL allows that), the drop
folder and the emulator's API and stats, and lists every way the outcome
falls short of exactly once: a dataset not in exactly its one expected final
state, a remote file or job made twice or for nothing, a job not followed to
its end, an evaluation item missing or asked too often, a dropped file lost
or changed, a database that fails its integrity check.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import sqlite3
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ftd.store import states
from tests.daemon.harness import Daemon, Emulator, good_lines
from tests.reliability.remote import Remote

SUBMITTED = states.SUBMITTED
REJECTED = states.REJECTED
DUPLICATE = states.DUPLICATE
UPLOAD_NAME = re.compile(r"^ftd-([0-9a-f]{16})-([0-9a-f]+)-(train|validation)\.jsonl$")
# Evaluations run with these settings: no repeated judge calls, so each distinct
# chat request is asked for once per try and the per-body counts are exact.
EVALUATION: dict[str, Any] = {"judge_repeat_sample": 0, "resamples": 500}
EXAMPLES = 120  # per good dataset: about 12 held-out items, 12 validation, 96 training


@dataclass(frozen=True, slots=True)
class Drop:
    """One file the run drops into ``incoming/`` and the final state it must reach."""

    name: str
    data: bytes
    expect: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def workload(count: int, *, seed: int, examples: int = EXAMPLES) -> list[Drop]:
    """``count`` files: every sixth a copy of an earlier one, every seventh too short to train.

    The order is shuffled by ``seed``, with each copy after its original, so
    copies meet their originals at every stage of the pipeline.
    """
    rng = random.Random(seed)
    drops: list[Drop] = []
    originals: list[Drop] = []
    for number in range(count):
        name = f"set-{number:02d}.jsonl"
        if number % 6 == 5 and originals:
            drops.append(Drop(name, rng.choice(originals).data, DUPLICATE))
        elif number % 7 == 3:
            lines = good_lines(5, seed=f"short {number} ")  # under the 10 examples required
            drops.append(Drop(name, ("\n".join(lines) + "\n").encode(), REJECTED))
        else:
            data = ("\n".join(good_lines(examples, seed=f"set {number} ")) + "\n").encode()
            drop = Drop(name, data, SUBMITTED)
            drops.append(drop)
            originals.append(drop)
    return drops


def place(daemon: Daemon, drop: Drop) -> None:
    """Drop a file as a careful producer does: written aside, renamed in."""
    temporary = daemon.incoming / f".{drop.name}.part"
    temporary.write_bytes(drop.data)
    os.replace(temporary, daemon.incoming / drop.name)


# ----------------------------------------------------------------------------- settling


def pending(daemon: Daemon, drops: list[Drop]) -> list[str]:
    """What is still on its way: empty once every drop, job, evaluation and report is done."""
    waiting: list[str] = []
    rows = {r["name"]: r for r in daemon.query("SELECT name, state FROM datasets")}
    for drop in drops:
        row = rows.get(drop.name)
        if row is None:
            waiting.append(f"{drop.name}: not taken yet")
        elif row["state"] not in states.DATASET_FINAL:
            waiting.append(f"{drop.name}: {row['state']}")
    for job in daemon.query("SELECT * FROM jobs ORDER BY id"):
        read_after_end = (job["details_at"] or 0) >= (job["finished_at"] or 0)
        if job["status"] not in states.JOB_FINAL:
            waiting.append(f"{job['job_id']}: {job['status']}")
        elif job["status"] == states.JOB_SUCCEEDED and job["model_ready_at"] is None:
            waiting.append(f"{job['job_id']}: model not probed yet")
        elif job["events_cursor"] is not None or not read_after_end:
            waiting.append(f"{job['job_id']}: events and checkpoints still being read")
    succeeded = daemon.query("SELECT job_id FROM jobs WHERE status = 'succeeded'")
    evaluations = {
        r["job_id"]: r
        for r in daemon.query(
            "SELECT job_id, status, report_path FROM evaluations WHERE kind = 'job'"
        )
    }
    for job in succeeded:
        evaluation = evaluations.get(job["job_id"])
        if evaluation is None:
            waiting.append(f"{job['job_id']}: evaluation not queued")
        elif evaluation["status"] not in ("succeeded", "stopped", "failed"):
            waiting.append(f"{job['job_id']}: evaluation {evaluation['status']}")
        elif evaluation["report_path"] is None:
            waiting.append(f"{job['job_id']}: report not written")
    waiting.extend(
        f"deployment {r['name']}: {r['state']}"
        for r in daemon.query(
            "SELECT name, state FROM deployments WHERE state NOT IN ('deleted', 'failed')"
        )
    )
    return waiting


def wait_settled(daemon: Daemon, drops: list[Drop], *, timeout: float) -> float:
    """Wait until nothing is pending; the seconds it took. Fails naming what is left."""
    started = time.monotonic()
    deadline = started + timeout
    while True:
        left = pending(daemon, drops)
        if not left:
            return time.monotonic() - started
        process = daemon._process
        exited = process is not None and process.poll() is not None
        if exited or time.monotonic() > deadline:
            tail = "\n".join(daemon.log_text().splitlines()[-30:])
            why = "the daemon exited" if exited else f"not settled after {timeout:g} s"
            raise AssertionError(f"{why}: {left[:10]} ({len(left)} in all)\n{tail}")
        time.sleep(0.25)


# ----------------------------------------------------------------------------- the audit


@dataclass(slots=True)
class Audit:
    """Findings, each a sentence naming what and where; all three lists empty is a pass."""

    datasets: int = 0
    by_state: Counter[str] = field(default_factory=Counter)
    remote_files: int = 0
    jobs: int = 0
    evaluations: int = 0
    items: int = 0
    chat_requests: int = 0
    deployments: int = 0  # rows ftd made (the Azure flavour)
    deployments_left: int = 0  # deployments still at the provider once settled
    most_sent: int = 0  # the most times one chat request (the same body) was sent
    integrity: str = ""
    duplicates: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.duplicates or self.lost or self.problems)

    def explain(self) -> str:
        lines = [f"duplicate: {d}" for d in self.duplicates]
        lines += [f"lost: {d}" for d in self.lost]
        lines += [f"problem: {d}" for d in self.problems]
        return "\n".join(lines) or "no findings"


def chat_sends(emulator: Emulator) -> Counter[str]:
    """How many times the emulator (this life of it) received each distinct chat request."""
    return Counter(emulator._control("/_emulator/stats?chat_bodies=1")["chat_bodies"])


def audit(
    daemon: Daemon,
    emulator: Emulator,
    drops: list[Drop],
    *,
    max_sends: int,
    earlier_sends: Counter[str] | None = None,
    flavor: str = "openai",
) -> Audit:
    """Everything the run left, against exactly once.

    ``max_sends``: the most one chat request may have been sent (the pool's
    attempts, times the runs that could each have tried it before its item
    was committed); ``earlier_sends``: what earlier lives of a restarted
    emulator received (see ``chat_sends``).
    """
    found = Audit()
    found.integrity = _integrity(daemon.state_dir / "ftd.db")
    if found.integrity != "ok":
        found.problems.append(f"PRAGMA integrity_check: {found.integrity}")
    rows = _datasets(daemon, drops, found)
    submitted = [r for r in rows.values() if r["state"] == SUBMITTED]
    _drop_folder(daemon, drops, rows, found)
    remote = Remote(emulator, flavor)
    _remote_files(daemon, remote, submitted, found)
    jobs = _jobs(daemon, remote, submitted, found)
    _evaluations(daemon, jobs, found)
    _deployments(daemon, emulator, found)
    sends = chat_sends(emulator) + (earlier_sends or Counter())
    found.chat_requests = sum(sends.values())
    found.most_sent = max(sends.values(), default=0)
    if found.most_sent > max_sends:
        histogram = sorted(Counter(sends.values()).items())
        found.duplicates.append(
            f"a chat request was sent {found.most_sent} times (at most {max_sends} allowed); "
            f"(sends, requests): {histogram}"
        )
    uncounted = emulator._control("/_emulator/stats")["chat_uncounted"]
    if uncounted:
        found.problems.append(f"{uncounted} chat requests went uncounted")
    return found


def _deployments(daemon: Daemon, emulator: Emulator, found: Audit) -> None:
    """Every deployment ftd made is torn down, and none exists that ftd does not list."""
    rows = daemon.query("SELECT name, state FROM deployments")
    found.deployments = len(rows)
    left = emulator.live_deployments()
    found.deployments_left = len(left)
    names = [r["name"] for r in rows]
    for name in sorted({n for n in names if names.count(n) > 1}):
        found.duplicates.append(f"deployment {name}: {names.count(name)} rows")
    unknown = sorted(set(left) - set(names))
    if unknown:
        found.problems.append(f"deployments at the provider that ftd does not list: {unknown}")
    if left:
        found.problems.append(f"deployments left behind: {left}")
    undone = [f"{r['name']} ({r['state']})" for r in rows if r["state"] != "deleted"]
    if undone:
        found.problems.append(f"deployments not torn down: {undone}")


def _integrity(path: Path) -> str:
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        answer = [r[0] for r in db.execute("PRAGMA integrity_check")]
        broken = list(db.execute("PRAGMA foreign_key_check"))
    if broken:
        return f"foreign keys broken: {broken[:5]}"
    return "ok" if answer == ["ok"] else "; ".join(map(str, answer))


def _datasets(daemon: Daemon, drops: list[Drop], found: Audit) -> dict[str, sqlite3.Row]:
    """Each drop: exactly one row, in exactly the final state it should reach."""
    rows: dict[str, sqlite3.Row] = {}
    all_rows = daemon.query("SELECT * FROM datasets ORDER BY id")
    found.datasets = len(all_rows)
    found.by_state = Counter(r["state"] for r in all_rows)
    named = Counter(r["name"] for r in all_rows)
    for name, count in named.items():
        if count > 1:
            found.duplicates.append(f"{name}: {count} dataset rows for one dropped file")
    expected = {d.name for d in drops}
    for row in all_rows:
        if row["name"] not in expected:
            found.problems.append(f"dataset {row['id']} ({row['name']}): not a dropped file")
    for drop in drops:
        matching = [r for r in all_rows if r["name"] == drop.name]
        if not matching:
            found.lost.append(f"{drop.name}: never taken (no dataset row)")
            continue
        row = matching[-1]
        rows[drop.name] = row
        if row["sha256"] != drop.sha256:
            found.problems.append(f"{drop.name}: recorded hash {row['sha256'][:12]} is wrong")
        if row["state"] != drop.expect:
            found.problems.append(
                f"{drop.name}: {row['state']} ({row['error']}), expected {drop.expect}"
            )
    return rows


def _drop_folder(
    daemon: Daemon, drops: list[Drop], rows: dict[str, sqlite3.Row], found: Audit
) -> None:
    """Every dropped file where its record says, with the bytes it was dropped with."""
    final_folder = {SUBMITTED: "processed", DUPLICATE: "processed", REJECTED: "rejected"}
    for drop in drops:
        row = rows.get(drop.name)
        if row is None:
            continue
        files = daemon.query(
            "SELECT * FROM dataset_files WHERE dataset_id = ? AND role = 'dataset'", (row["id"],)
        )
        if len(files) != 1:
            found.problems.append(f"{drop.name}: {len(files)} file records")
            continue
        record = files[0]
        path = Path(record["path"])
        if record["moving_from"] is not None:
            found.problems.append(f"{drop.name}: move from {record['moving_from']} not finished")
        if not path.is_file():
            found.lost.append(f"{drop.name}: not at {path}{_elsewhere(daemon, drop)}")
            continue
        if hashlib.sha256(path.read_bytes()).hexdigest() != drop.sha256:
            found.lost.append(f"{drop.name}: {path} holds other bytes than were dropped")
        folder = final_folder.get(row["state"])
        if folder is not None and path.parent != daemon.drop / folder:
            found.problems.append(f"{drop.name}: ended in {path.parent}, not in {folder}/")
    left = [p.name for p in daemon.incoming.iterdir() if not p.name.startswith(".")]
    if left:
        found.problems.append(f"left in incoming/: {sorted(left)}")
    processing = daemon.drop / "processing"
    stray = sorted(str(p) for p in processing.rglob("*") if p.is_file())
    if stray:
        found.problems.append(f"left in processing/: {stray[:5]}")


def _elsewhere(daemon: Daemon, drop: Drop) -> str:
    """Where a file with the dropped bytes is, if not where its record says."""
    for path in daemon.drop.rglob("*"):
        same_size = path.is_file() and path.stat().st_size == len(drop.data)
        if same_size and hashlib.sha256(path.read_bytes()).hexdigest() == drop.sha256:
            return f" (found at {path})"
    return " (nowhere in the drop folder)"


def _remote_files(
    daemon: Daemon, remote: Remote, submitted: list[sqlite3.Row], found: Audit
) -> None:
    """Per submitted dataset, ``ftd-<sha16>-<tag>-{train,validation}.jsonl`` once each; no more."""
    names = Counter(name for name in remote.filenames() if UPLOAD_NAME.match(name))
    found.remote_files = sum(names.values())
    wanted: set[str] = set()
    for row in submitted:
        sides = [
            s["side"]
            for s in daemon.query(
                "SELECT side FROM splits WHERE dataset_id = ? AND side != 'test' AND examples > 0",
                (row["id"],),
            )
        ]
        for side in sides:
            name = f"ftd-{row['sha256'][:16]}-{row['tag']}-{side}.jsonl"
            wanted.add(name)
            if names[name] == 0:
                found.problems.append(f"{row['name']}: no {side} file at the provider")
    for name, count in sorted(names.items()):
        if count > 1:
            found.duplicates.append(f"{name}: uploaded {count} times")
        if name not in wanted:
            found.duplicates.append(f"{name}: uploaded for no submitted dataset")


def _jobs(
    daemon: Daemon, remote: Remote, submitted: list[sqlite3.Row], found: Audit
) -> list[sqlite3.Row]:
    """At most one job per dataset tag, each followed by ftd to the status the provider gives."""
    held = remote.jobs()
    found.jobs = len(held)
    by_tag: dict[str, list[Any]] = {}
    for job in held:
        by_tag.setdefault(str(job.tag), []).append(job)
    tags = {f"{r['sha256'][:16]}-{r['tag']}": r for r in submitted}
    for tag, jobs in by_tag.items():
        if len(jobs) > 1:
            found.duplicates.append(f"tag {tag}: {len(jobs)} jobs ({[j.id for j in jobs]})")
        if tag not in tags:
            found.duplicates.append(f"tag {tag}: a job for no submitted dataset")
    rows = daemon.query("SELECT * FROM jobs ORDER BY id")
    local = {r["job_id"]: r for r in rows}
    for tag, row in tags.items():
        jobs = by_tag.get(tag, [])
        mine = [r for r in rows if r["dataset_id"] == row["id"]]
        if not jobs or len(mine) != 1 or mine[0]["job_id"] != jobs[-1].id:
            found.problems.append(
                f"{row['name']}: provider jobs {[j.id for j in jobs]}, "
                f"ftd's {[r['job_id'] for r in mine]}"
            )
    for job in held:
        if job.id in local:
            _tracked(daemon, remote, job, local[job.id], found)
    return rows


def _tracked(daemon: Daemon, remote: Remote, job: Any, row: sqlite3.Row, found: Audit) -> None:
    """Followed to its end: final status, model, tokens, results, every event stored once."""
    if row["status"] != job.status or row["status"] not in states.JOB_FINAL:
        found.problems.append(f"{job.id}: ftd says {row['status']}, the provider {job.status}")
        return
    if (row["fine_tuned_model"], row["trained_tokens"]) != (
        job.fine_tuned_model,
        job.trained_tokens,
    ):
        found.problems.append(f"{job.id}: model or trained tokens differ from the provider's")
    if job.status == states.JOB_SUCCEEDED:
        if row["results_parsed_at"] is None or row["model_ready_at"] is None:
            found.problems.append(f"{job.id}: result file or model probe not done")
        if row["events_cursor"] is not None:
            found.problems.append(f"{job.id}: events left unread")
    checkpoints = remote.checkpoint_ids(job.id)
    kept = {
        r[0]
        for r in daemon.query(
            "SELECT checkpoint_id FROM job_checkpoints WHERE job_id = ?", (job.id,)
        )
    }
    if kept != checkpoints:
        found.problems.append(
            f"{job.id}: checkpoints {sorted(kept)}, the provider's {sorted(checkpoints)}"
        )
    events = remote.event_ids(job.id)
    stored = [
        r[0] for r in daemon.query("SELECT event_id FROM job_events WHERE job_id = ?", (job.id,))
    ]
    if len(stored) != len(set(stored)):
        found.duplicates.append(f"{job.id}: an event stored twice")
    if set(stored) != events:
        found.problems.append(
            f"{job.id}: {len(events - set(stored))} events missing, "
            f"{len(set(stored) - events)} unknown to the provider"
        )


def _evaluations(daemon: Daemon, jobs: list[sqlite3.Row], found: Audit) -> None:
    """One complete evaluation per succeeded job: every item once per side, none failed."""
    evaluations = daemon.query("SELECT * FROM evaluations WHERE kind = 'job' ORDER BY id")
    found.evaluations = len(evaluations)
    of_job: dict[str, list[sqlite3.Row]] = {}
    for evaluation in evaluations:
        of_job.setdefault(evaluation["job_id"], []).append(evaluation)
    for job in jobs:
        if job["status"] != states.JOB_SUCCEEDED:
            continue
        mine = of_job.get(job["job_id"], [])
        if len(mine) != 1:
            target = found.duplicates if len(mine) > 1 else found.problems
            target.append(f"{job['job_id']}: {len(mine)} evaluations")
            continue
        evaluation = mine[0]
        label = f"eval-{evaluation['id']} ({job['job_id']})"
        if evaluation["status"] != "succeeded":
            found.problems.append(f"{label}: {evaluation['status']}: {evaluation['error']}")
            continue
        test = daemon.query(
            "SELECT examples FROM splits WHERE dataset_id = ? AND side = 'test'",
            (job["dataset_id"],),
        )
        total = evaluation["total_items"]
        if not test or total != test[0][0]:
            found.problems.append(f"{label}: {total} items for a test split of {test}")
            continue
        items = daemon.query(
            "SELECT item, role, error FROM evaluation_items WHERE evaluation_id = ?",
            (evaluation["id"],),
        )
        found.items += len(items)
        seen = Counter((r["item"], r["role"]) for r in items)
        twice = [key for key, count in seen.items() if count > 1]
        if twice:
            found.duplicates.append(f"{label}: items recorded twice: {twice[:5]}")
        expected = {(i, role) for i in range(total) for role in ("candidate", "base")}
        if set(seen) != expected:
            found.problems.append(
                f"{label}: {len(expected - set(seen))} item rows missing, "
                f"{len(set(seen) - expected)} unexpected"
            )
        failed = [(r["item"], r["role"], r["error"]) for r in items if r["error"]]
        if failed:
            found.problems.append(f"{label}: {len(failed)} items failed, first {failed[0]}")
        summary = json.loads(evaluation["summary"] or "{}")
        if summary.get("progress", {}).get("total") != total:
            found.problems.append(f"{label}: summary progress {summary.get('progress')}")
        report = evaluation["report_path"]
        if report is None or not Path(report).is_file():
            found.problems.append(f"{label}: no report at {report}")
