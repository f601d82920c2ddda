"""Result files: OpenAI's and Azure's headers, empty cells, base64, and clear refusals."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from ftd import results
from ftd.results import ResultFileError, parse_result_file, parse_result_path

AZURE = (
    b"step,train_loss,train_mean_token_accuracy,valid_loss,valid_mean_token_accuracy,"
    b"full_valid_loss,full_valid_mean_token_accuracy\n"
    b"1,1.5,0.5,,,,\n"
    b"2,1.25,0.625,1.4,0.55,1.35,0.6\n"
)
DOCUMENTED = b"step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n3,0.5,0.9,,\n"
# The first rows of a real OpenAI result file, as the cookbook printed it after
# base64-decoding (examples/Fine_tuning_for_function_calling.ipynb, job
# ftjob-84PQg97hoIAKf21IPnhiNlU1, 2024-06).
OPENAI_REAL = (
    b"step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n"
    b"1,3.63265,0.5,,\n"
    b"2,2.45992,0.80952,,\n"
    b"24,0.00023,1.0,,\n"
)


def test_azure_header() -> None:
    rows = parse_result_file(AZURE)
    assert rows[0] == (
        1,
        {
            "train_loss": 1.5,
            "train_accuracy": 0.5,
            "valid_loss": None,
            "valid_accuracy": None,
            "full_valid_loss": None,
            "full_valid_accuracy": None,
        },
    )
    assert rows[1][1]["full_valid_accuracy"] == 0.6


def test_the_documented_header_and_base64() -> None:
    assert parse_result_file(DOCUMENTED) == [
        (3, {"train_loss": 0.5, "train_accuracy": 0.9, "valid_loss": None, "valid_accuracy": None})
    ]
    assert parse_result_file(base64.b64encode(AZURE)) == parse_result_file(AZURE)


def test_a_real_openai_file_as_served_base64() -> None:
    rows = parse_result_file(base64.b64encode(OPENAI_REAL))
    assert rows == parse_result_file(OPENAI_REAL)
    assert [step for step, _ in rows] == [1, 2, 24]
    assert rows[0][1] == {
        "train_loss": 3.63265,
        "train_accuracy": 0.5,
        "valid_loss": None,
        "valid_accuracy": None,
    }


@pytest.mark.parametrize(
    "raw", [b"\x00\xffnot csv", b"loss,step\n1,2\n", b"step,train_loss\nx,1\n"]
)
def test_what_is_not_a_result_file_is_refused(raw: bytes) -> None:
    with pytest.raises(ResultFileError):
        parse_result_file(raw)


@pytest.mark.parametrize("encode", [False, True])
@pytest.mark.parametrize("raw", [AZURE, DOCUMENTED, OPENAI_REAL, b"\xef\xbb\xbf\n\n  " + AZURE])
def test_a_file_on_disk_reads_as_the_same_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, raw: bytes, encode: bool
) -> None:
    monkeypatch.setattr(results, "_BLOCK", 7)  # quanta split across blocks, newlines among them
    body = base64.encodebytes(raw) if encode else raw
    path = tmp_path / "result.csv"
    path.write_bytes(body)
    assert parse_result_path(path) == parse_result_file(raw)


def test_a_file_on_disk_with_more_rows_than_the_bound_keeps_the_first(tmp_path: Path) -> None:
    path = tmp_path / "result.csv"
    path.write_bytes(b"step,train_loss\n" + b"".join(b"%d,0.5\n" % i for i in range(1, 51)))
    rows = parse_result_path(path, max_rows=20)
    assert [step for step, _ in rows] == list(range(1, 21))


@pytest.mark.parametrize("raw", [b"not a result file at all", b"c3RlcA", b"\xff\xfe" * 50])
def test_what_is_not_a_result_file_on_disk_is_refused(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "result.csv"
    path.write_bytes(raw)
    with pytest.raises(ResultFileError):
        parse_result_path(path)
