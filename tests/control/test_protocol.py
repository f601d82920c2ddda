"""The control protocol's framing and its refusals, each with a stable code."""

from __future__ import annotations

import json

import pytest

from ftd.control import protocol


def test_request_round_trip() -> None:
    line = protocol.request_line(7, "show", {"id": "ftjob-1", "note": "naïve"})
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    request = protocol.decode_request(line.rstrip(b"\n"))
    assert request == protocol.Request(7, "show", {"id": "ftjob-1", "note": "naïve"})


def test_args_and_id_may_be_left_out() -> None:
    request = protocol.decode_request(b'{"cmd": "status"}')
    assert request == protocol.Request(None, "status", {})


@pytest.mark.parametrize(
    ("line", "code", "words"),
    [
        (b"not json", protocol.BAD_REQUEST, "not JSON"),
        (b"\xff\xfe", protocol.BAD_REQUEST, "not UTF-8"),
        (b"[1, 2]", protocol.BAD_REQUEST, "not an array"),
        (b'{"id": 1}', protocol.BAD_REQUEST, "cmd must be"),
        (b'{"id": 1, "cmd": ""}', protocol.BAD_REQUEST, "cmd must be"),
        (b'{"id": 1, "cmd": "status", "args": [1]}', protocol.BAD_REQUEST, "args must be"),
        (b'{"id": true, "cmd": "status"}', protocol.BAD_REQUEST, "id must be"),
        (b'{"id": {"a": 1}, "cmd": "status"}', protocol.BAD_REQUEST, "id must be"),
        (b'{"id": 1, "cmd": "status", "extra": 1}', protocol.BAD_REQUEST, "extra"),
        (b'{"v": 2, "id": 1, "cmd": "status"}', protocol.UNSUPPORTED_VERSION, "version 2"),
    ],
)
def test_bad_requests_are_named(line: bytes, code: str, words: str) -> None:
    with pytest.raises(protocol.ProtocolError) as caught:
        protocol.decode_request(line)
    assert caught.value.code == code
    assert words in caught.value.message


def test_the_request_id_travels_with_a_refusal_when_it_was_readable() -> None:
    with pytest.raises(protocol.ProtocolError) as caught:
        protocol.decode_request(b'{"v": 9, "id": "abc", "cmd": "status"}')
    assert caught.value.request_id == "abc"


def test_answers_are_single_lines() -> None:
    ok = json.loads(protocol.encode(protocol.result(3, {"text": "a\nb"}, more=True)))
    assert ok == {"v": 1, "id": 3, "ok": True, "result": {"text": "a\nb"}, "more": True}
    assert protocol.encode(protocol.result(3, "x\ny")).count(b"\n") == 1
    refused = json.loads(protocol.encode(protocol.error(None, protocol.NOT_FOUND, "no job")))
    assert refused["error"] == {"code": "not_found", "message": "no job"}
    assert refused["ok"] is False
