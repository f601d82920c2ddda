"""The portable folder of a dataset: what a team takes along when it leaves a provider.

Plain files any tool reads, laid out by what they hold::

    manifest.json            what was exported, when, by which ftd, and every file
    dataset.json             the dataset's row and its validation report
    settings.json            the settings it was trained with (model, method, ...)
    splits/SIDE.jsonl        the train, validation and test splits, byte for byte
    jobs/JOB/job.json        the job at the provider
    jobs/JOB/events.jsonl    its history, in the provider's order
    jobs/JOB/metrics.csv     its training metrics, a row per step
    jobs/JOB/checkpoints.json
    evaluations/eval-N/summary.json, items.jsonl
    recordings/NAME/recording.json, answers.jsonl
    report.html              the HTML report

Standard library only: the client writes it, with the caller's rights, into a
folder that must be new or empty, and never replaces a file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

METRIC_COLUMNS = (
    "step",
    "train_loss",
    "valid_loss",
    "train_accuracy",
    "valid_accuracy",
    "full_valid_loss",
    "full_valid_accuracy",
)


class ExportError(Exception):
    """The folder cannot be written: the message names it and why."""


def safe_name(name: str) -> str:
    """A file name of letters, digits, dot, dash and underscore only."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._")
    return cleaned[:120] or "unnamed"


def _decoded(value: object) -> object:
    if isinstance(value, str) and value[:1] in "{[":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _jsonl(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)


def _pretty(value: object) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def metrics_csv(metrics: list[dict[str, Any]]) -> str:
    """A row per step; the known columns first, any others after, in name order."""
    extra = sorted({k for m in metrics for k in m} - set(METRIC_COLUMNS) - {"job_id", "id"})
    columns = [c for c in METRIC_COLUMNS if any(c in m for m in metrics)] + extra
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    for m in metrics:
        writer.writerow(["" if m.get(c) is None else m.get(c) for c in columns])
    return out.getvalue()


class Folder:
    """Writes new files under one root, listing each for the manifest."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: list[dict[str, Any]] = []

    def prepare(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            if any(self.root.iterdir()):
                raise ExportError(f"{self.root} is not empty; export into a new folder")
        except OSError as exc:
            raise ExportError(f"{self.root}: cannot use it: {exc.strerror or exc}") from None

    def write(self, relative: str, data: str | bytes) -> None:
        path = self.root / relative
        raw = data.encode("utf-8") if isinstance(data, str) else data
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            with os.fdopen(fd, "wb") as handle:
                handle.write(raw)
        except OSError as exc:
            raise ExportError(f"{path}: cannot write it: {exc.strerror or exc}") from None
        self.files.append({"path": relative, "bytes": len(raw)})


def write_bundle(folder: Folder, bundle: dict[str, Any], report_html: str | None) -> None:
    """Everything but the splits (the caller streams those into ``splits/``)."""
    dataset = {k: _decoded(v) for k, v in bundle["dataset"].items()}
    dataset.pop("path", None)  # where the daemon keeps it means nothing elsewhere
    folder.write("dataset.json", _pretty(dataset))
    folder.write("settings.json", _pretty(dataset.get("settings")))
    for entry in bundle["jobs"]:
        job = {k: _decoded(v) for k, v in entry["job"].items()}
        where = f"jobs/{safe_name(str(job['job_id']))}"
        folder.write(f"{where}/job.json", _pretty(job))
        events = [{k: _decoded(v) for k, v in e.items()} for e in entry["events"]]
        folder.write(f"{where}/events.jsonl", _jsonl(events))
        folder.write(f"{where}/metrics.csv", metrics_csv(entry["metrics"]))
        folder.write(f"{where}/checkpoints.json", _pretty(entry["checkpoints"]))
    for entry in bundle["evaluations"]:
        where = f"evaluations/eval-{int(entry['evaluation']['id'])}"
        folder.write(
            f"{where}/summary.json",
            _pretty({k: entry[k] for k in ("evaluation", "config", "summary", "promotion")}),
        )
        folder.write(f"{where}/items.jsonl", _jsonl(entry["items"]))
    for entry in bundle["recordings"]:
        recording = entry["recording"]
        where = f"recordings/{safe_name(str(recording['name']))}-{int(recording['id'])}"
        folder.write(f"{where}/recording.json", _pretty(recording))
        folder.write(f"{where}/answers.jsonl", _jsonl(entry["answers"]))
    if report_html is not None:
        folder.write("report.html", report_html)


def write_manifest(folder: Folder, bundle: dict[str, Any]) -> None:
    manifest = {
        "exported_at": time.time(),
        "ftd_version": bundle.get("ftd_version"),
        "asked_for": bundle.get("asked_for"),
        "dataset_id": bundle["dataset"].get("id"),
        "dataset_name": bundle["dataset"].get("name"),
        "splits": bundle["splits"],
        "jobs": [e["job"]["job_id"] for e in bundle["jobs"]],
        "evaluations": [e["evaluation"]["id"] for e in bundle["evaluations"]],
        "recordings": [e["recording"]["name"] for e in bundle["recordings"]],
        "files": list(folder.files),
    }
    folder.write("manifest.json", _pretty(manifest))
