"""Exact binomial tails and Clopper-Pearson bounds, for pass rates and McNemar's discordant pairs.

Clopper-Pearson rather than a bootstrap for pass/fail: it is exact (it never
covers less than it claims, at any number of items), it gives an honest
interval when every item passed (a bootstrap gives the single point [1, 1]),
and it is the interval that inverts the exact binomial test, so an interval
and a p-value computed from the same counts never contradict each other.
"""

from __future__ import annotations

import math

_BISECTIONS = 80  # halves [0, 1] far below a float's resolution near any bound
# A term this far (in natural log) below the tail's largest adds nothing a float holds:
# a million of them come to under 1e-20 of the sum.
_NEGLIGIBLE = 60.0


def _log_pmf(k: int, trials: int, p: float) -> float:
    return (
        math.lgamma(trials + 1)
        - math.lgamma(k + 1)
        - math.lgamma(trials - k + 1)
        + k * math.log(p)
        + (trials - k) * math.log1p(-p)
    )


def upper_tail(successes: int, trials: int, p: float) -> float:
    """P(X >= successes) for X ~ Binomial(trials, p), summed in log space (no overflow)."""
    if successes <= 0:
        return 1.0
    if successes > trials:
        return 0.0
    if p <= 0.0:
        return 0.0
    if p >= 1.0:
        return 1.0
    # The terms fall away on both sides of the tail's largest, at the mode or at its
    # first term: only those within _NEGLIGIBLE of it are summed, a few standard
    # deviations' worth rather than every one of the trials.
    peak = min(trials, max(successes, int((trials + 1) * p)))
    top = _log_pmf(peak, trials, p)
    logs = [top]
    for step, stop in ((1, trials + 1), (-1, successes - 1)):
        for k in range(peak + step, stop, step):
            term = _log_pmf(k, trials, p)
            if term < top - _NEGLIGIBLE:
                break
            logs.append(term)
    return min(1.0, math.exp(top) * math.fsum(math.exp(x - top) for x in logs))


def clopper_pearson(successes: int, trials: int, confidence: float) -> tuple[float, float]:
    """The exact two-sided interval for a binomial proportion at ``confidence``.

    Each bound leaves at most (1 - confidence) / 2 on its side: the lower bound
    is the p at which ``successes`` or more would happen that rarely, the upper
    the p at which ``successes`` or fewer would.
    """
    if trials <= 0:
        return 0.0, 1.0
    half = (1.0 - confidence) / 2.0
    low = 0.0
    if successes > 0:
        a, b = 0.0, 1.0
        for _ in range(_BISECTIONS):
            middle = (a + b) / 2.0
            if upper_tail(successes, trials, middle) < half:
                a = middle
            else:
                b = middle
        low = a
    high = 1.0
    if successes < trials:
        a, b = 0.0, 1.0
        for _ in range(_BISECTIONS):
            middle = (a + b) / 2.0
            if 1.0 - upper_tail(successes + 1, trials, middle) > half:
                a = middle
            else:
                b = middle
        high = b
    return low, high
