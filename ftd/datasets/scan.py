"""Cutting a file into chunks of whole lines without holding it in memory.

The planner reads the file once, in blocks, hashing it on the way (the daemon
identifies datasets by SHA-256), and yields byte ranges of whole lines for the
validator processes. A line longer than the limit is never held: its start and
end are found and it is reported by number and size.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

BLOCK_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class Chunk:
    offset: int
    length: int
    first_line: int


@dataclass(frozen=True, slots=True)
class LongLine:
    line: int
    offset: int
    length: int


class Planner:
    """Yields Chunk and LongLine items in file order; ``sha256`` and ``size`` are set at the end."""

    def __init__(self, path: str, *, chunk_bytes: int, max_line_bytes: int) -> None:
        self.path = path
        self.chunk_bytes = max(chunk_bytes, 1)
        self.max_line_bytes = max(max_line_bytes, BLOCK_BYTES)
        self.size = 0
        self.lines = 0
        self.sha256 = ""

    def __iter__(self) -> Iterator[Chunk | LongLine]:
        hasher = hashlib.sha256()
        start = 0  # first byte not yet handed out
        start_line = 1  # number of the line that begins at `start`
        complete = 0  # whole lines between `start` and `line_start`
        line_start = 0  # where the current, unfinished line begins
        offset = 0
        newlines = 0
        last = b"\n"
        with open(self.path, "rb", buffering=0) as f:
            while True:
                block = f.read(BLOCK_BYTES)
                if not block:
                    break
                hasher.update(block)
                newlines += block.count(b"\n")
                last = block[-1:]
                first_nl = block.find(b"\n")
                if first_nl >= 0:
                    end = offset + first_nl + 1
                    if end - line_start > self.max_line_bytes:
                        if line_start > start:
                            yield Chunk(start, line_start - start, start_line)
                        yield LongLine(start_line + complete, line_start, end - line_start)
                        start_line += complete + 1
                        complete = 0
                        start = end
                    else:
                        complete += 1
                    complete += block.count(b"\n", first_nl + 1)
                    line_start = offset + block.rfind(b"\n") + 1
                    if line_start - start >= self.chunk_bytes:
                        yield Chunk(start, line_start - start, start_line)
                        start_line += complete
                        complete = 0
                        start = line_start
                offset += len(block)
        self.size = offset
        self.sha256 = hasher.hexdigest()
        self.lines = newlines + (0 if last == b"\n" else 1)
        if offset - line_start > self.max_line_bytes:
            if line_start > start:
                yield Chunk(start, line_start - start, start_line)
            yield LongLine(start_line + complete, line_start, offset - line_start)
        elif offset > start:
            yield Chunk(start, offset - start, start_line)


def head_lines(path: str, *, max_lines: int, max_line_bytes: int) -> Iterator[tuple[int, bytes]]:
    """The first lines of a file, numbered, skipping (not holding) over-long ones."""
    with open(path, "rb") as f:
        number = 0
        while number < max_lines:
            line = f.readline(max_line_bytes + 1)
            if not line:
                return
            number += 1
            if len(line) > max_line_bytes and not line.endswith(b"\n"):
                while line and not line.endswith(b"\n"):  # drain the rest of it
                    line = f.readline(BLOCK_BYTES)
                continue
            yield number, line


def file_size(path: str) -> int:
    return os.stat(path).st_size
