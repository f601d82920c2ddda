"""Which mode an evaluation runs in, and the reason given for it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftd.config.evaluation import EvaluationOverrides, EvaluationSettings
from ftd.evaluation.batch.engine import choose_mode
from ftd.evaluation.budget import Pricing
from ftd.evaluation.forecast import forecast
from ftd.providers import Provider
from ftd.providers.types import Capabilities


class _Batching(Provider):
    kind = "openai"
    capabilities = Capabilities(batch=True)


class _Live(Provider):
    kind = "azure"
    capabilities = Capabilities(batch=False)


def test_each_mode_and_why() -> None:
    batching, live = _Batching("default"), _Live("default")
    assert choose_mode(EvaluationSettings(), 10**6, batching)[0] == "live"
    mode, why = choose_mode(EvaluationSettings(mode="batch"), 3, live)
    assert mode == "live"
    assert "azure provider has no batch engine" in why
    assert choose_mode(EvaluationSettings(mode="batch"), 3, batching)[0] == "batch"
    auto = EvaluationSettings(mode="auto", batch_min_items=100)
    mode, why = choose_mode(auto, 99, batching)
    assert mode == "live"
    assert "under batch_min_items (100)" in why
    assert choose_mode(auto, 100, batching)[0] == "batch"
    assert choose_mode(auto, 10**6, None)[0] == "live"


def test_a_sidecar_may_choose_the_mode() -> None:
    chosen = EvaluationOverrides.model_validate({"mode": "batch"}).applied_to(EvaluationSettings())
    assert chosen.mode == "batch"


def test_the_estimate_uses_batch_prices_when_the_batch_engine_will_run(tmp_path: Path) -> None:
    items = tmp_path / "test.jsonl"
    items.write_text(
        "".join(
            json.dumps(
                {
                    "messages": [
                        {"role": "user", "content": f"q{i}"},
                        {"role": "assistant", "content": "a"},
                    ]
                }
            )
            + "\n"
            for i in range(4)
        )
    )
    price = Pricing(prompt=1e-6, completion=4e-6)
    live = forecast(items, EvaluationSettings(), base_model="m", pricing=lambda _m: price)
    batch = forecast(
        items, EvaluationSettings(mode="batch"), base_model="m", pricing=lambda _m: price
    )
    assert live is not None
    assert batch is not None
    assert batch["cost_usd"] == pytest.approx(live["cost_usd"] / 2, abs=1e-4)
    assert batch["live_cost_usd"] == live["cost_usd"]
    assert "batch prices" in batch["note"]
    auto = forecast(
        items,
        EvaluationSettings(mode="auto", batch_min_items=5),
        base_model="m",
        pricing=lambda _m: price,
    )
    assert auto is not None
    assert auto["cost_usd"] == live["cost_usd"]  # 4 items: under the threshold, live
