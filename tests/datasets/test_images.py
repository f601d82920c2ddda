"""Inline images as OpenAI's vision fine-tuning takes them, checked by the validator."""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import pytest

from ftd.datasets.images import MAX_IMAGE_BYTES, data_url_problem, image_format
from ftd.datasets.validate import Options, validate_file

if TYPE_CHECKING:
    from pathlib import Path

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(17)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(16)
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(16)
GIF = b"GIF89a" + bytes(16)


def data_url(kind: str, data: bytes) -> str:
    return f"data:image/{kind};base64," + base64.b64encode(data).decode()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (data_url("png", PNG), None),
        (data_url("jpeg", JPEG), None),
        (data_url("jpg", JPEG), None),
        (data_url("webp", WEBP), None),
        (data_url("PNG", PNG), None),
        (data_url("png", JPEG), "claims image/png but its bytes are a JPEG image"),
        (data_url("jpeg", b"hello world"), "are not a JPEG image (they start 68 65 6c"),
        (data_url("gif", GIF), "image/gif is not accepted: OpenAI takes JPEG, PNG and WEBP"),
        ("data:image/png;base64,iVBOR%%%", "base64 does not decode (character '%' at offset 5)"),
        ("data:image/png;base64,iVBORw0KG", "base64 does not decode (its length or padding"),
        ("data:image/png;base64,iV==BORw", "base64 does not decode (padding before the end)"),
        ("data:image/png," + "x", "must be base64-encoded"),
        ("data:text/plain;base64,aGk=", "must be a data URL of the form"),
        ("data:image/png;base64", "must be a data URL of the form"),
    ],
)
def test_data_url_problems(url: str, expected: str | None) -> None:
    problem = data_url_problem(url)
    if expected is None:
        assert problem is None
    else:
        assert problem is not None
        assert expected in problem


def test_images_over_10_mib_are_refused() -> None:
    at_limit = PNG + bytes(MAX_IMAGE_BYTES - len(PNG))
    assert data_url_problem(data_url("png", at_limit)) is None
    problem = data_url_problem(data_url("png", at_limit + b"\x00" * 4))
    assert problem is not None
    assert "up to 10 MiB" in problem


def test_image_format_by_signature() -> None:
    assert [image_format(d) for d in (PNG, JPEG, WEBP, GIF, b"BM..", b"text")] == [
        "PNG",
        "JPEG",
        "WEBP",
        "GIF",
        "BMP",
        None,
    ]


def vision_line(url: str, *, role: str = "user") -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "Describe images."},
            {
                "role": role,
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": url}},
                ],
            },
            {"role": "assistant", "content": "A picture."},
        ]
    }


def test_bad_inline_images_are_rejected_with_line_and_path(tmp_path: Path) -> None:
    lines = [vision_line(data_url("png", PNG + bytes([i]))) for i in range(14)]
    lines[2] = vision_line("data:image/png;base64,not*base64")
    lines[4] = vision_line(data_url("png", JPEG))
    lines[6] = vision_line(data_url("gif", GIF))
    lines[8] = vision_line(data_url("png", PNG), role="system")
    path = tmp_path / "vision.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    report = validate_file(path, Options(model="gpt-4o-2024-08-06", max_samples=20))
    found = {(s.line, s.message.split(":")[0]) for i in report.errors for s in i.samples}
    where = "messages[1].content[1].image_url.url"
    assert found == {(3, where), (5, where), (7, where), (9, "messages[1].content[1]")}
    assert report.examples == 10
    assert not report.accepted
