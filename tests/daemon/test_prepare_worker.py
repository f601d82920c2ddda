"""The validation child: companions, a test share too small to hold out, too few to train."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ftd.daemon.prepare_worker import prepare
from tests.daemon.harness import good_lines


def _spec(tmp_path: Path, count: int, **split: Any) -> dict[str, Any]:
    dataset = tmp_path / "faq.jsonl"
    dataset.write_text("\n".join(good_lines(count)) + "\n")
    plan = {
        "out_dir": str(tmp_path / "splits"),
        "stem": "faq",
        "validation_fraction": 0.1,
        "test_fraction": 0.1,
        "min_test_examples": 10,
    }
    plan.update(split)
    return {
        "dataset": str(dataset),
        "model": "gpt-4.1-mini-2025-04-14",
        "method": "supervised",
        "n_epochs": None,
        "price_per_mtok": 5.0,
        "price_per_hour": None,
        "split": plan,
    }


def test_a_large_enough_file_is_split_three_ways(tmp_path: Path) -> None:
    result = prepare(_spec(tmp_path, 400))
    parts = result["parts"]
    assert result["accepted"] is True
    assert result["notes"] == []
    assert sum(p["examples"] for p in parts.values()) == 400
    assert parts["test"]["examples"] >= 10
    assert result["reports"]["dataset"]["estimate"]["cost_usd"] > 0


def test_too_small_a_test_share_holds_out_nothing(tmp_path: Path) -> None:
    result = prepare(_spec(tmp_path, 60))
    assert result["parts"]["test"]["examples"] == 0
    assert "no test split, so no evaluation" in result["notes"][0]
    assert result["parts"]["train"]["examples"] + result["parts"]["validation"]["examples"] == 60


def test_too_few_to_train_after_the_split_trains_on_everything(tmp_path: Path) -> None:
    result = prepare(_spec(tmp_path, 11, validation_fraction=0.4, min_test_examples=0))
    assert result["parts"]["train"]["examples"] == 11
    assert any("fewer than the 10 required" in note for note in result["notes"])


def test_companion_files_are_validated_and_replace_their_split(tmp_path: Path) -> None:
    spec = _spec(tmp_path, 100, validation_fraction=0.0)
    validation = tmp_path / "faq-val.jsonl"
    validation.write_text("\n".join(good_lines(12)) + "\n")
    spec["companions"] = {"validation": str(validation)}
    result = prepare(spec)
    assert result["parts"]["validation"]["examples"] == 12
    assert result["validation_from"] == "file"
    lines = Path(result["parts"]["validation"]["path"]).read_text().splitlines()
    assert [json.loads(line) for line in lines] == [json.loads(g) for g in good_lines(12)]


def test_a_bad_companion_rejects_the_whole_dataset(tmp_path: Path) -> None:
    spec = _spec(tmp_path, 100)
    broken = tmp_path / "faq-test.jsonl"
    broken.write_text('{"messages": [}\n')
    spec["companions"] = {"test": str(broken), "validation": str(tmp_path / "absent.jsonl")}
    result = prepare(spec)
    assert result["accepted"] is False
    assert result["parts"] is None
    assert result["reports"]["dataset"]["accepted"] is True
    assert result["reports"]["test"]["accepted"] is False
    assert "absent.jsonl" in result["reports"]["validation"]["unreadable"]


def test_the_estimate_bills_the_training_split_only(tmp_path: Path) -> None:
    result = prepare(_spec(tmp_path, 400))
    report = result["reports"]["dataset"]
    estimate, whole = report["estimate"], report["file_estimate"]
    train = result["parts"]["train"]["examples"]
    assert train < 400
    assert estimate["covers"] == f"the training split: {train} of 400 examples"
    # every example of good_lines trains on about the same tokens: the split's share
    assert estimate["billed_tokens_per_epoch"] < whole["billed_tokens_per_epoch"]
    share = estimate["billed_tokens_per_epoch"] / whole["billed_tokens_per_epoch"]
    assert abs(share - train / 400) < 0.02
    assert estimate["n_epochs"] == 3
    assert estimate["billed_tokens"] == 3 * estimate["billed_tokens_per_epoch"]
    assert estimate["cost_usd"] < whole["cost_usd"]
    # counted on the training split file itself, as the provider will count it
    counted = Path(result["parts"]["train"]["path"]).read_text().count("\n")
    assert counted == train


def test_everything_trained_keeps_one_estimate(tmp_path: Path) -> None:
    result = prepare(_spec(tmp_path, 300, validation_fraction=0.0, test_fraction=0.0))
    report = result["reports"]["dataset"]
    assert "file_estimate" not in report
    assert report["estimate"]["covers"] == "the training split: all 300 examples"


def test_an_empty_validation_split_says_why(tmp_path: Path) -> None:
    # at 0.02 each example lands in validation with chance 1 in 50: these 40 miss it
    result = prepare(_spec(tmp_path, 40, validation_fraction=0.02, test_fraction=0.0))
    assert result["parts"]["validation"]["examples"] == 0
    [note] = result["notes"]
    assert "the validation split is empty" in note
    assert "none of the 40 examples fell within validation_fraction 0.02" in note
    assert "set validation_file in a sidecar" in note
