"""The split is deterministic per example and keeps test items when a dataset grows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftd.datasets.split import TEST, TRAIN, VALIDATION, split_file


def write(path: Path, n: int, start: int = 0) -> None:
    with path.open("w") as f:
        for i in range(start, start + n):
            msg = [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]
            f.write(json.dumps({"messages": msg}) + "\n")


def canonical(path: Path) -> set[str]:
    return {json.dumps(json.loads(line), sort_keys=True) for line in path.read_text().splitlines()}


def lines(path: Path) -> set[str]:
    return set(path.read_text().splitlines())


def test_every_example_lands_once_with_the_fractions_roughly_kept(tmp_path: Path) -> None:
    src = tmp_path / "d.jsonl"
    write(src, 2000)
    parts = split_file(src, tmp_path / "out", stem="d", validation_fraction=0.1, test_fraction=0.2)
    counts = {side: part.examples for side, part in parts.items()}
    assert sum(counts.values()) == 2000
    assert 300 < counts[TEST] < 500
    assert 130 < counts[VALIDATION] < 270
    every = [lines(parts[s].path) for s in (TRAIN, VALIDATION, TEST)]
    assert not every[0] & every[1]
    assert not every[0] & every[2]
    assert not every[1] & every[2]
    assert not list((tmp_path / "out").glob("*.tmp"))


def test_a_grown_file_keeps_its_test_items(tmp_path: Path) -> None:
    small, grown = tmp_path / "small.jsonl", tmp_path / "grown.jsonl"
    write(small, 300)
    write(grown, 600)
    a = split_file(small, tmp_path / "a", stem="x", validation_fraction=0.1, test_fraction=0.1)
    b = split_file(grown, tmp_path / "b", stem="x", validation_fraction=0.1, test_fraction=0.1)
    for side in (TRAIN, VALIDATION, TEST):
        assert lines(a[side].path) <= lines(b[side].path)


def test_formatting_differences_do_not_move_an_example(tmp_path: Path) -> None:
    one, two = tmp_path / "1.jsonl", tmp_path / "2.jsonl"
    write(one, 200)
    with two.open("w") as f:  # same examples, keys reordered, spaced, CRLF and a BOM
        f.write("\ufeff")
        for line in one.read_text().splitlines():
            obj = json.loads(line)
            reordered = {"messages": [dict(reversed(m.items())) for m in obj["messages"]]}
            f.write(json.dumps(reordered, separators=(" , ", " : ")) + "\r\n\n")
    a = split_file(one, tmp_path / "a", stem="x", validation_fraction=0.2, test_fraction=0.2)
    b = split_file(two, tmp_path / "b", stem="x", validation_fraction=0.2, test_fraction=0.2)
    for side in (TRAIN, VALIDATION, TEST):
        assert canonical(a[side].path) == canonical(b[side].path)
        assert a[side].examples > 0


@pytest.mark.parametrize(("val", "test"), [(0.5, 0.5), (-0.1, 0.1), (0.1, 1.0)])
def test_bad_fractions_are_refused(tmp_path: Path, val: float, test: float) -> None:
    src = tmp_path / "d.jsonl"
    write(src, 10)
    with pytest.raises(ValueError, match="fraction"):
        split_file(src, tmp_path, stem="d", validation_fraction=val, test_fraction=test)
