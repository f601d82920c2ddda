"""The paired sign-flip permutation test, and the interval that inverts it.

If the candidate and its base were equally good, each item's difference
would be as likely to have either sign. The test flips the signs of the
differences, all 2**n ways when n is small and a seeded random sample of ways
otherwise, and asks how often the flipped mean is at least as far from zero as
the observed one. It assumes only that the differences are symmetric under the
null, not that they are normal, so it keeps its level at ten items.

The interval is every shift d for which "the differences minus d are
symmetric about zero" is not rejected at the same level, so the interval
excludes zero exactly when the test is significant: the two never disagree.
Each sign pattern s needs only two numbers, sum(s_i x_i) and sum(s_i), to
test any shift d (sum(s_i (x_i - d)) = sum(s_i x_i) - d * sum(s_i)), so
inverting the test costs one pass over the patterns per bisection step.
"""

from __future__ import annotations

import itertools
import math
from bisect import bisect_left, bisect_right
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ftd.evaluation.resampling import MAX_CATEGORIES, binomial_sampler

if TYPE_CHECKING:
    import random
    from collections.abc import Sequence

# Up to this many items every sign pattern is enumerated (2**14 = 16,384):
# the p-value is then exact; above it, a seeded random sample of patterns.
EXACT_MAX_ITEMS = 14
_BISECTIONS = 60
_RELATIVE_TOLERANCE = 1e-9  # |flipped| >= |observed| up to float rounding of equal sums


@dataclass(frozen=True, slots=True)
class Patterns:
    """Sign patterns, each reduced to (sum of signed values, sum of signs).

    Grouped by the sum of signs, each group's signed sums sorted: for a shift
    d the patterns as far from zero as the observed one are then found by two
    bisections per group, so testing a shift costs O(n log patterns).
    """

    groups: dict[int, list[float]]
    count: int
    exact: bool
    scale: float


def _exact_patterns(values: Sequence[float]) -> tuple[list[float], list[int]]:
    signed_sums: list[float] = []
    sign_sums: list[int] = []
    for signs in itertools.product((1, -1), repeat=len(values)):
        signed_sums.append(math.fsum(s * v for s, v in zip(signs, values, strict=True)))
        sign_sums.append(sum(signs))
    return signed_sums, sign_sums


def _sampled_patterns(
    values: Sequence[float], resamples: int, rng: random.Random
) -> tuple[list[float], list[int]]:
    levels = sorted(Counter(values).items())
    signed_sums: list[float] = []
    sign_sums: list[int] = []
    if len(levels) <= MAX_CATEGORIES:
        # Only how many items of each value got a plus sign matters: Binomial(count, 1/2).
        samplers = [(value, count, binomial_sampler(count, 0.5)) for value, count in levels]
        for _ in range(resamples):
            signed = 0.0
            signs = 0
            for value, count, draw in samplers:
                net = 2 * draw(rng.random()) - count
                signed += net * value
                signs += net
            signed_sums.append(signed)
            sign_sums.append(signs)
        return signed_sums, sign_sums
    n = len(values)
    for _ in range(resamples):
        bits = rng.getrandbits(n)
        signed = 0.0
        signs = 0
        for index, value in enumerate(values):
            if bits >> index & 1:
                signed += value
                signs += 1
            else:
                signed -= value
                signs -= 1
        signed_sums.append(signed)
        sign_sums.append(signs)
    return signed_sums, sign_sums


def patterns(values: Sequence[float], resamples: int, rng: random.Random) -> Patterns:
    """Every sign pattern when there are few items, else ``resamples`` random ones."""
    exact = len(values) <= EXACT_MAX_ITEMS
    if exact:
        signed_sums, sign_sums = _exact_patterns(values)
    else:
        signed_sums, sign_sums = _sampled_patterns(values, resamples, rng)
    groups: dict[int, list[float]] = {}
    for signed, signs in zip(signed_sums, sign_sums, strict=True):
        groups.setdefault(signs, []).append(signed)
    for sums in groups.values():
        sums.sort()
    scale = max((abs(v) for v in values), default=0.0)
    return Patterns(groups, len(signed_sums), exact, scale)


def p_value(values: Sequence[float], found: Patterns, shift: float = 0.0) -> float:
    """Two-sided p-value of "the values minus ``shift`` are symmetric about zero"."""
    n = len(values)
    observed = abs(math.fsum(values) - n * shift)
    slack = _RELATIVE_TOLERANCE * n * (found.scale + abs(shift))
    threshold = observed - slack
    if threshold <= 0.0:
        return 1.0
    as_far = 0
    for signs, sums in found.groups.items():
        centre = shift * signs  # |signed - centre| >= threshold, on either side
        as_far += len(sums) - bisect_left(sums, centre + threshold)
        as_far += bisect_right(sums, centre - threshold)
    if found.exact:
        return min(1.0, as_far / found.count)
    # The observed pattern counts as one of the sample: never a p of zero.
    return min(1.0, (as_far + 1) / (found.count + 1))


def smallest_p_value(n: int, resamples: int) -> float:
    """The smallest p-value the test can give with ``n`` items: 2 / 2**n, or the sample's floor."""
    exact_floor = math.ldexp(1.0, 1 - n)  # 2 / 2**n, without overflowing at thousands of items
    if n <= EXACT_MAX_ITEMS:
        return exact_floor
    return max(exact_floor, 1.0 / (resamples + 1))


def interval(
    values: Sequence[float], found: Patterns, estimate: float, alpha: float
) -> tuple[float, float]:
    """The shifts the test does not reject at ``alpha``, as [low, high] (bisection per end)."""
    low_out = min(values) - max(found.scale, 1.0)
    high_out = max(values) + max(found.scale, 1.0)

    def accepted(shift: float) -> bool:
        return p_value(values, found, shift) >= alpha

    if accepted(low_out) or accepted(high_out):
        return low_out, high_out  # too few items for the test ever to reject
    ends: list[float] = []
    for outside in (low_out, high_out):
        inside = estimate
        for _ in range(_BISECTIONS):
            middle = (inside + outside) / 2.0
            if accepted(middle):
                inside = middle
            else:
                outside = middle
        ends.append(inside)
    return ends[0], ends[1]
