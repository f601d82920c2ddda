"""Reading a finished job's result file: a CSV of per-step figures, often base64-encoded.

OpenAI's files say ``step,train_loss,train_accuracy,valid_loss,
valid_mean_token_accuracy`` and came base64-encoded in the real jobs public
notebooks printed; Azure OpenAI's say ``train_mean_token_accuracy`` and add
``full_valid_*``, error-rate and timestamp columns. Both spellings and both
encodings (plain CSV or base64 of it) are read; columns are found by name,
extra columns are ignored and empty cells (steps without validation) are None.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import math
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import anyio

from ftd.errors import FtdError
from ftd.logs import get_logger

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from ftd.providers import Provider

log = get_logger("ftd.results")
# A result file is read to disk up to this size; a real one (a row a step) is far smaller.
MAX_RESULT_BYTES = 64 * 1024 * 1024
# Rows kept from one file: every step of a long job, with a bound on the memory they take.
MAX_RESULT_ROWS = 200_000
_BLOCK = 1 << 20

# Column name in the file -> ftd's metric name.
_COLUMNS = {
    "train_loss": "train_loss",
    "train_accuracy": "train_accuracy",
    "train_mean_token_accuracy": "train_accuracy",
    "valid_loss": "valid_loss",
    "valid_accuracy": "valid_accuracy",
    "valid_mean_token_accuracy": "valid_accuracy",
    "full_valid_loss": "full_valid_loss",
    "full_valid_mean_token_accuracy": "full_valid_accuracy",
}


class ResultFileError(FtdError):
    """A result file that is neither CSV nor base64-encoded CSV."""


def _text(raw: bytes) -> str:
    stripped = raw.lstrip(b"\xef\xbb\xbf").lstrip()
    if stripped.startswith(b"step"):
        return stripped.decode("utf-8")
    try:
        decoded = base64.b64decode(stripped, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ResultFileError(f"not CSV and not base64: {exc}") from exc
    decoded = decoded.lstrip(b"\xef\xbb\xbf").lstrip()
    if not decoded.startswith(b"step"):
        raise ResultFileError("neither the file nor its base64 decoding starts with a step column")
    return decoded.decode("utf-8")


def _number(cell: str | None) -> float | None:
    if cell is None or not cell.strip():
        return None
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_result_file(raw: bytes) -> list[tuple[int, dict[str, float | None]]]:
    """(step, figures) per row, in file order."""
    return _rows(io.StringIO(_text(raw)), MAX_RESULT_ROWS)


def _rows(lines: Iterable[str], max_rows: int) -> list[tuple[int, dict[str, float | None]]]:
    reader = csv.DictReader(lines)
    rows: list[tuple[int, dict[str, float | None]]] = []
    for number, record in enumerate(reader, start=2):
        if len(rows) >= max_rows:
            log.warning("result_file_rows_capped", rows=max_rows)
            break
        step = _number(record.get("step"))
        if step is None:
            raise ResultFileError(f"line {number}: no step number")
        figures: dict[str, float | None] = {}
        for column, name in _COLUMNS.items():
            if column in record:
                value = _number(record[column])
                if value is not None or name not in figures:
                    figures[name] = value
        rows.append((int(step), figures))
    return rows


def _starts_with_step(head: bytes) -> bool:
    return head.lstrip(b"\xef\xbb\xbf").lstrip().startswith(b"step")


def _csv_lines(path: Path) -> Iterator[str]:
    """The file's lines from the first that is not blank, that one's leading space dropped."""
    with path.open(encoding="utf-8-sig", newline="") as text:
        started = False
        for line in text:
            if not started:
                if not line.strip():
                    continue
                line = line.lstrip()
                started = True
            yield line


def _decode_base64(source: Path, target: Path) -> None:
    """Base64 to bytes a block at a time: whitespace dropped, a partial quantum carried over."""
    carry = b""
    with source.open("rb") as encoded, target.open("wb") as out:
        while block := encoded.read(_BLOCK):
            data = carry + b"".join(block.split())
            whole = len(data) - len(data) % 4
            carry = data[whole:]
            try:
                out.write(base64.b64decode(data[:whole], validate=True))
            except (binascii.Error, ValueError) as exc:
                raise ResultFileError(f"not CSV and not base64: {exc}") from exc
        if carry:
            raise ResultFileError("not CSV and not base64: a truncated base64 quantum at the end")


def parse_result_path(
    path: Path, max_rows: int = MAX_RESULT_ROWS
) -> list[tuple[int, dict[str, float | None]]]:
    """(step, figures) per row of a result file on disk, read as a stream, never whole.

    A base64 file is decoded beside it first (``<name>.csv``), then read like a plain one.
    """
    with path.open("rb") as raw:
        head = raw.read(64)
    if not _starts_with_step(head):
        decoded = path.with_name(path.name + ".csv")
        _decode_base64(path, decoded)
        with decoded.open("rb") as raw:
            head = raw.read(64)
        if not _starts_with_step(head):
            raise ResultFileError(
                "neither the file nor its base64 decoding starts with a step column"
            )
        path = decoded
    try:
        return _rows(_csv_lines(path), max_rows)
    except UnicodeDecodeError as exc:
        raise ResultFileError(f"not UTF-8 text: {exc}") from exc


async def fetch_result_file(
    provider: Provider, file_id: str, max_bytes: int = MAX_RESULT_BYTES
) -> list[tuple[int, dict[str, float | None]]]:
    """A result file's rows, downloaded to a private temporary folder and parsed there.

    The download stops at ``max_bytes`` (a RemoteError coded ``answer_too_large``);
    parsing runs in a worker thread so a large file never stalls the event loop.
    """
    with tempfile.TemporaryDirectory(prefix="ftd-results-") as folder:
        path = Path(folder) / "result.csv"
        await provider.download(file_id, path, max_bytes)
        return await anyio.to_thread.run_sync(parse_result_path, path)
