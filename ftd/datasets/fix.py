"""Writing the lines of a rejected file that passed, for ``ftd validate --fix OUT``.

The validator lists the rejected lines by number; this copies every other
non-blank line, byte for byte apart from a BOM, surrounding white space and a
CRLF ending, into a new file. The original is only read. The target is created
exclusively, so an existing file (the original included) is never overwritten.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ftd.datasets.chunk import line_body
from ftd.datasets.scan import BLOCK_BYTES

if TYPE_CHECKING:
    from collections.abc import Sequence


@dataclass(frozen=True, slots=True)
class Kept:
    kept: int
    rejected: int
    blank: int


def write_valid_lines(
    source: str, target: str, rejected: Sequence[int], *, max_line_bytes: int
) -> Kept:
    """Copy the lines of ``source`` not in ``rejected`` (ascending line numbers) to ``target``.

    Raises FileExistsError when ``target`` exists; a partial target is removed on failure.
    """
    out = open(target, "xb")  # noqa: SIM115 - closed below, removed on failure
    kept = blank = dropped = 0
    pending = iter(rejected)
    next_rejected = next(pending, 0)
    try:
        with out, open(source, "rb") as f:
            number = 0
            while True:
                raw = f.readline(max_line_bytes + 1)
                if not raw:
                    break
                number += 1
                whole = raw.endswith(b"\n") or len(raw) <= max_line_bytes
                while not whole:  # an over-long line: never held, always rejected
                    raw = f.readline(BLOCK_BYTES)
                    whole = not raw or raw.endswith(b"\n")
                    raw = b""
                while next_rejected and next_rejected < number:
                    next_rejected = next(pending, 0)
                if next_rejected == number:
                    dropped += 1
                    continue
                body = line_body(number, raw)
                if not body:
                    blank += 1
                    continue
                out.write(body + b"\n")
                kept += 1
            out.flush()
            os.fsync(out.fileno())
    except BaseException:
        os.unlink(target)
        raise
    return Kept(kept, dropped, blank)
