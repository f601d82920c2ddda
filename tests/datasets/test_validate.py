"""The validator against a corpus of real defects: each at its exact line, with its kind."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from ftd.datasets.validate import Options, validate_file
from ftd.errors import InputFileError

if TYPE_CHECKING:
    from ftd.datasets.report import Report

DATA = Path(__file__).resolve().parents[1] / "data" / "datasets"


def findings(report: Report, severity: str) -> set[tuple[int | None, str]]:
    issues = report.errors if severity == "error" else report.warnings
    return {(s.line, i.kind) for i in issues for s in i.samples}


def run(name: str, **options: object) -> Report:
    return validate_file(DATA / name, Options(max_samples=100, **options))  # type: ignore[arg-type]


SUPERVISED_ERRORS = [
    (2, "invalid_json"),
    (3, "invalid_utf8"),
    (4, "not_object"),
    (5, "missing_key"),
    (6, "unknown_key"),
    (7, "wrong_type"),
    (8, "empty_messages"),
    (9, "invalid_role"),
    (10, "no_assistant"),
    (11, "invalid_weight"),
    (12, "weight_not_assistant"),
    (13, "empty_content"),
    (14, "missing_content"),
    (15, "special_token"),
    (16, "tool_call_unmatched"),
    (17, "duplicate_tool_call_id"),
    (18, "invalid_tool_call"),
    (19, "invalid_tool_definition"),
    (20, "image_in_assistant"),
    (21, "too_many_images"),
    (22, "invalid_content_part"),
    (23, "invalid_image"),
    (24, "invalid_name"),
    (25, "unknown_key"),
    (26, "mixed_format"),
    (27, "nothing_to_train"),
    (33, "wrong_type"),
    (34, "missing_key"),
    (35, "invalid_content_part"),
    (36, "missing_key"),
    (37, "invalid_weight"),
    (38, "missing_content"),
    (39, "invalid_tool_call"),
    (40, "empty_content"),
    (41, "invalid_image"),
    (42, "wrong_type"),
    (43, "invalid_json"),
    (44, "invalid_json"),
    (45, "tool_call_unmatched"),
]
SUPERVISED_WARNINGS = [
    (28, "tool_arguments_not_json"),
    (29, "blank_line"),
    (30, "duplicate_example"),
    (31, "no_system_message"),
    (32, "inconsistent_system_prompts"),
]


@pytest.fixture(scope="module")
def supervised() -> Report:
    return run("supervised_defects.jsonl")


def test_every_supervised_defect_is_found_at_its_line(supervised: Report) -> None:
    assert findings(supervised, "error") == set(SUPERVISED_ERRORS)


def test_supervised_warnings_are_found_at_their_lines(supervised: Report) -> None:
    assert set(SUPERVISED_WARNINGS) <= findings(supervised, "warning")


def test_defective_lines_are_not_counted_as_examples(supervised: Report) -> None:
    errored_lines = {line for line, _ in SUPERVISED_ERRORS}
    assert supervised.invalid_examples == len(errored_lines)
    # 55 lines, one blank, the rest valid.
    assert supervised.examples == 55 - 1 - len(errored_lines)
    assert supervised.lines == 55
    assert supervised.method == "supervised"
    assert supervised.method_source == "detected"
    assert not supervised.accepted


def test_json_errors_carry_the_column(supervised: Report) -> None:
    samples = {s.line: s for i in supervised.errors for s in i.samples if i.kind == "invalid_json"}
    assert samples[2].column == 48  # where the unterminated array ends
    assert samples[44].column == 10  # first byte after the object
    utf8 = next(i for i in supervised.errors if i.kind == "invalid_utf8").samples[0]
    assert (utf8.line, utf8.column) == (3, 18)


def test_messages_name_the_json_path(supervised: Report) -> None:
    by_line = {s.line: s.message for i in supervised.errors for s in i.samples}
    assert by_line[13].startswith("messages[1].content:")
    assert '"bot"' in by_line[9]  # values spelled as JSON spells them
    assert "<|endoftext|>" in by_line[15]
    assert "decided by line 1" in by_line[26]


def test_dpo_defects() -> None:
    report = run("dpo_defects.jsonl")
    assert report.method == "dpo"
    assert findings(report, "error") == {
        (11, "dpo_output"),
        (12, "dpo_input_last_role"),
        (13, "missing_key"),
        (15, "unknown_key"),
        (16, "invalid_role"),
        (17, "mixed_format"),
    }
    assert (14, "dpo_identical_outputs") in findings(report, "warning")
    assert report.examples == 11


def test_reinforcement_defects_and_free_fields() -> None:
    report = run("reinforcement_defects.jsonl")
    assert report.method == "reinforcement"
    assert report.model == "o4-mini-2025-04-16"
    assert findings(report, "error") == {
        (11, "rft_last_role"),
        (11, "tool_call_unmatched"),
        (12, "invalid_role"),
    }
    assert report.examples == 11  # line 13's extra nested field is allowed
    assert report.estimate is not None
    assert report.estimate.cost_usd is None
    assert "per hour" in report.estimate.note


def test_method_given_overrides_detection() -> None:
    report = run("dpo_defects.jsonl", method="supervised")
    assert report.method_source == "given"
    kinds = findings(report, "error")
    assert (1, "mixed_format") in kinds
    assert report.examples == 1  # only line 17 is supervised


@pytest.mark.parametrize(
    ("name", "kind"),
    [("empty.jsonl", "empty_file"), ("too_few.jsonl", "too_few_examples")],
)
def test_file_level_errors(name: str, kind: str) -> None:
    report = run(name)
    assert not report.accepted
    assert [i.kind for i in report.errors] == [kind]


def test_bom_and_crlf_are_warnings_only() -> None:
    report = run("bom_crlf.jsonl")
    assert report.accepted
    kinds = {i.kind: i.count for i in report.warnings}
    assert kinds["bom"] == 1
    assert kinds["crlf"] == 12
    assert report.examples == 12


def test_images_need_a_vision_model() -> None:
    assert [i.kind for i in run("vision.jsonl").errors] == ["vision_unsupported"]
    assert run("vision.jsonl", model="gpt-4o-2024-08-06").accepted


def test_method_the_model_cannot_train_is_rejected() -> None:
    report = run("tools.jsonl", model="o4-mini-2025-04-16", method="supervised")
    assert [i.kind for i in report.errors] == ["method_unsupported"]


def test_unknown_model_is_a_warning() -> None:
    report = run("tools.jsonl", model="my-custom-model")
    assert report.accepted
    assert "unknown_model" in {i.kind for i in report.warnings}


def test_over_context_examples_are_warned_not_rejected() -> None:
    report = run("long_example.jsonl", model="gpt-3.5-turbo-0613")
    assert report.accepted
    assert (1, "over_context") in findings(report, "warning")
    assert report.tokens_per_example.max > 4096
    # Billing caps that example at the context size.
    assert report.estimate is not None
    per_epoch = report.estimate.billed_tokens_per_epoch
    assert per_epoch == report.tokens_per_example.total - report.tokens_per_example.max + 4096


def test_tool_calls_and_definitions_are_counted() -> None:
    report = run("tools.jsonl")
    assert report.accepted
    # Every line is the same conversation apart from the order number.
    assert report.tokens_per_example.min == report.tokens_per_example.max
    assert report.trained_tokens_per_example.min > 0


def test_long_line_is_reported_without_being_read(tmp_path: Path) -> None:
    good = (DATA / "tools.jsonl").read_bytes()
    path = tmp_path / "long.jsonl"
    path.write_bytes(good + b'{"messages": "' + b"x" * (1_300_000) + b'"}\n' + good)
    report = validate_file(path, Options(max_line_bytes=1 << 20))
    assert findings(report, "error") == {(13, "line_too_long")}
    assert report.examples == 24
    assert report.lines == 25


def test_unreadable_paths_raise(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        validate_file(tmp_path / "missing.jsonl")
    with pytest.raises(InputFileError, match="directory"):
        validate_file(tmp_path)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    import os

    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(InputFileError, match="not a regular file"):
        validate_file(fifo)


def test_parallel_workers_give_the_same_report_as_one(tmp_path: Path) -> None:
    body = (DATA / "supervised_defects.jsonl").read_bytes()
    path = tmp_path / "big.jsonl"
    path.write_bytes(body * 40)  # 2,200 lines, many chunks at the small size below
    one = validate_file(path, Options(workers=1, chunk_bytes=4096, max_samples=3)).to_json()
    two = validate_file(path, Options(workers=2, chunk_bytes=4096, max_samples=3)).to_json()
    for report in (one, two):
        report.pop("elapsed_seconds")
        report.pop("workers")
    assert one == two
    dup = next(w for w in one["warnings"] if w["kind"] == "duplicate_example")
    # Each copy after the first repeats every valid line of the first copy.
    assert dup["samples"][0] == {"line": 30, "message": "same example as line 1"}
    assert dup["count"] == 39 * 15 + 1  # 15 valid lines per copy
    errors = {e["kind"]: e["count"] for e in one["errors"]}
    assert errors["invalid_json"] == 3 * 40
    # Line numbers continue across chunks.
    last = max(s["line"] for e in one["errors"] for s in e["samples"])
    assert last <= 55 * 40


def _tool_line(called: str, *, with_tools: bool = True) -> str:
    import json

    line: dict[str, object] = {
        "messages": [
            {"role": "system", "content": "You look orders up."},
            {"role": "user", "content": "Where is order 12?"},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": called, "arguments": '{"order_id": "12"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": '{"status": "shipped"}'},
            {"role": "assistant", "content": "It has shipped."},
        ]
    }
    if with_tools:
        line["tools"] = [
            {"type": "function", "function": {"name": "lookup_order", "parameters": {}}}
        ]
    return json.dumps(line) + "\n"


def test_a_call_to_a_function_not_in_tools_is_flagged(tmp_path: Path) -> None:
    path = tmp_path / "calls.jsonl"
    lines = [_tool_line("lookup_order") for _ in range(12)]
    lines[3] = _tool_line("cancel_order")
    lines[7] = _tool_line("lookup_order", with_tools=False)
    path.write_text("".join(lines))
    report = validate_file(path, Options(max_samples=10))
    assert findings(report, "error") == {(4, "tool_call_undefined")}
    assert (8, "tool_call_undefined") in findings(report, "warning")
    message = next(i for i in report.errors if i.kind == "tool_call_undefined").samples[0].message
    assert message.startswith('messages[2].tool_calls[0].function.name: calls "cancel_order"')
    assert '"lookup_order"' in message
    assert report.examples == 11


@pytest.mark.parametrize(
    ("kind", "pack"),
    [
        ("gzip", lambda data: __import__("gzip").compress(data)),
        ("bzip2", lambda data: __import__("bz2").compress(data)),
        ("xz", lambda data: __import__("lzma").compress(data)),
    ],
)
def test_a_compressed_file_is_reported_once(tmp_path: Path, kind: str, pack: object) -> None:
    assert callable(pack)
    path = tmp_path / "tools.jsonl.gz"
    path.write_bytes(pack((DATA / "tools.jsonl").read_bytes() * 20))
    report = validate_file(path, Options(max_samples=10))
    assert [(i.kind, i.count) for i in report.errors] == [("compressed", 1)]
    assert report.errors[0].samples[0].message == f"{kind}-compressed: decompress it first"
    assert report.warnings == []
    assert not report.accepted
    assert report.sha256 == __import__("hashlib").sha256(path.read_bytes()).hexdigest()


def test_a_zip_file_is_reported_once(tmp_path: Path) -> None:
    import zipfile

    path = tmp_path / "data.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(DATA / "tools.jsonl", "tools.jsonl")
    report = validate_file(path)
    assert [i.kind for i in report.errors] == ["compressed"]
    assert "zip-compressed" in report.errors[0].samples[0].message


def test_messages_spell_values_as_json(tmp_path: Path) -> None:
    import json

    good = (DATA / "tools.jsonl").read_text()
    odd = [
        {"messages": [{"role": None, "content": "x"}]},
        {
            "messages": [
                {"role": "user", "content": "x"},
                {"role": "assistant", "content": "y", "weight": True},
            ]
        },
        {"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": [1]}]},
    ]
    path = tmp_path / "odd.jsonl"
    path.write_text(good + "".join(json.dumps(o) + "\n" for o in odd))
    report = validate_file(path, Options(max_samples=10))
    messages = [s.message for i in report.errors for s in i.samples]
    text = "\n".join(messages)
    for python_spelling in ("True", "None", "list", "'"):
        assert python_spelling not in text.replace("'_' or '-'", "")
    assert "not true" in text
    assert "an array" in text or "must be an object" in text
