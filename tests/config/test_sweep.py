"""Sidecars listing several runs: shared keys, per-run keys, tables merged, errors by run."""

from __future__ import annotations

from pathlib import Path

import pytest

from ftd.config.sweep import MAX_RUNS, load_sweep
from ftd.errors import ConfigError


def _sidecar(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "faq.toml"
    path.write_text(text)
    return path


def test_a_sidecar_without_runs_is_one_run(tmp_path: Path) -> None:
    [only] = load_sweep(_sidecar(tmp_path, 'model = "gpt-4.1-mini-2025-04-14"\n'))
    assert only.model == "gpt-4.1-mini-2025-04-14"
    assert only.source == tmp_path / "faq.toml"


def test_each_run_has_the_shared_keys_and_its_own_with_tables_merged(tmp_path: Path) -> None:
    runs = load_sweep(
        _sidecar(
            tmp_path,
            'model = "gpt-4.1-mini-2025-04-14"\n'
            "[hyperparameters]\nbatch_size = 4\n"
            "[[runs]]\nhyperparameters.n_epochs = 1\n"
            '[[runs]]\nmodel = "gpt-4o-mini-2024-07-18"\n'
            "hyperparameters = { n_epochs = 3, batch_size = 8 }\n",
        )
    )
    assert [r.model for r in runs] == ["gpt-4.1-mini-2025-04-14", "gpt-4o-mini-2024-07-18"]
    assert runs[0].hyperparameters is not None
    assert runs[1].hyperparameters is not None
    assert (runs[0].hyperparameters.n_epochs, runs[0].hyperparameters.batch_size) == (1, 4)
    assert (runs[1].hyperparameters.n_epochs, runs[1].hyperparameters.batch_size) == (3, 8)


def test_a_bad_key_is_named_with_its_run(tmp_path: Path) -> None:
    path = _sidecar(tmp_path, "[[runs]]\nseed = 1\n[[runs]]\nhyperparameters.n_epochs = 0\n")
    with pytest.raises(ConfigError) as caught:
        load_sweep(path)
    message = str(caught.value)
    assert "n_epochs" in message
    assert f"run 2 of sidecar {path}" in message


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("runs = 3\n", "one or more [[runs]] tables"),
        ("runs = []\n", "one or more [[runs]] tables"),
        ("runs = [1]\n", "runs[1]: must be a table"),
        ("[[runs]]\n" * (MAX_RUNS + 1), f"at most {MAX_RUNS}"),
    ],
)
def test_runs_that_are_not_tables_are_refused(tmp_path: Path, text: str, said: str) -> None:
    with pytest.raises(ConfigError, match=r".") as caught:
        load_sweep(_sidecar(tmp_path, text))
    assert said in str(caught.value)
