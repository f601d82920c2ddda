"""ftd's bill against OpenAI's: real jobs whose ``trained_tokens`` public notebooks printed.

Each test names the job it relies on and where its figure and its data were
published; tests/data/billing/README.md says what is kept here and under which
licence.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import orjson

from ftd.datasets.tokens import TokenCounter
from ftd.datasets.validate import Options, validate_file
from ftd.emulator.trainingdata import DatasetSummary, inspect_dataset

DATA = Path(__file__).parent.parent / "data" / "billing"


def _mtsamples_examples() -> list[dict[str, Any]]:
    """The 500 examples of kanha95/OpenAI_Finetuning, each report replaced by a stand-in.

    " x" is one cl100k token however often it repeats, so a stand-in of n
    repeats costs exactly what the real report of n tokens cost.
    """
    data = orjson.loads((DATA / "mtsamples_500_counts.json").read_bytes())
    examples = []
    for user_tokens, answer in data["user_tokens_and_answer"]:
        messages = [
            {"role": "system", "content": data["system"]},
            {"role": "user", "content": " x" * user_tokens},
            {"role": "assistant", "content": answer},
        ]
        examples.append({"messages": messages})
    return examples


def test_plain_chat_bills_what_openai_billed(tmp_path: Path) -> None:
    """Source: kanha95/OpenAI_Finetuning, Custom_Tuning.ipynb @44b2543: job
    ftjob-zXnSyF5e3HLMJms02ngWkHAL (gpt-3.5-turbo-0125, n_epochs=1) printed
    trained_tokens=363094 for fine_tuning_data.jsonl (500 examples).
    """
    examples = _mtsamples_examples()
    counter = TokenCounter("gpt-3.5-turbo-0125")
    assert counter.text(" x" * 3701) == 3701
    assert sum(counter.text(e["messages"][1]["content"]) for e in examples) == 337_394
    billed = sum(counter.example(e["messages"])[0] for e in examples)
    assert billed == 363_094

    path = tmp_path / "mtsamples.jsonl"
    path.write_bytes(b"".join(orjson.dumps(e) + b"\n" for e in examples))
    report = validate_file(path, Options(model="gpt-3.5-turbo-0125", n_epochs=1, workers=1))
    assert report.estimate is not None
    assert report.estimate.billed_tokens == 363_094


def _derpies_examples() -> list[dict[str, Any]]:
    """The 25 examples of drewstaylor/derpies-llm-utils data/default-08-22-2024.jsonl,
    every message's text replaced by a stand-in of its o200k token count."""
    data = orjson.loads((DATA / "derpies_25_counts.json").read_bytes())
    examples = []
    for messages in data["examples"]:
        rebuilt = []
        for role, tokens, *weight in messages:
            message: dict[str, Any] = {"role": role, "content": " x" * tokens}
            if weight:
                message["weight"] = weight[0]
            rebuilt.append(message)
        examples.append({"messages": rebuilt})
    return examples


def test_o200k_multi_turn_with_weight_zero_turns_bills_what_openai_billed() -> None:
    """Source: drewstaylor/derpies-llm-utils, training.py @83eb8cc (its docstring holds the
    answer): job ftjob-uwTC0Z5FZb42OKAPheCbHF2k (gpt-4o-mini-2024-07-18, n_epochs=4)
    printed trained_tokens=6104 for data/default-08-22-2024.jsonl (8,303 bytes,
    25 examples; 2 to 9 messages; 4 assistant turns of weight 0).

    The same framing as on cl100k, per message and per example; and the weight-0
    turns are billed: without them the bill would be 5,976.
    """
    examples = _derpies_examples()
    counter = TokenCounter("gpt-4o-mini-2024-07-18")
    assert counter.encoding_name == "o200k_base"
    assert counter.text(" x" * 50) == 50
    per_epoch = sum(counter.example(e["messages"])[0] for e in examples)
    assert per_epoch * 4 == 6_104
    weighted = [m for e in examples for m in e["messages"] if "weight" in m]
    assert sorted(m["weight"] for m in weighted) == [0, 0, 0, 0, 1, 1, 1, 1]
    unbilled = sum(counter.message(m)[0] for m in weighted if m["weight"] == 0)
    assert (per_epoch - unbilled) * 4 == 5_976


def _drone_bytes() -> bytes:
    data = (DATA / "drone_training.jsonl").read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    assert digest == "1052efb7af92fb1163e94a4c8d6afcb66546661e2f662d48dd21fe7cf53d7537"
    return data


def test_tools_and_tool_calls_bill_within_a_few_percent_of_openai() -> None:
    """Source: openai/openai-cookbook, examples/Fine_tuning_for_function_calling.ipynb
    (rendered at developers.openai.com/cookbook/examples/fine_tuning_for_function_calling):
    job ftjob-84PQg97hoIAKf21IPnhiNlU1 (gpt-3.5-turbo-0125, n_epochs=3) printed
    trained_tokens=145983 for examples/data/drone_training.jsonl @c08702f
    (103 examples, 16 tools without descriptions, one tool call each).
    """
    real = 145_983
    report = validate_file(
        DATA / "drone_training.jsonl", Options(model="gpt-3.5-turbo-0125", workers=1)
    )
    _drone_bytes()
    assert report.examples == 103
    assert report.estimate is not None
    assert report.estimate.n_epochs == 3
    billed = report.estimate.billed_tokens
    # The per-function constants of the counting recipe billed 188,007 (+28.8%);
    # the rendering the model reads lands at 149,382 (+2.3%).
    assert abs(billed - real) / real < 0.03
    assert billed == 149_382


def test_the_emulator_bills_by_the_same_function() -> None:
    """The emulator's trained_tokens per epoch are ftd validate's figure, to the token."""
    for name, data, model in (
        ("drone", _drone_bytes(), "gpt-3.5-turbo-0125"),
        (
            "mtsamples",
            b"".join(orjson.dumps(e) + b"\n" for e in _mtsamples_examples()),
            "gpt-3.5-turbo-0125",
        ),
    ):
        summary = inspect_dataset(
            data, method="supervised", model=model, file_id=f"file-{name}", param="training_file"
        )
        assert isinstance(summary, DatasetSummary), name
        counter = TokenCounter(model)
        expected = 0
        for line in data.splitlines():
            record = orjson.loads(line)
            expected += counter.example(record["messages"], record.get("tools"))[0]
        assert summary.billable_tokens == expected, name
        last = summary
    assert last.billable_tokens == 363_094
