"""The small encoder gives tiktoken's own ids, or declines.

tiktoken stays the reference: every code point is tried in the contexts the
split patterns distinguish (inside a word, after a capital, beside digits and
spaces, before a contraction), then varied texts.
"""

from __future__ import annotations

import random

import pytest
import tiktoken

from ftd.datasets import small_bpe
from ftd.datasets.tokens import TokenCounter, small_encoder

ENCODINGS = ["o200k_base", "cl100k_base"]


def _unbounded(name: str) -> small_bpe.SmallEncoder:
    found = small_encoder(name)
    assert found is not None
    found.budget = 10**12
    return found


def _contexts(char: str) -> str:
    return f"a{char}b {char}{char} A{char}1 {char}'s\n"


@pytest.mark.parametrize("name", ENCODINGS)
def test_every_code_point_is_tiktokens_or_declined(name: str) -> None:
    reference = tiktoken.get_encoding(name)
    small = _unbounded(name)
    taken = declined = 0
    block: list[str] = []
    for code in range(0x110000):
        if 0xD800 <= code < 0xE000:
            continue
        char = chr(code)
        if small.encode_ordinary(char) is None:
            declined += 1
            continue
        taken += 1
        block.append(_contexts(char))
        if len(block) == 1024 or code == 0x10FFFF:
            joined = "".join(block)
            ids = small.encode_ordinary(joined)
            if ids is None or ids != reference.encode_ordinary(joined):
                wrong = [
                    t for t in block if small.encode_ordinary(t) != reference.encode_ordinary(t)
                ]
                pytest.fail(f"{name}: {len(wrong)} differ, first {wrong[:1]!r}")
            block = []
    # Latin, Cyrillic, CJK and the private-use areas are taken; unassigned code points not.
    assert taken > 200_000
    assert declined > 800_000


@pytest.mark.parametrize("name", ENCODINGS)
def test_varied_texts_give_tiktokens_ids(name: str) -> None:
    reference = tiktoken.get_encoding(name)
    small = _unbounded(name)
    rng = random.Random(7)
    alphabet = (
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
        " \t\n\r  '\"!?.,;:-_/\\()[]{}<>@#$%^&*+=~`|"
        "éèüßñçøåÆŒ東京大阪你好世界한국어Привет мирΑλφαβητο עברית العربية हिन्दी ไทย"
    )
    checked = 0
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 120)))
        ids = small.encode_ordinary(text)
        assert ids is not None, text
        assert ids == reference.encode_ordinary(text), text
        checked += 1
    prose = (
        "Don't we'll they're I'M YOU'VE 1234567 3.14159 \n\n\n  indented\tcode() {}\r\n"
        "    return x ** 2  # squares\n" + "word " * 50 + "longwordwithoutspaces" * 5
    )
    assert small.encode_ordinary(prose) == reference.encode_ordinary(prose)
    assert checked == 3000


def test_lone_surrogates_raise_as_tiktokens_core_does() -> None:
    small = _unbounded("o200k_base")
    with pytest.raises(UnicodeEncodeError):
        small.encode_ordinary("broken \ud800 text")


def test_the_budget_hands_over_to_tiktoken() -> None:
    small = _unbounded("o200k_base")
    small.budget = 50
    assert small.encode_ordinary("short text") is not None
    assert small.encode_ordinary("a longer text " * 20) is None
    assert small.budget == 0
    assert small.encode_ordinary("short text") is None


def test_a_long_run_without_spaces_goes_to_tiktoken() -> None:
    small = _unbounded("o200k_base")
    run = "x" * (small_bpe.MAX_PIECE_BYTES + 1) + "q"
    assert small.encode_ordinary(run) is None


def test_a_counter_counts_the_same_before_and_after_handing_over() -> None:
    reference = tiktoken.get_encoding("o200k_base")
    counter = TokenCounter("gpt-4o-mini-2024-07-18")
    texts = ["Hello, world!", "Grüße aus Köln", "x" * 300, "after the hand-over", "lone \udfff"]
    counts = [counter.text(text) for text in texts]
    fixed = [t.encode("utf-16", "surrogatepass").decode("utf-16", "replace") for t in texts]
    assert counts == [len(reference.encode_ordinary(t)) for t in fixed]
    # The run of 300 letters needed tiktoken's encoder, which the counter then kept.
    assert counter._small is None


def test_counters_of_one_encoding_share_one_small_encoder_until_tiktokens_is_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from ftd.datasets import tokens

    monkeypatch.setattr(tokens, "_LOADED", {})
    monkeypatch.setattr(tokens, "_SMALL", {})
    first = TokenCounter("gpt-4o-mini-2024-07-18")
    second = TokenCounter("gpt-4.1-2025-04-14")  # another model, the same encoding
    assert first.text("Hello there") == second.text("Hello there") == 2
    assert first._small is not None
    assert first._small is second._small
    # Built for a big file, tiktoken's encoder lets the small one go.
    tokens.load_encoding("o200k_base")
    assert "o200k_base" not in tokens._SMALL
    assert tokens.shared_small_encoder("o200k_base") is None
    assert first.text("Hello again") == 2
    assert first._small is None
