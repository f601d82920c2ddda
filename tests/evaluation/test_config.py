"""[evaluation] settings and a sidecar's [evaluation] table: values, errors naming the key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ftd.config import (
    EvaluationOverrides,
    EvaluationSettings,
    Gate,
    load_overrides,
    load_settings,
)
from ftd.errors import ConfigError


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(("FTD_", "OPENAI_", "AZURE_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def load(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> EvaluationSettings:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return load_settings(path, {"HOME": str(tmp_path / "home"), **(env or {})}).evaluation


def fails(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, text)
    return caught.value


def test_defaults() -> None:
    settings = EvaluationSettings()
    assert settings.enabled
    assert settings.graders == ["normalized", "f1", "judge", "pairwise"]
    assert settings.primary_grader == "judge"
    assert settings.max_cost_usd == 5.0
    assert settings.gates == {}


def test_a_full_section_loads(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        """
[evaluation]
graders = ["exact", "json", "judge"]
concurrency = 16
model_concurrency = { "gpt-4.1-mini-2025-04-14" = 4 }
judge_model = "gpt-4.1-mini"
margins = { judge = 0.25 }
promote_command = ["/usr/bin/deploy", "{model}"]
max_cost_usd = 1.5

[evaluation.gates.good]
grader = "judge"
min_mean = 4.0
verdict = "better"
""",
    )
    assert settings.graders == ["exact", "json", "judge"]
    assert settings.concurrency_for("gpt-4.1-mini-2025-04-14") == 4
    assert settings.concurrency_for("ft:gpt-4.1-mini-2025-04-14:org:x:abc") == 4
    assert settings.concurrency_for("gpt-4o") == 16
    assert settings.margin_for("judge") == 0.25
    assert settings.margin_for("f1") == 0.0
    assert settings.gates["good"].verdict == "better"


def test_environment_overrides(tmp_path: Path) -> None:
    settings = load(
        tmp_path,
        "[evaluation]\nconcurrency = 4\n",
        {"FTD_EVALUATION__CONCURRENCY": "12", "FTD_EVALUATION__MAX_COST_USD": "null"},
    )
    assert settings.concurrency == 12
    assert settings.max_cost_usd is None


@pytest.mark.parametrize(
    ("text", "key", "message"),
    [
        ('graders = ["judge", "bleu"]', "evaluation.graders.1", "judge"),
        ('graders = ["f1", "f1"]', "evaluation.graders", "once"),
        ("graders = []", "evaluation.graders", "at least one"),
        ("concurrency = 0", "evaluation.concurrency", "greater than or equal to 1"),
        ("attempts = 100", "evaluation.attempts", "less than or equal to 50"),
        ("confidence = 1.5", "evaluation.confidence", "less than 1"),
        ("max_cost_usd = -1", "evaluation.max_cost_usd", "greater than or equal to 0"),
        ('promote_command = ["x"]', "evaluation.promote_command", "at least one gate"),
        ("bogus = 1", "evaluation.bogus", "unknown key"),
        (
            '[evaluation.gates.g]\ngrader = "exact"\nmin_mean = 1',
            "evaluation.gates.g.grader",
            "not among graders",
        ),
        ('[evaluation.gates.g]\ngrader = "judge"', "evaluation.gates.g.min_mean", "needs min_mean"),
    ],
)
def test_errors_name_the_key(tmp_path: Path, text: str, key: str, message: str) -> None:
    error = fails(tmp_path, "[evaluation]\n" + text + "\n")
    assert error.key == key
    assert message in str(error)


def test_a_sidecar_chooses_graders_within_the_operators_limits(tmp_path: Path) -> None:
    sidecar = tmp_path / "faq.toml"
    sidecar.write_text('[evaluation]\ngraders = ["exact", "f1"]\nmax_items = 500\n')
    overrides = load_overrides(sidecar)
    assert overrides.evaluation is not None
    operator = EvaluationSettings(
        max_items=100,
        gates={"j": Gate(grader="judge", min_mean=4), "f": Gate(grader="f1", min_mean=0.5)},
        promote_command=["/bin/true"],
    )
    merged = overrides.evaluation.applied_to(operator)
    assert merged.graders == ["exact", "f1"]
    assert merged.max_items == 100  # a sidecar may lower the limit, never raise it
    assert list(merged.gates) == ["f"]  # the judge gate has no judge to read
    assert merged.promote_command == ["/bin/true"]
    assert EvaluationOverrides(enabled=False).applied_to(operator).enabled is False

    run = load_settings(None, {"HOME": str(tmp_path / "home")}).defaults.merged(overrides)
    assert run.evaluation == overrides.evaluation  # kept with the dataset's run settings

    sidecar.write_text('[evaluation]\ngraders = ["rouge"]\n')
    with pytest.raises(ConfigError) as caught:
        load_overrides(sidecar)
    assert caught.value.key == "evaluation.graders.0"
    assert str(sidecar) in str(caught.value)
