"""Reading test files: supervised and DPO lines, and clear errors for everything else."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest

from ftd.evaluation.batch.source import ItemSource, count_items
from ftd.evaluation.items import ItemsError, iter_items, read_items


def write(path: Path, *records: Any) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


def test_supervised_and_dpo_lines(tmp_path: Path) -> None:
    path = write(
        tmp_path / "t.jsonl",
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Hi?"},
                {"role": "assistant", "content": "Hello.", "weight": 0},
                {"role": "user", "content": [{"type": "text", "text": "Capital of France?"}]},
                {"role": "assistant", "content": "Paris."},
            ]
        },
        "",
        {
            "input": {"messages": [{"role": "user", "content": "Say hi"}]},
            "preferred_output": [{"role": "assistant", "content": "Hi!"}],
            "non_preferred_output": [{"role": "assistant", "content": "No."}],
        },
    )
    first, second = read_items(path)
    assert first.reference == "Paris."
    assert len(first.prompt) == 4
    assert "weight" not in first.prompt[2]  # training-only keys are not sent
    assert first.question == "Capital of France?"
    assert (first.index, first.line) == (0, 1)
    assert second.reference == "Hi!"
    assert (second.index, second.line) == (1, 3)  # the blank line keeps the numbering
    assert first.prompt_sha256 != second.prompt_sha256
    assert read_items(path, max_items=1) == [first]


def test_a_tool_call_answer_is_the_reference(tmp_path: Path) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    path = write(
        tmp_path / "t.jsonl",
        {
            "messages": [
                {"role": "user", "content": "call f"},
                {"role": "assistant", "content": None, "tool_calls": [call]},
            ]
        },
    )
    (item,) = read_items(path)
    assert json.loads(item.reference) == [call]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "not JSON"),
        ([1, 2], "not a JSON object"),
        ({"messages": [{"role": "user", "content": "q"}], "answer": "3"}, "last message"),
        ({"prompt": "q", "completion": "a"}, "neither a supervised example"),
        ({"messages": [{"role": "assistant", "content": "a"}]}, "no user message"),
        ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant"}]}, "no content"),
        ({"input": {"messages": []}, "preferred_output": []}, "input.messages"),
    ],
)
def test_a_line_that_cannot_be_evaluated_is_named(tmp_path: Path, line: Any, message: str) -> None:
    good = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    path = write(tmp_path / "t.jsonl", good, line)
    with pytest.raises(ItemsError, match=message) as caught:
        read_items(path)
    assert caught.value.line == 2
    assert str(caught.value).startswith(f"{path}, line 2: ")


def test_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(ItemsError, match="cannot read") as caught:
        read_items(tmp_path / "absent.jsonl")
    assert caught.value.line is None
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\n")
    with pytest.raises(ItemsError, match="holds no test items"):
        read_items(empty)


def test_an_item_source_reads_the_file_again_without_done_items(tmp_path: Path) -> None:
    lines = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": "a"}]}
        for i in range(7)
    ]
    path = write(tmp_path / "t.jsonl", *lines)
    assert count_items(path, max_items=None, reinforcement=False) == 7
    assert count_items(path, max_items=5, reinforcement=False) == 5
    source = ItemSource(path, None, False, frozenset({1, 4}), 7)
    assert source.count == 5

    async def indices(of: ItemSource, size: int) -> list[list[int]]:
        return [[item.index for item in chunk] async for chunk in of.chunks(size)]

    assert anyio.run(indices, source, 2) == [[0, 2], [3, 5], [6]]
    assert anyio.run(indices, source.first(3), 10) == [[0, 2, 3]]
    assert source.first(3).count == 3
    assert [i.index for i in iter_items(path)] == [i.index for i in read_items(path)]
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(ItemsError, match="holds no test items"):
        count_items(empty, max_items=None, reinforcement=False)
