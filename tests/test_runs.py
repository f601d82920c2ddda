"""What makes two runs the same, and how runs are named."""

from __future__ import annotations

from ftd.runs import parse_run, run_key, run_name, settings_difference

BASE = {
    "model": "gpt-4.1-mini-2025-04-14",
    "method": "supervised",
    "hyperparameters": {"n_epochs": "auto", "batch_size": "auto"},
    "provider": "default",
    "validation_fraction": 0.1,
    "test_fraction": 0.1,
    "max_cost_usd": 50.0,
    "auto_approve": True,
    "test_file": None,
}


def test_what_the_provider_is_asked_makes_the_run_and_the_split_and_guard_do_not() -> None:
    assert run_key(BASE) == run_key({**BASE, "test_fraction": 0.2, "max_cost_usd": 1.0})
    assert run_key(BASE) == run_key({**BASE, "test_file": "/elsewhere/test.jsonl"})
    assert run_key(BASE) != run_key({**BASE, "provider": "azure"})
    epochs = {**BASE, "hyperparameters": {"n_epochs": 2, "batch_size": "auto"}}
    assert run_key(BASE) != run_key(epochs)
    # A key stored settings did not have yet, unset now, is no difference either.
    assert run_key(BASE) == run_key({**BASE, "integrations": [], "training_type": None})
    # Key order is not a difference.
    assert run_key(dict(reversed(list(BASE.items())))) == run_key(BASE)


def test_differences_are_named_by_dotted_key() -> None:
    other = {**BASE, "hyperparameters": {"n_epochs": 2, "batch_size": "auto"}, "seed": 7}
    assert settings_difference(BASE, other) == {
        "hyperparameters.n_epochs": ("auto", 2),
        "seed": (None, 7),
    }
    assert settings_difference(BASE, {**BASE, "max_cost_usd": 2.0}) == {}


def test_run_names() -> None:
    assert run_name(7) == "run-7"
    assert parse_run("run-7") == 7
    assert parse_run("7") == 7
    assert parse_run("faq.jsonl") is None
    assert parse_run("run-x") is None
