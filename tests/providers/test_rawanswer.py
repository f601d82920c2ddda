"""Raw chat answers: the text, usage and reason ftd reads, each of the type it expects."""

from __future__ import annotations

import json

import pytest

from ftd.errors import RemoteError
from ftd.providers.rawanswer import answer_of


def body(answer: object) -> bytes:
    return json.dumps(answer).encode()


ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1_700_000_000,
    "model": "gpt-4.1-mini-2025-04-14",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Parcel 3 arrives Monday."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 6, "total_tokens": 18},
}


def test_a_well_formed_answer_keeps_what_ftd_reads() -> None:
    answer = answer_of(body(ANSWER))
    assert answer.text == "Parcel 3 arrives Monday."
    assert (answer.prompt_tokens, answer.completion_tokens) == (12, 6)
    assert answer.finish_reason == "stop"
    assert answer.model == "gpt-4.1-mini-2025-04-14"
    assert answer.usage == ANSWER["usage"]


def test_tool_calls_are_the_text_when_there_is_no_content() -> None:
    call = {
        "type": "function",
        "id": "call_1",
        "function": {"name": "track", "arguments": '{"parcel": 3}'},
    }
    message = {"role": "assistant", "content": None, "tool_calls": [call, "junk"]}
    answer = answer_of(body({**ANSWER, "choices": [{"message": message}]}))
    # The SDK's field order, as earlier answers were written (and cached).
    assert answer.text == (
        '[{"id":"call_1","function":{"arguments":"{\\"parcel\\": 3}","name":"track"},'
        '"type":"function"}]'
    )


def test_a_refusal_is_the_text_when_there_is_nothing_else() -> None:
    message = {"role": "assistant", "content": None, "refusal": "I cannot help with that."}
    assert answer_of(body({**ANSWER, "choices": [{"message": message}]})).text == (
        "I cannot help with that."
    )


@pytest.mark.parametrize(
    "usage",
    [None, "12", {"prompt_tokens": "12", "completion_tokens": True}, {"prompt_tokens": -3}],
)
def test_counts_that_are_not_counts_read_as_zero(usage: object) -> None:
    answer = answer_of(body({**ANSWER, "usage": usage}))
    assert (answer.prompt_tokens, answer.completion_tokens) == (0, 0)


@pytest.mark.parametrize(
    "choices", [None, [], "stop", [None], [{"message": "hi"}], [{"message": {"content": 5}}]]
)
def test_choices_of_the_wrong_shape_give_an_empty_text(choices: object) -> None:
    answer = answer_of(body({**ANSWER, "choices": choices}))
    assert answer.text == ""
    assert answer.prompt_tokens == 12


def test_odd_words_read_as_not_said() -> None:
    odd = {**ANSWER, "model": 4, "choices": [{"message": {"content": "x"}, "finish_reason": []}]}
    answer = answer_of(body(odd))
    assert (answer.model, answer.finish_reason) == (None, None)


@pytest.mark.parametrize("raw", [b"<html>502</html>", b"[1, 2]", b"", b'"text"'])
def test_a_body_that_is_no_answer_is_a_retryable_error(raw: bytes) -> None:
    with pytest.raises(RemoteError) as caught:
        answer_of(raw)
    assert caught.value.retryable
    assert caught.value.operation == "chat_completion"


def test_tool_call_text_is_what_the_sdk_objects_wrote() -> None:
    from openai.types.chat import ChatCompletion

    call = {"id": "call_9", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    message = {"role": "assistant", "content": None, "tool_calls": [call, call]}
    answer = {**ANSWER, "choices": [{"index": 0, "message": message, "finish_reason": "stop"}]}
    sdk = ChatCompletion.model_validate(answer).choices[0].message.tool_calls or []
    assert answer_of(body(answer)).text == "[" + ",".join(c.model_dump_json() for c in sdk) + "]"
