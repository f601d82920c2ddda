"""Open-weight token counts: the model's own tokenizer.json when configured, else a stated bound."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import tiktoken

from ftd.cli import main
from ftd.datasets.validate import Options, validate_file

tokenizers = pytest.importorskip("tokenizers")

LLAMA = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"
WORDS = ["what", "is", "the", "colour", "of", "sky", "number", "blue", "grey", "at", "night"]


def _lines(count: int) -> list[dict[str, Any]]:
    return [
        {
            "messages": [
                {"role": "user", "content": f"what is the colour of the sky at night number {i}"},
                {"role": "assistant", "content": "grey " * (i % 4 + 1) + "blue"},
            ]
        }
        for i in range(count)
    ]


def _dataset(tmp_path: Path, count: int = 20) -> Path:
    path = tmp_path / "sky.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in _lines(count)))
    return path


def _word_tokenizer(folder: Path) -> Path:
    """A tokenizer.json whose tokens are whole words and digits: its counts are known."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, **{w: i + 1 for i, w in enumerate(WORDS)}}
    vocab.update({str(d): len(vocab) + d for d in range(10)})
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "tokenizer.json"
    tokenizer.save(str(path))
    return path


def _own_count(text: str) -> int:
    return sum(1 if not w.isdigit() else len(w) for w in text.split())


def test_own_tokenizer_counts_each_text_with_it(tmp_path: Path) -> None:
    tokenizer = _word_tokenizer(tmp_path / "llama")
    data = _dataset(tmp_path)
    own = validate_file(
        data, Options(provider="together", tokenizer_file=str(tokenizer), workers=1)
    )
    guessed = validate_file(data, Options(provider="together", workers=1))
    o200k = tiktoken.get_encoding("o200k_base")
    texts = [m["content"] for line in _lines(20) for m in line["messages"]]
    difference = sum(_own_count(t) for t in texts) - sum(len(o200k.encode(t)) for t in texts)
    # The per-turn overhead is the same estimate in both; only the texts' counts differ.
    assert own.tokens_per_example.total - guessed.tokens_per_example.total == difference
    assert difference != 0
    assert own.encoding == str(tokenizer)
    report = own.to_json()
    assert report["token_counts"]["exact"] is False
    assert report["token_counts"]["tokenizer"] == str(tokenizer)
    assert "model's own tokenizer" in report["token_counts"]["basis"]


def test_without_a_tokenizer_counts_are_marked_approximate_with_their_bound(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _dataset(tmp_path)
    assert main(["validate", "--provider", "together", "--json", str(data)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["token_counts"] == {
        "exact": False,
        "tokenizer": "o200k_base",
        "basis": report["token_counts"]["basis"],
    }
    assert "-15%..+5%" in report["token_counts"]["basis"]
    assert report["estimate"]["exact"] is False
    assert "o200k_base" in report["estimate"]["approximate"]
    kinds = [w["kind"] for w in report["warnings"]]
    assert "approximate_tokens" in kinds
    assert main(["validate", "--provider", "together", str(data)]) == 0
    text = capsys.readouterr().out
    assert "approximate: tokens and cost are not exact" in text
    assert "-15%..+5% per example" in text


def test_openai_counts_stay_exact(tmp_path: Path) -> None:
    report = validate_file(_dataset(tmp_path), Options(workers=1)).to_json()
    assert report["token_counts"]["exact"] is True
    assert "exact" not in (report["estimate"] or {})
    assert all(w["kind"] != "approximate_tokens" for w in report["warnings"])


def test_configured_per_model_as_a_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "llama"
    tokenizer = _word_tokenizer(folder)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[paths]\nstate_dir = "{tmp_path / "state"}"\ndrop_dir = "{tmp_path / "drop"}"\n'
        '[providers.tg]\nkind = "together"\n'
        f'[providers.tg.together]\ntokenizers = {{ "{LLAMA}" = "{folder}" }}\n'
    )
    monkeypatch.setenv("TOGETHER_API_KEY", "k")
    data = _dataset(tmp_path)
    args = ["validate", "-c", str(config), "--provider", "tg", "--json", str(data)]
    assert main(args) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["token_counts"]["tokenizer"] == str(tokenizer)
    # Another model of the profile has no tokenizer configured: the stated guess.
    assert main([*args[:-1], "--model", "Qwen/Qwen2.5-7B-Instruct", str(data)]) == 0
    assert json.loads(capsys.readouterr().out)["token_counts"]["tokenizer"] == "o200k_base"


def test_a_missing_tokenizer_file_stops_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match=r"nowhere\.json"):
        validate_file(
            _dataset(tmp_path),
            Options(provider="together", tokenizer_file=str(tmp_path / "nowhere.json")),
        )
