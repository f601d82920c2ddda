"""The split is deterministic per example and keeps test items when a dataset grows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftd.datasets.split import (
    TEST,
    TRAIN,
    VALIDATION,
    copy_examples,
    line_map_path,
    origin_of,
    split_file,
)


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


def test_each_test_line_names_its_line_in_the_dropped_file(tmp_path: Path) -> None:
    src = tmp_path / "support.jsonl"
    write(src, 300)
    raw = src.read_text().splitlines()
    # blank lines and a CRLF line move every later example down in the dropped file
    raw.insert(0, "")
    raw.insert(10, "   ")
    raw[20] = raw[20] + "\r"
    src.write_text("\n".join(raw) + "\n")
    dropped = [line.strip() for line in src.read_text().split("\n")]
    parts = split_file(src, tmp_path / "out", stem="s", validation_fraction=0.1, test_fraction=0.2)
    test_lines = parts[TEST].path.read_text().splitlines()
    assert len(test_lines) == parts[TEST].examples > 30
    for number, line in enumerate(test_lines, start=1):
        origin = origin_of(parts[TEST].path, number)
        assert origin is not None
        name, original = origin
        assert name == "support.jsonl"
        assert json.loads(dropped[original - 1]) == json.loads(line)
    assert origin_of(parts[TEST].path, len(test_lines) + 1) is None
    assert origin_of(parts[TRAIN].path, 1) is None  # only the test split is mapped


def test_a_separate_test_file_maps_to_its_own_lines(tmp_path: Path) -> None:
    src = tmp_path / "held-out.jsonl"
    write(src, 5)
    src.write_text("\n" + src.read_text())
    part = copy_examples(src, tmp_path / "s.test.jsonl", side=TEST)
    assert line_map_path(part.path).name == "s.test.lines.json"
    assert [origin_of(part.path, n) for n in (1, 5)] == [
        ("held-out.jsonl", 2),
        ("held-out.jsonl", 6),
    ]
