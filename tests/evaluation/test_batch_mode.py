"""Which mode an evaluation runs in, and the reason given for it."""

from __future__ import annotations

from ftd.config.evaluation import EvaluationOverrides, EvaluationSettings
from ftd.evaluation.batch.engine import choose_mode
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
