"""Bootstrap resamples of a mean, fast enough in pure Python for thousands of items.

A resample of n items matters only through how often each distinct value was
drawn. Grader scores mostly take a handful of values (pass/fail, a 1-5 scale,
and the paired differences of those), so for them one resample is one
multinomial draw of counts, made as a chain of binomial draws from cached
inverse-CDF tables: a few bisections instead of n random numbers. Scores with
many distinct values (similarities, continuous judge scores) are resampled item
by item with ``random.choices``.

Means are always summed as ``sum(count * value)`` over the distinct values in
ascending order, so a resample that draws every item once gives exactly the
float that ``sample_mean`` gives: the interval code compares the two.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Sequence

# Beyond this many distinct values, drawing items one by one is cheaper than
# the chain of binomial draws (measured at 1,000 items).
MAX_CATEGORIES = 12
# Binomial tables stop where a weight falls below this share of the mode's
# weight: the mass left out is far below what random() can resolve (2**-53).
_NEGLIGIBLE = 1e-18


def _distinct(values: Sequence[float]) -> tuple[list[float], list[int]]:
    counted = sorted(Counter(values).items())
    return [value for value, _ in counted], [count for _, count in counted]


def _weighted_sum(levels: Sequence[float], counts: Sequence[int]) -> float:
    total = 0.0
    for level, count in zip(levels, counts, strict=True):
        total += count * level
    return total


def sample_mean(values: Sequence[float]) -> float:
    """The mean, summed the same way as every resample's mean (see the module note)."""
    levels, counts = _distinct(values)
    return _weighted_sum(levels, counts) / len(values)


def _binomial_table(trials: int, p: float) -> tuple[int, list[float]]:
    """(first k, cumulative relative weights) of Binomial(trials, p) around its mode."""
    mode = min(trials, int((trials + 1) * p))
    odds = p / (1.0 - p)
    below: list[float] = []
    weight, k = 1.0, mode
    while k > 0:
        weight *= k / (trials - k + 1) / odds
        if weight < _NEGLIGIBLE:
            break
        below.append(weight)
        k -= 1
    above: list[float] = []
    weight, k = 1.0, mode
    while k < trials:
        weight *= (trials - k) / (k + 1) * odds
        if weight < _NEGLIGIBLE:
            break
        above.append(weight)
        k += 1
    weights = [*reversed(below), 1.0, *above]
    cumulative: list[float] = []
    running = 0.0
    for weight in weights:
        running += weight
        cumulative.append(running)
    return mode - len(below), cumulative


def binomial_sampler(trials: int, p: float) -> Callable[[float], int]:
    """A Binomial(trials, p) draw from one uniform number in [0, 1)."""
    if trials == 0 or p <= 0.0:
        return lambda u: 0
    if p >= 1.0:
        return lambda u: trials
    first, cumulative = _binomial_table(trials, p)
    last = len(cumulative) - 1

    def draw(u: float) -> int:
        return first + min(last, bisect_right(cumulative, u * cumulative[-1]))

    return draw


class _Multinomial:
    """Draws the counts of each level in a resample of ``n`` items, as chained binomials.

    Level j's count, given the counts before it, is Binomial(items left,
    count_j / items at levels >= j); that probability is fixed per level, so a
    table is cached per (level, items left).
    """

    def __init__(self, counts: Sequence[int]) -> None:
        self._n = sum(counts)
        remaining = self._n
        self._conditional: list[float] = []
        for count in counts[:-1]:
            self._conditional.append(count / remaining)
            remaining -= count
        self._tables: dict[tuple[int, int], tuple[int, list[float]]] = {}

    def _binomial(self, level: int, trials: int, u: float) -> int:
        p = self._conditional[level]
        if trials == 0 or p == 0.0:
            return 0
        if p == 1.0:
            return trials
        table = self._tables.get((level, trials))
        if table is None:
            table = self._tables[level, trials] = _binomial_table(trials, p)
        first, cumulative = table
        return first + bisect_right(cumulative, u * cumulative[-1])

    def draw(self, rng: random.Random) -> list[int]:
        counts: list[int] = []
        remaining = self._n
        for level in range(len(self._conditional)):
            count = self._binomial(level, remaining, rng.random())
            counts.append(count)
            remaining -= count
        counts.append(remaining)
        return counts


def resampled_means(values: Sequence[float], resamples: int, rng: random.Random) -> list[float]:
    """The means of ``resamples`` bootstrap resamples (n items drawn with replacement)."""
    n = len(values)
    levels, counts = _distinct(values)
    if len(levels) <= MAX_CATEGORIES:
        multinomial = _Multinomial(counts)
        return [_weighted_sum(levels, multinomial.draw(rng)) / n for _ in range(resamples)]
    items = list(values)
    choices = rng.choices
    return [sum(choices(items, k=n)) / n for _ in range(resamples)]


def _spread(levels: Sequence[float], counts: Sequence[int], mean: float, n: int) -> float:
    squares = 0.0
    for level, count in zip(levels, counts, strict=True):
        squares += count * (level - mean) ** 2
    return math.sqrt(squares / (n - 1))


def resampled_means_and_spreads(
    values: Sequence[float], resamples: int, rng: random.Random
) -> list[tuple[float, float]]:
    """(mean, sample standard deviation) of each of ``resamples`` bootstrap resamples.

    The studentized bootstrap needs both: it resamples t = (mean* - mean) / se*,
    which tracks the skew of small samples that a plain percentile interval misses.
    """
    n = len(values)
    levels, counts = _distinct(values)
    out: list[tuple[float, float]] = []
    if len(levels) <= MAX_CATEGORIES:
        multinomial = _Multinomial(counts)
        for _ in range(resamples):
            drawn = multinomial.draw(rng)
            mean = _weighted_sum(levels, drawn) / n
            out.append((mean, _spread(levels, drawn, mean, n)))
        return out
    items = list(values)
    choices = rng.choices
    for _ in range(resamples):
        sample = choices(items, k=n)
        mean = sum(sample) / n
        out.append((mean, math.sqrt(sum((x - mean) ** 2 for x in sample) / (n - 1))))
    return out
