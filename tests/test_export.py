"""The export folder's parts: CSV metrics, safe names, and a folder that is never overwritten."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from ftd.export import ExportError, Folder, metrics_csv, safe_name, write_bundle, write_manifest


def test_metrics_csv_has_a_row_per_step_and_blanks_for_what_is_missing() -> None:
    text = metrics_csv(
        [
            {"job_id": "j", "step": 1, "train_loss": 1.5, "valid_loss": None, "source": "event"},
            {"job_id": "j", "step": 2, "train_loss": 1.25, "valid_loss": 1.0, "source": "event"},
        ]
    )
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["step", "train_loss", "valid_loss", "source"]
    assert rows[1:] == [["1", "1.5", "", "event"], ["2", "1.25", "1.0", "event"]]


def test_names_from_the_database_cannot_leave_the_folder() -> None:
    assert safe_name("../../etc/passwd") == "etc_passwd"
    assert safe_name("ft:gpt-4.1-mini:org::x") == "ft_gpt-4.1-mini_org_x"
    assert safe_name("...") == "unnamed"


def test_a_folder_that_holds_anything_is_refused(tmp_path: Path) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(ExportError, match="not empty"):
        Folder(tmp_path).prepare()
    assert (tmp_path / "keep.txt").read_text() == "mine"


def test_the_bundle_becomes_files_listed_in_the_manifest(tmp_path: Path) -> None:
    folder = Folder(tmp_path / "out")
    folder.prepare()
    bundle = {
        "ftd_version": "0.1.0",
        "asked_for": "d.jsonl",
        "dataset": {"id": 1, "name": "d.jsonl", "path": "/srv/d", "settings": '{"model": "m"}'},
        "splits": [{"side": "test", "examples": 2, "size_bytes": 4}],
        "jobs": [{"job": {"job_id": "ftjob-1"}, "events": [], "metrics": [], "checkpoints": []}],
        "evaluations": [],
        "recordings": [
            {"recording": {"id": 3, "name": "a/b"}, "answers": [{"item": 0, "response": "x"}]}
        ],
    }
    folder.write("splits/test.jsonl", b"{}\n{}")
    write_bundle(folder, bundle, "<html></html>")
    write_manifest(folder, bundle)
    root = tmp_path / "out"
    assert json.loads((root / "settings.json").read_text()) == {"model": "m"}
    assert "path" not in json.loads((root / "dataset.json").read_text())
    assert (root / "recordings" / "a_b-3" / "answers.jsonl").read_text() == (
        '{"item": 0, "response": "x"}\n'
    )
    manifest = json.loads((root / "manifest.json").read_text())
    assert {f["path"] for f in manifest["files"]} == {
        "splits/test.jsonl", "dataset.json", "settings.json", "jobs/ftjob-1/job.json",
        "jobs/ftjob-1/events.jsonl", "jobs/ftjob-1/metrics.csv", "jobs/ftjob-1/checkpoints.json",
        "recordings/a_b-3/recording.json", "recordings/a_b-3/answers.jsonl", "report.html",
    }  # fmt: skip
    with pytest.raises(ExportError, match="cannot write"):
        folder.write("report.html", "again")
