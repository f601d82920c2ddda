"""Coverage by simulation: do the 95% intervals behind a verdict hold 95% at 10, 20 and 50 items?

Each case draws many seeded samples from a known distribution and counts how
often the interval holds the true value. With R repetitions the count's
Monte-Carlo standard error is sqrt(0.95 * 0.05 / R); an interval passes when
its coverage is no more than three such errors below 95%. The figures are
printed (``pytest -s``) so a reader sees how conservative each method is.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import pytest

from ftd.evaluation.stats import Interval, compare_pass_fail, compare_scores, mean_interval

REPETITIONS = 300
RESAMPLES = 499
NOMINAL = 0.95
FLOOR = NOMINAL - 3 * math.sqrt(NOMINAL * (1 - NOMINAL) / REPETITIONS)  # 0.912

Sample = Callable[[random.Random, int], object]
Method = Callable[[object, int], Interval]

JUDGE_WEIGHTS = (0.05, 0.05, 0.1, 0.3, 0.5)  # a 1-5 judge score piled up near the top
JUDGE_MEAN = sum((k + 1) * w for k, w in enumerate(JUDGE_WEIGHTS))
STEPS = (-1, 0, 0, 1, 1, 2)  # fine-tuning moves a 1-5 score by this, clipped to 1-5


def pass_rate(rng: random.Random, n: int) -> list[float]:
    return [float(rng.random() < 0.9) for _ in range(n)]


def judge_scores(rng: random.Random, n: int) -> list[float]:
    return [float(rng.choices(range(1, 6), JUDGE_WEIGHTS)[0]) for _ in range(n)]


def similarities(rng: random.Random, n: int) -> list[float]:
    return [rng.betavariate(5.0, 1.5) for _ in range(n)]


def paired_passes(rng: random.Random, n: int) -> tuple[list[bool], list[bool]]:
    # both pass 0.55, only the candidate 0.25, only the base 0.05, neither 0.15
    draws = [rng.random() for _ in range(n)]
    return [u < 0.8 for u in draws], [u < 0.55 or 0.8 <= u < 0.85 for u in draws]


def paired_judge(rng: random.Random, n: int) -> tuple[list[float], list[float]]:
    base = [rng.randint(1, 5) for _ in range(n)]
    candidate = [min(5, max(1, b + rng.choice(STEPS))) for b in base]
    return [float(c) for c in candidate], [float(b) for b in base]


def _paired_judge_truth() -> float:
    # exact: average over the 5 base scores and 6 steps of the clipped move
    moves = [min(5, max(1, b + s)) - b for b in range(1, 6) for s in STEPS]
    return sum(moves) / len(moves)


CASES: dict[str, tuple[Sample, float, Method]] = {
    "pass rate 0.9 (Clopper-Pearson)": (
        pass_rate, 0.9, lambda v, seed: mean_interval(v, resamples=RESAMPLES, seed=seed)  # type: ignore[arg-type]
    ),
    "skewed 1-5 judge mean (bootstrap-t)": (
        judge_scores, JUDGE_MEAN, lambda v, seed: mean_interval(v, resamples=RESAMPLES, seed=seed)  # type: ignore[arg-type]
    ),
    "similarity mean, Beta(5, 1.5) (bootstrap-t)": (
        similarities, 5.0 / 6.5, lambda v, seed: mean_interval(v, resamples=RESAMPLES, seed=seed)  # type: ignore[arg-type]
    ),
    "paired pass rates, +0.20 (McNemar, Clopper-Pearson)": (
        paired_passes, 0.2, lambda v, seed: compare_pass_fail(*v).difference  # type: ignore[misc]
    ),
    "paired judge scores (permutation)": (
        paired_judge,
        _paired_judge_truth(),
        lambda v, seed: compare_scores(*v, resamples=RESAMPLES, seed=seed).difference,  # type: ignore[misc]
    ),
}  # fmt: skip


@pytest.mark.parametrize("n", [10, 20, 50])
@pytest.mark.parametrize("case", list(CASES))
def test_nominal_95_percent_holds_within_monte_carlo_error(case: str, n: int) -> None:
    sample, truth, method = CASES[case]
    rng = random.Random(f"{case}/{n}")
    hits = 0
    for repetition in range(REPETITIONS):
        interval = method(sample(rng, n), repetition)
        hits += interval.low <= truth <= interval.high
    coverage = hits / REPETITIONS
    print(f"{case}, n={n}: coverage {coverage:.3f} (floor {FLOOR:.3f})")
    assert coverage >= FLOOR, f"{case} at n={n} covers {coverage:.3f}, below {FLOOR:.3f}"
