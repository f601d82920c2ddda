"""Token counts against tiktoken itself and the published counting recipe."""

from __future__ import annotations

import base64
import os
import struct
import zlib
from pathlib import Path
from typing import Any

import pytest
import tiktoken

from ftd.catalog import base_name, encoding_name
from ftd.datasets.tokens import (
    IMAGE_BASE_TOKENS,
    TokenCounter,
    find_special_token,
    high_detail_tokens,
    image_size_from_data_url,
    image_tokens,
    require_encodings,
)
from ftd.errors import ConfigError


@pytest.mark.parametrize(
    ("model", "text", "expected"),
    [
        ("gpt-4.1-mini-2025-04-14", "tiktoken is great!", 6),
        ("gpt-4o-2024-08-06", "Hello world", 2),
        ("gpt-3.5-turbo-0125", "tiktoken is great!", 6),
    ],
)
def test_text_counts_match_known_values(model: str, text: str, expected: int) -> None:
    counter = TokenCounter(model)
    assert counter.text(text) == expected
    assert counter.text(text) == len(tiktoken.get_encoding(counter.encoding_name).encode(text))


def test_memoised_and_long_texts_count_the_same() -> None:
    counter = TokenCounter("gpt-4.1-2025-04-14")
    enc = tiktoken.get_encoding("o200k_base")
    long_text = "The quick brown fox jumps over the lazy dog. " * 500
    assert counter.text(long_text) == len(enc.encode(long_text))
    assert counter.text("repeat me") == counter.text("repeat me") == len(enc.encode("repeat me"))


def test_fine_tuned_names_map_to_their_base_encoding() -> None:
    name = "ft:gpt-4.1-mini-2025-04-14:acme:support:abc123"
    # tiktoken's prefix table gets this wrong; ftd must not.
    assert tiktoken.encoding_for_model(name).name == "cl100k_base"
    assert encoding_name(name) == "o200k_base"
    assert base_name(name + ":ckpt-step-100") == "gpt-4.1-mini-2025-04-14"
    assert encoding_name("ft:gpt-3.5-turbo-0125:acme::x") == "cl100k_base"
    assert encoding_name("ft:o4-mini-2025-04-16:acme::x") == "o200k_base"


def test_chat_framing_is_what_real_jobs_billed() -> None:
    counter = TokenCounter("gpt-4o-mini-2024-07-18")
    enc = tiktoken.get_encoding("o200k_base")
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi", "name": "ana"},
        {"role": "assistant", "content": "Hello there."},
    ]
    expected = 1  # the end of the example; training data has no reply priming
    for m in messages:
        expected += 3 + sum(len(enc.encode(v)) for v in m.values())
    expected += 1  # the name
    total, trained = counter.messages(messages)
    assert total == expected
    assert trained == len(enc.encode("Hello there."))


def test_weight_zero_turns_are_billed_but_not_trained() -> None:
    counter = TokenCounter("gpt-4.1-2025-04-14")
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Bad answer", "weight": 0},
        {"role": "user", "content": "Again"},
        {"role": "assistant", "content": "Good answer", "weight": 1},
    ]
    total, trained = counter.messages(messages)
    assert trained == counter.text("Good answer")
    unweighted = [{k: v for k, v in m.items() if k != "weight"} for m in messages]
    assert total == counter.messages(unweighted)[0]
    assert counter.message(messages[1]) == (3 + counter.text("assistant") + 2, 0)


def test_tool_definitions_are_billed_as_their_rendering() -> None:
    counter = TokenCounter("gpt-4o-2024-08-06")
    enc = tiktoken.get_encoding("o200k_base")
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "description": "Get the weather.",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "city": {"type": "string", "description": "City name."},
                        "unit": {"type": "string", "enum": ["c", "f"]},
                    },
                    "required": ["city"],
                },
            },
        }
    ]
    rendered = (
        "# Tools\n\n## functions\n\nnamespace functions {\n\n"
        "// Get the weather.\n"
        "type get_weather = (_: {\n"
        "// City name.\n"
        "city: string,\n"
        'unit?: "c" | "f",\n'
        "}) => any;\n\n"
        "} // namespace functions"
    )
    system = "Be brief."
    joined = len(enc.encode(system + "\n\n" + rendered)) - len(enc.encode(system))
    assert counter.tools(tools, system) == joined
    alone = 3 + len(enc.encode("system")) + len(enc.encode(rendered))
    assert counter.tools(tools) == alone
    messages = [{"role": "user", "content": "Weather?"}, {"role": "assistant", "content": "Sun."}]
    assert counter.example(messages, tools)[0] == counter.messages(messages)[0] + alone


