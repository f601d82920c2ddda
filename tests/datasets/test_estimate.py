"""The epoch heuristic and the cost formula."""

from __future__ import annotations

import pytest

from ftd.datasets.estimate import auto_epochs, estimate


@pytest.mark.parametrize(
    ("examples", "epochs"),
    [(10, 10), (20, 5), (33, 3), (34, 3), (1, 25), (3, 25), (5_000, 3), (8_334, 2), (30_000, 1)],
)
def test_auto_epochs(examples: int, epochs: int) -> None:
    assert auto_epochs(examples) == epochs


def test_cost_is_billed_tokens_times_price() -> None:
    e = estimate(
        n_examples=100, billed_tokens_per_epoch=1_000_000, n_epochs=None, price_per_mtok=5.0
    )
    assert (e.n_epochs, e.epochs_source) == (3, "auto")
    assert e.billed_tokens == 3_000_000
    assert e.cost_usd == 15.0


def test_given_epochs_win_and_hourly_models_have_no_token_cost() -> None:
    e = estimate(
        n_examples=100,
        billed_tokens_per_epoch=10,
        n_epochs=7,
        price_per_mtok=None,
        price_per_hour=100.0,
    )
    assert (e.n_epochs, e.epochs_source, e.billed_tokens) == (7, "given", 70)
    assert e.cost_usd is None
    assert "hour" in e.note
    unknown = estimate(n_examples=5, billed_tokens_per_epoch=10, n_epochs=None, price_per_mtok=None)
    assert unknown.cost_usd is None
    assert "[prices]" in unknown.note
