"""Result files: both header spellings, empty cells, base64, and clear refusals."""

from __future__ import annotations

import base64

import pytest

from ftd.results import ResultFileError, parse_result_file

REAL = (
    b"step,train_loss,train_mean_token_accuracy,valid_loss,valid_mean_token_accuracy,"
    b"full_valid_loss,full_valid_mean_token_accuracy\n"
    b"1,1.5,0.5,,,,\n"
    b"2,1.25,0.625,1.4,0.55,1.35,0.6\n"
)
DOCUMENTED = b"step,train_loss,train_accuracy,valid_loss,valid_mean_token_accuracy\n3,0.5,0.9,,\n"


def test_the_observed_header() -> None:
    rows = parse_result_file(REAL)
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
    assert parse_result_file(base64.b64encode(REAL)) == parse_result_file(REAL)


@pytest.mark.parametrize(
    "raw", [b"\x00\xffnot csv", b"loss,step\n1,2\n", b"step,train_loss\nx,1\n"]
)
def test_what_is_not_a_result_file_is_refused(raw: bytes) -> None:
    with pytest.raises(ResultFileError):
        parse_result_file(raw)
