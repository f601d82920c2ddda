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

from ftd.errors import FtdError

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
    reader = csv.DictReader(io.StringIO(_text(raw)))
    rows: list[tuple[int, dict[str, float | None]]] = []
    for number, record in enumerate(reader, start=2):
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
