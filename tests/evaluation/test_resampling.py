"""Bootstrap resampling: the count-based draws follow the multinomial they stand for."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from ftd.evaluation.resampling import (
    MAX_CATEGORIES,
    _binomial_table,
    _Multinomial,
    resampled_means,
    sample_mean,
)


@pytest.mark.parametrize(("trials", "p"), [(20, 0.3), (1, 0.5), (200, 0.02), (1000, 0.97)])
def test_binomial_table_holds_the_binomial_probabilities(trials: int, p: float) -> None:
    first, cumulative = _binomial_table(trials, p)
    total = cumulative[-1]
    previous = 0.0
    for offset, running in enumerate(cumulative):
        k = first + offset
        exact = math.comb(trials, k) * p**k * (1 - p) ** (trials - k)
        assert (running - previous) / total == pytest.approx(exact, rel=1e-9, abs=1e-15)
        previous = running
    # what the table leaves out is below what random() can tell apart
    left_out = sum(
        math.comb(trials, k) * p**k * (1 - p) ** (trials - k)
        for k in range(trials + 1)
        if not first <= k < first + len(cumulative)
    )
    assert left_out < 1e-15


def test_multinomial_counts_have_the_right_moments() -> None:
    counts = [30, 50, 20]
    multinomial = _Multinomial(counts)
    rng = random.Random(1)
    draws = [multinomial.draw(rng) for _ in range(20_000)]
    assert all(sum(draw) == 100 for draw in draws)
    for level, count in enumerate(counts):
        drawn = [draw[level] for draw in draws]
        p = count / 100
        assert statistics.fmean(drawn) == pytest.approx(100 * p, abs=0.15)
        assert statistics.variance(drawn) == pytest.approx(100 * p * (1 - p), rel=0.05)
    # multinomial counts are negatively correlated: cov = -n p_i p_j
    first = [draw[0] for draw in draws]
    second = [draw[1] for draw in draws]
    assert statistics.covariance(first, second) == pytest.approx(-100 * 0.3 * 0.5, rel=0.08)


@pytest.mark.parametrize(
    "values",
    [
        [float(i % 2) for i in range(90)] + [1.0] * 10,  # pass/fail: drawn as counts
        [float(i) for i in range(100)],  # many distinct values: drawn item by item
    ],
)
def test_resampled_means_spread_like_the_standard_error(values: list[float]) -> None:
    means = resampled_means(values, 8000, random.Random(2))
    mean = sample_mean(values)
    standard_error = statistics.pstdev(values) / math.sqrt(len(values))
    assert statistics.fmean(means) == pytest.approx(mean, abs=standard_error / 10)
    assert statistics.pstdev(means) == pytest.approx(standard_error, rel=0.05)


def test_both_paths_agree_on_the_same_data() -> None:
    values = [float(i % (MAX_CATEGORIES + 1)) for i in range(130)]  # one level too many
    fewer = [min(v, MAX_CATEGORIES - 1.0) for v in values]
    for data in (values, fewer):
        means = resampled_means(data, 6000, random.Random(3))
        standard_error = statistics.pstdev(data) / math.sqrt(len(data))
        assert statistics.pstdev(means) == pytest.approx(standard_error, rel=0.06)


def test_sample_mean_is_summed_like_the_resamples() -> None:
    values = [0.1, 0.7, 0.1, 0.2, 0.7]
    assert sample_mean(values) == pytest.approx(statistics.fmean(values))
    # the same counts in another order give the very same float
    assert sample_mean(values) == sample_mean(list(reversed(values)))
