"""Together's own line formats: what `ftd validate --provider together` takes and refuses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ftd.cli import main
from ftd.datasets.validate import Options, validate_file

USER = {"role": "user", "content": "What is two plus two?"}
ANSWER = {"role": "assistant", "content": "Four."}
SYSTEM = {"role": "system", "content": "You answer sums."}


def _write(tmp_path: Path, lines: list[Any], pad: int = 12) -> Path:
    """The given lines after ``pad`` good ones, so the file has enough examples."""
    good = [{"messages": [SYSTEM, {**USER, "content": f"sum {i}"}, ANSWER]} for i in range(pad)]
    path = tmp_path / "data.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in [*good, *lines]))
    return path


def _kinds(report: Any, severity: str = "errors") -> dict[str, list[str]]:
    found = getattr(report, severity)
    return {i.kind: [f"{s.line}: {s.message}" for s in i.samples] for i in found}


def _together(path: Path, method: str | None = None) -> Any:
    return validate_file(path, Options(provider="together", method=method, workers=1))


def test_good_conversations_pass_for_together(tmp_path: Path) -> None:
    report = _together(_write(tmp_path, []))
    assert report.accepted
    assert report.model == "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


@pytest.mark.parametrize(
    ("line", "kind", "field"),
    [
        (
            {"messages": [{"role": "developer", "content": "x"}, USER, ANSWER]},
            "invalid_role",
            "messages[0].role",
        ),
        ({"messages": [ANSWER, USER, ANSWER]}, "first_role", "messages[0].role"),
        ({"messages": [USER, USER, ANSWER]}, "role_order", "messages[1].role"),
        ({"messages": [USER, ANSWER, SYSTEM]}, "role_order", "messages[2].role"),
        ({"messages": [USER]}, "no_assistant", "messages"),
        ({"messages": [USER, ANSWER], "id": 7}, "unknown_key", "top level"),
        ({"messages": [USER, {**ANSWER, "weight": 2}]}, "invalid_weight", "messages[1].weight"),
        (
            {"messages": [{**USER, "weight": 0}, {**ANSWER, "weight": 0}]},
            "nothing_to_train",
            "messages",
        ),
        (
            {
                "messages": [
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "what is this?"},
                            {
                                "type": "image_url",
                                "image_url": {"url": "https://example.com/a.png"},
                            },
                        ],
                    },
                    {"role": "assistant", "content": [{"type": "text", "text": "a cat"}]},
                ]
            },
            "invalid_image",
            "messages[0].content[1].image_url.url",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": "hi"}]},
                    ANSWER,
                ]
            },
            "mixed_content",
            "messages",
        ),
    ],
)
def test_together_refuses_naming_line_and_field(
    tmp_path: Path, line: dict[str, Any], kind: str, field: str
) -> None:
    report = _together(_write(tmp_path, [line]))
    errors = _kinds(report)
    assert not report.accepted
    assert kind in errors, errors
    assert errors[kind][0].startswith("13: "), errors[kind]
    assert field in errors[kind][0]


def test_weight_on_a_user_turn_is_together_only(tmp_path: Path) -> None:
    line = {"messages": [{**USER, "weight": 1}, {**ANSWER, "weight": 0}, USER, ANSWER]}
    path = _write(tmp_path, [line])
    assert _together(path).accepted
    openai = validate_file(path, Options(workers=1))
    assert "weight_not_assistant" in _kinds(openai)


def test_last_turn_not_assistant_is_a_warning(tmp_path: Path) -> None:
    report = _together(_write(tmp_path, [{"messages": [USER, ANSWER, USER]}]))
    assert report.accepted
    assert "last_turn_not_assistant" in _kinds(report, "warnings")


def _preference(i: int, **change: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "input": {
            "messages": [
                {"role": "assistant", "content": "Hello."},
                {"role": "user", "content": f"Tell me about {i}."},
            ]
        },
        "preferred_output": [{"role": "assistant", "content": f"{i} is a number."}],
        "non_preferred_output": [{"role": "assistant", "content": "No."}],
    }
    line.update(change)
    return line


def test_preference_lines_as_together_writes_them(tmp_path: Path) -> None:
    """Together's own example opens the input with an assistant turn; OpenAI's check
    has no such line shape, and tools in the input are not Together's."""
    path = tmp_path / "dpo.jsonl"
    path.write_text("".join(json.dumps(_preference(i)) + "\n" for i in range(12)))
    report = _together(path)
    assert report.accepted, _kinds(report)
    assert report.method == "dpo"


@pytest.mark.parametrize(
    ("change", "kind", "field"),
    [
        ({"preferred_output": [ANSWER, ANSWER]}, "dpo_output", "preferred_output"),
        ({"non_preferred_output": [USER]}, "dpo_output", "non_preferred_output[0].role"),
        ({"input": {"messages": [USER, USER]}}, "role_order", "input.messages[1].role"),
        ({"score": 1}, "unknown_key", "top level"),
        ({"input": {"prompt": "x"}}, "missing_key", "input"),
    ],
)
def test_together_refuses_bad_preference_lines(
    tmp_path: Path, change: dict[str, Any], kind: str, field: str
) -> None:
    lines = [_preference(i) for i in range(12)] + [_preference(99, **change)]
    path = tmp_path / "dpo.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    report = _together(path, method="dpo")
    errors = _kinds(report)
    assert kind in errors, errors
    assert errors[kind][0].startswith("13: "), errors[kind]
    assert field in errors[kind][0], errors[kind]


def test_reinforcement_is_not_together_s(tmp_path: Path) -> None:
    report = _together(_write(tmp_path, []), method="reinforcement")
    assert "method_unsupported" in _kinds(report)


def test_command_takes_a_provider_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, [{"messages": [USER, USER, ANSWER]}])
    assert main(["validate", "--provider", "together", "--json", str(path)]) == 1
    report = json.loads(capsys.readouterr().out)
    assert any(e["kind"] == "role_order" for e in report["errors"])
    # The same file as OpenAI reads it: two user turns in a row are fine there.
    assert main(["validate", "--json", str(path)]) == 0


def test_command_takes_a_profile_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[paths]\nstate_dir = "{tmp_path / "state"}"\ndrop_dir = "{tmp_path / "drop"}"\n'
        '[providers.tg]\nkind = "together"\n'
    )
    monkeypatch.setenv("TOGETHER_API_KEY", "k")
    path = _write(tmp_path, [{"messages": [ANSWER, USER, ANSWER]}])
    assert main(["validate", "-c", str(config), "--provider", "tg", str(path)]) == 1
    assert "first_role" in capsys.readouterr().out
    assert main(["validate", "-c", str(config), "--provider", "nosuch", str(path)]) == 2
    assert "no provider profile 'nosuch'" in capsys.readouterr().err