def test_tool_calls_are_messages_to_the_function() -> None:
    counter = TokenCounter("gpt-4.1-2025-04-14")
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    total, trained = counter.message(message)
    produced = 3 + counter.text("assistant") + counter.text(" to=functions.f")
    produced += counter.text('{"a": 1}')
    assert (total, trained) == (produced, produced)
    both = {"role": "assistant", "content": "Calling.", "tool_calls": [call, call]}
    text = 3 + counter.text("assistant") + counter.text("Calling.")
    assert counter.message(both) == (text + 2 * produced, counter.text("Calling.") + 2 * produced)


def test_dpo_bills_the_input_once_per_answer() -> None:
    counter = TokenCounter("gpt-4.1-mini-2025-04-14")
    messages = [{"role": "user", "content": "Say hi"}]
    good = {"role": "assistant", "content": "Hello, friend."}
    bad = {"role": "assistant", "content": "No."}
    prompt, _ = counter.messages(messages)
    billed, trained = counter.example(messages, None, [good, bad])
    assert billed == 2 * prompt + counter.message(good)[0] + counter.message(bad)[0]
    assert trained == counter.text("Hello, friend.") + counter.text("No.")


def _png(width: int, height: int) -> str:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = (
        struct.pack(">I", len(ihdr))
        + b"IHDR"
        + ihdr
        + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    )
    return "data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + chunk).decode()


def test_image_tokens_follow_the_vision_pricing() -> None:
    assert image_tokens({"url": "https://x/a.png", "detail": "low"}) == IMAGE_BASE_TOKENS
    assert image_size_from_data_url(_png(640, 480)) == (640, 480)
    # The vision guide's worked examples.
    assert high_detail_tokens(1024, 1024) == 765
    assert high_detail_tokens(2048, 4096) == 1105
    assert image_tokens({"url": _png(2048, 4096)}) == 1105


@pytest.mark.parametrize("token", ["<|endoftext|>", "<|fim_suffix|>", "<|im_start|>"])
def test_special_tokens_are_found(token: str) -> None:
    assert find_special_token(f"before {token} after") == token
    assert find_special_token("plain <| text |>") is None


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_bulk_loaded_encoding_is_tiktokens_own(name: str) -> None:
    from ftd.datasets.tokens import load_encoding

    mine = load_encoding(name)
    reference = tiktoken.get_encoding(name)
    assert mine is not reference
    assert mine._mergeable_ranks == reference._mergeable_ranks
    assert mine._pat_str == reference._pat_str
    assert mine._special_tokens == reference._special_tokens
    text = "Grüße, 東京! <|endoftext|> 12345 \t\n  spaces"
    assert mine.encode_ordinary(text) == reference.encode_ordinary(text)


def test_bulk_rank_file_must_hold_pairs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ftd.datasets.tokens import load_ranks_in_bulk

    # tiktoken keeps a copy of every file it reads in its cache folder.
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "cache"))
    good = tmp_path / "good.tiktoken"
    good.write_bytes(b"YQ== 0\nYg== 1\n")
    assert load_ranks_in_bulk(str(good)) == {b"a": 0, b"b": 1}
    bad = tmp_path / "bad.tiktoken"
    bad.write_bytes(b"YQ== 0\nYg==\n")
    with pytest.raises(ValueError, match="pairs"):
        load_ranks_in_bulk(str(bad))


def test_the_start_check_reads_the_published_rank_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = Path(os.environ["TIKTOKEN_CACHE_DIR"])
    for item in shared.iterdir():
        (tmp_path / item.name).write_bytes(item.read_bytes())
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    require_encodings(["o200k_base", "cl100k_base"])  # the published files pass


def test_the_start_check_refuses_a_rank_file_that_is_not_the_published_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = Path(os.environ["TIKTOKEN_CACHE_DIR"])
    for item in shared.iterdir():
        data = item.read_bytes()
        # One rank changed: the file still parses, but its hash is not the published one.
        (tmp_path / item.name).write_bytes(data.replace(b" 1000\n", b" 1001\n", 1))
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    # No download either: a fetch of the published file meets a closed port.
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    with pytest.raises(ConfigError, match="o200k_base tokenizer"):
        require_encodings(["o200k_base"])
