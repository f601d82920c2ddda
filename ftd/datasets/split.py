"""Deterministic train / validation / test split of an accepted dataset.

Each example's side is decided by a hash of its content alone, not by its
position or a random draw: the same example always lands on the same side, so
a dataset dropped again with more lines keeps its old test items in the test
split and the held-out evaluation stays honest.

The test split also gets a line map (``STEM.test.lines.json``): for each of
its lines, the line of the dropped file it came from, so a report can point
at the line the user wrote rather than at a file the daemon made.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from ftd.datasets.chunk import line_body

if TYPE_CHECKING:
    from collections.abc import Iterator

SPLIT_SALT = b"ftd-split-v1"
TRAIN, VALIDATION, TEST = "train", "validation", "test"
SIDES = (TRAIN, VALIDATION, TEST)


@dataclass(frozen=True, slots=True)
class Part:
    side: str
    path: Path
    examples: int
    sha256: str


def side_of(canonical: bytes, *, validation_fraction: float, test_fraction: float) -> str:
    """Which split an example (its key-sorted JSON) belongs to."""
    digest = hashlib.blake2b(canonical, digest_size=8, key=SPLIT_SALT).digest()
    position = int.from_bytes(digest, "big") / 2**64
    if position < test_fraction:
        return TEST
    if position < test_fraction + validation_fraction:
        return VALIDATION
    return TRAIN


def line_map_path(split: Path) -> Path:
    """Where the original line numbers of a split file's lines are kept."""
    return split.with_name(split.name.removesuffix(".jsonl") + ".lines.json")


def _write_line_map(split: Path, source: str | os.PathLike[str], lines: list[int]) -> None:
    target = line_map_path(split)
    temporary = target.with_name(target.name + ".tmp")
    temporary.write_bytes(orjson.dumps({"source": Path(source).name, "lines": lines}))
    os.replace(temporary, target)


def origin_of(split: Path, line: int) -> tuple[str, int] | None:
    """(dropped file's name, its line) for line ``line`` of a split file, when the map says."""
    try:
        found = orjson.loads(line_map_path(split).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(found, dict):
        return None
    source, lines = found.get("source"), found.get("lines")
    if not isinstance(source, str) or not isinstance(lines, list) or not 1 <= line <= len(lines):
        return None
    origin = lines[line - 1]
    return (source, origin) if type(origin) is int else None


def _examples(source: str | os.PathLike[str]) -> Iterator[tuple[int, Any]]:
    """(line number, example) of an accepted file, in order; blank and unparsable lines skipped."""
    with open(source, "rb") as f:
        for number, raw in enumerate(f, 1):
            body = line_body(number, raw)
            if not body:
                continue
            try:
                yield number, orjson.loads(body)
            except orjson.JSONDecodeError:
                continue


def copy_examples(source: str | os.PathLike[str], target: Path, *, side: str) -> Part:
    """A separate validation or test file, rewritten as the split files are (compact, LF)."""
    temporary = target.with_name(target.name + ".tmp")
    digest = hashlib.sha256()
    count = 0
    origins: list[int] = []
    with temporary.open("wb") as out:
        for number, obj in _examples(source):
            line = orjson.dumps(obj) + b"\n"
            out.write(line)
            digest.update(line)
            count += 1
            origins.append(number)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temporary, target)
    if side == TEST:
        _write_line_map(target, source, origins)
    return Part(side, target, count, digest.hexdigest())


def split_file(
    source: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    stem: str,
    validation_fraction: float,
    test_fraction: float,
) -> dict[str, Part]:
    """Write ``STEM.train.jsonl``, ``.validation.jsonl`` and ``.test.jsonl`` into ``out_dir``.

    Lines are rewritten as compact JSON with LF endings (a BOM, CRLF and blank
    lines are dropped); lines that do not parse are skipped, since only
    accepted files are split. Files are written under temporary names and
    renamed into place, so a crash never leaves a half-written split behind.
    """
    if not (0 <= validation_fraction < 1 and 0 <= test_fraction < 1):
        raise ValueError("split fractions must be in [0, 1)")
    if validation_fraction + test_fraction >= 1:
        raise ValueError("validation and test fractions must leave room for training")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    targets = {side: out / f"{stem}.{side}.jsonl" for side in SIDES}
    temps = {side: path.with_name(path.name + ".tmp") for side, path in targets.items()}
    hashers = {side: hashlib.sha256() for side in SIDES}
    counts = dict.fromkeys(SIDES, 0)
    handles = {side: temps[side].open("wb") for side in SIDES}
    test_origins: list[int] = []
    try:
        for number, obj in _examples(source):
            side = side_of(
                orjson.dumps(obj, option=orjson.OPT_SORT_KEYS),
                validation_fraction=validation_fraction,
                test_fraction=test_fraction,
            )
            line = orjson.dumps(obj) + b"\n"
            handles[side].write(line)
            hashers[side].update(line)
            counts[side] += 1
            if side == TEST:
                test_origins.append(number)
        for handle in handles.values():
            handle.flush()
            os.fsync(handle.fileno())
    finally:
        for handle in handles.values():
            handle.close()
    for side in SIDES:
        os.replace(temps[side], targets[side])
    _write_line_map(targets[TEST], source, test_origins)
    return {
        side: Part(side, targets[side], counts[side], hashers[side].hexdigest()) for side in SIDES
    }
