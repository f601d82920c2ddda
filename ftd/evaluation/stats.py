"""The statistics behind an evaluation's claims: intervals, paired tests, verdicts, agreement.

A fine-tuned model is compared with its base on the same held-out items, so
every comparison here is paired: differences are taken per item, which
removes the between-item spread that an unpaired comparison would count as
noise. A verdict is the decision of one named test, and the interval shown
beside it is the one that inverts that same test, so the two cannot disagree:

- pass/fail graders: the exact McNemar test (a sign test on the items where
  exactly one model passed) with Clopper-Pearson bounds on its counts;
- scores: the exact (few items) or Monte-Carlo sign-flip permutation test of
  the mean difference, with the interval of shifts it does not reject.

Below what a test can resolve the verdict is "too_few_items", never a guess.
A single model's mean gets a Clopper-Pearson interval (pass/fail) or a
studentized bootstrap interval (scores); both keep their coverage at ten
items where the percentile bootstrap falls short (see tests/evaluation).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from dataclasses import dataclass
from statistics import NormalDist
from typing import TYPE_CHECKING, Literal

from ftd.errors import FtdError
from ftd.evaluation import permutation
from ftd.evaluation.binomial import clopper_pearson
from ftd.evaluation.resampling import resampled_means, resampled_means_and_spreads, sample_mean

if TYPE_CHECKING:
    from collections.abc import Hashable, Sequence

Verdict = Literal["better", "no_detectable_difference", "worse", "too_few_items"]
Test = Literal["mcnemar", "permutation"]
MIN_RESAMPLES = 100
# Fewer paired items than this and a score comparison gives no verdict: the
# permutation test is exact at any size, but its symmetry assumption and the
# interval's width are not worth a claim on a handful of items.
MIN_SCORE_ITEMS = 10
_SIGNIFICANT_DIGITS = 6
_NORMAL = NormalDist()


class StatsError(FtdError):
    """An argument a statistic cannot be computed from; names the argument and the value."""

    def __init__(self, argument: str, message: str) -> None:
        super().__init__(f"{argument}: {message}")
        self.argument = argument


@dataclass(frozen=True, slots=True)
class Interval:
    """An estimate with its confidence interval, over ``n`` items (or pairs)."""

    estimate: float
    low: float
    high: float
    n: int

    @property
    def degenerate(self) -> bool:
        """No spread to resample (every item the same): the interval is a point, not certainty."""
        return self.low == self.high

    def as_dict(self) -> dict[str, float | int | bool]:
        """JSON-ready, to six significant digits: more would be noise from resampling."""
        return {
            "estimate": _rounded(self.estimate),
            "low": _rounded(self.low),
            "high": _rounded(self.high),
            "n": self.n,
            "degenerate": self.degenerate,
        }


@dataclass(frozen=True, slots=True)
class Comparison:
    """A paired comparison: the difference with its interval, the test, and what it decides."""

    difference: Interval
    test: Test
    p_value: float
    verdict: Verdict
    reason: str


@dataclass(frozen=True, slots=True)
class Tally:
    """Per-item outcomes of candidate against base."""

    wins: int
    ties: int
    losses: int


@dataclass(frozen=True, slots=True)
class Agreement:
    """How often a judge gave the same answer twice about the same item."""

    rate: float
    kappa: float | None
    n: int


def _rounded(value: float) -> float:
    return float(f"{value:.{_SIGNIFICANT_DIGITS}g}") + 0.0  # + 0.0 turns -0.0 into 0.0


def _numbers(argument: str, values: Sequence[float]) -> list[float]:
    if len(values) == 0:
        raise StatsError(argument, "is empty; at least one item is needed")
    numbers: list[float] = []
    for index, value in enumerate(values):
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise StatsError(argument, f"item {index} is {value!r}, not a number") from None
        if not math.isfinite(number):
            raise StatsError(argument, f"item {index} is {value!r}, not a finite number")
        numbers.append(number)
    return numbers


def _same_length(first: str, first_len: int, second: str, second_len: int) -> None:
    if first_len != second_len:
        raise StatsError(
            second,
            f"has {second_len} items but {first} has {first_len}; "
            "pairs need the same items in the same order",
        )


def _check_bootstrap(confidence: float, resamples: int) -> None:
    if not 0.0 < confidence < 1.0:
        raise StatsError("confidence", f"must be between 0 and 1 (exclusive), got {confidence!r}")
    if type(resamples) is not int:
        raise StatsError("resamples", f"must be an integer, got {resamples!r}")
    if resamples < MIN_RESAMPLES:
        raise StatsError("resamples", f"must be at least {MIN_RESAMPLES}, got {resamples}")


def _acceleration(influences: Sequence[float]) -> float:
    """BCa's acceleration from each item's influence on the statistic (scale-free)."""
    scale = max(abs(x) for x in influences)
    if scale == 0.0:
        return 0.0
    scaled = [x / scale for x in influences]
    spread = math.fsum(x * x for x in scaled)
    return math.fsum(x * x * x for x in scaled) / (6.0 * spread * math.sqrt(spread))


def _adjusted_level(bias: float, z: float, acceleration: float) -> float:
    shifted = bias + z
    denominator = 1.0 - acceleration * shifted
    if denominator <= 0.0:  # past BCa's pole the level runs off to the matching end
        return 0.0 if z < 0.0 else 1.0
    return _NORMAL.cdf(bias + shifted / denominator)


def _bca(
    estimate: float,
    means: list[float],
    influences: Sequence[float],
    n: int,
    confidence: float,
) -> Interval:
    """Bias-corrected and accelerated (BCa) percentile interval.

    BCa rather than the plain percentile interval: with few items, or 0/1
    scores near 0 or 1, the resampled means are skewed and pile up on ties,
    and the percentile interval tends to cover less than it claims. BCa moves
    the percentiles by the bias (the share of resampled means below the
    estimate, ties counted half) and the skew (acceleration, from the items'
    influences); for a mean both cost O(n). In seeded simulations of 0/1
    scores (rates 0.7 and 0.9, 10 to 80 items) it fell short of 95% less often
    than the percentile interval (at rate 0.9 and 33 items: 96% against 84%).
    No bootstrap helps when every item has the same score: the interval is
    then a single point.
    """
    if not all(math.isfinite(m) for m in means):
        raise StatsError("values", "too large to average without overflowing a float")
    means.sort()
    if means[0] == means[-1]:
        return Interval(estimate, estimate, estimate, n)
    count = len(means)
    below = sum(1 for m in means if m < estimate)
    tied = sum(1 for m in means if m == estimate)
    share = min(max((below + tied / 2) / count, 0.5 / count), 1.0 - 0.5 / count)
    bias = _NORMAL.inv_cdf(share)
    acceleration = _acceleration(influences)
    z = _NORMAL.inv_cdf(0.5 + confidence / 2)
    low_level = _adjusted_level(bias, -z, acceleration)
    high_level = _adjusted_level(bias, z, acceleration)
    low = means[min(count - 1, int(low_level * count))]
    high = means[min(count - 1, int(high_level * count))]
    return Interval(estimate, low, high, n)


def _is_pass_fail(numbers: Sequence[float]) -> bool:
    return all(x in (0.0, 1.0) for x in numbers)


def _quantile_positions(count: int, confidence: float) -> tuple[int, int]:
    """Order statistics (0-based) for the two ends, by the (count + 1) convention."""
    alpha = 1.0 - confidence
    low = max(0, math.floor(alpha / 2 * (count + 1)) - 1)
    high = min(count - 1, math.ceil((1 - alpha / 2) * (count + 1)) - 1)
    return low, high


def _studentized(
    numbers: list[float], estimate: float, confidence: float, resamples: int, seed: int
) -> Interval:
    """The studentized (bootstrap-t) interval of a mean.

    It resamples t = (mean* - mean) / se* rather than the mean itself, so a
    skewed sample widens the interval on the side where it is needed; a
    resample whose items are all the same has no spread and counts as an
    infinitely large t. The interval is then kept within the observed
    scores: a mean cannot lie outside them.
    """
    n = len(numbers)
    spread = math.sqrt(math.fsum((x - estimate) ** 2 for x in numbers) / (n - 1))
    error = spread / math.sqrt(n)
    root = math.sqrt(n)
    ts: list[float] = []
    for mean, resampled_spread in resampled_means_and_spreads(
        numbers, resamples, random.Random(seed)
    ):
        if resampled_spread > 0.0:
            ts.append((mean - estimate) / (resampled_spread / root))
        elif mean != estimate:
            ts.append(math.copysign(math.inf, mean - estimate))
        else:
            ts.append(0.0)
    ts.sort()
    first, last = _quantile_positions(len(ts), confidence)
    low = max(min(numbers), estimate - ts[last] * error)
    high = min(max(numbers), estimate - ts[first] * error)
    return Interval(estimate, min(low, estimate), max(high, estimate), n)


def mean_interval(
    values: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 5000,
    seed: int = 0,
) -> Interval:
    """The mean over items: Clopper-Pearson for pass/fail (0/1) scores, bootstrap-t otherwise.

    Every item the same score gives a degenerate interval (a point) for
    scores: there is no spread to learn from, which is not certainty.
    """
    _check_bootstrap(confidence, resamples)
    numbers = _numbers("values", values)
    estimate = sample_mean(numbers)
    if not math.isfinite(estimate):
        raise StatsError("values", "too large to average without overflowing a float")
    n = len(numbers)
    if n > 1 and _is_pass_fail(numbers):
        low, high = clopper_pearson(round(math.fsum(numbers)), n, confidence)
        return Interval(estimate, min(low, estimate), max(high, estimate), n)
    if n == 1 or min(numbers) == max(numbers):
        return Interval(estimate, estimate, estimate, n)
    return _studentized(numbers, estimate, confidence, resamples, seed)


def _decide(
    difference: Interval, p_value: float, *, alpha: float, margin: float, too_few: str | None
) -> tuple[Verdict, str]:
    """The verdict and why: significance from the test, the margin from its interval."""
    if not (math.isfinite(margin) and margin >= 0.0):
        raise StatsError("margin", f"must be a finite number >= 0, got {margin!r}")
    if too_few is not None:
        return "too_few_items", too_few
    shown = f"p = {p_value:.3g}"
    if p_value >= alpha:
        return "no_detectable_difference", f"{shown}, not below {alpha:g}"
    margin_note = f" and by more than the margin {margin:g}" if margin > 0 else ""
    if difference.estimate > 0 and difference.low > margin:
        return "better", f"{shown} < {alpha:g}{margin_note}"
    if difference.estimate < 0 and difference.high < -margin:
        return "worse", f"{shown} < {alpha:g}{margin_note}"
    return (
        "no_detectable_difference",
        f"{shown} < {alpha:g}, but the interval does not clear the margin {margin:g}",
    )


def compare_pass_fail(
    candidate_pass: Sequence[bool],
    base_pass: Sequence[bool],
    *,
    confidence: float = 0.95,
    margin: float = 0.0,
) -> Comparison:
    """Pass/fail on the same items: the exact McNemar test decides.

    Of the d items where exactly one model passed, b went to the candidate.
    The difference in pass rates is (d / n) * (2 * b / d - 1); its interval
    combines the Clopper-Pearson bounds of b / d (the test's own quantity)
    with those of d / n, so its sign, and so the verdict, is the test's: the
    lower end is above zero exactly when McNemar's p is below 1 - confidence
    with the candidate ahead.
    """
    if not 0.0 < confidence < 1.0:
        raise StatsError("confidence", f"must be between 0 and 1 (exclusive), got {confidence!r}")
    only_candidate, only_base = _discordant(candidate_pass, base_pass)
    n = len(candidate_pass)
    if n == 0:
        raise StatsError("candidate_pass", "is empty; at least one item is needed")
    alpha = 1.0 - confidence
    discordant = only_candidate + only_base
    p_value = sign_test(only_candidate, only_base)
    estimate = (only_candidate - only_base) / n
    if discordant == 0:
        difference = Interval(0.0, 0.0, 0.0, n)
    else:
        share_low, share_high = clopper_pearson(only_candidate, discordant, confidence)
        rate_low, rate_high = clopper_pearson(discordant, n, confidence)
        low = min(rate_low * (2 * share_low - 1), rate_high * (2 * share_low - 1))
        high = max(rate_low * (2 * share_high - 1), rate_high * (2 * share_high - 1))
        difference = Interval(estimate, min(low, estimate), max(high, estimate), n)
    best_possible = sign_test(discordant, 0)
    too_few = None
    if best_possible >= alpha:
        too_few = (
            f"only {discordant} of {n} items passed for exactly one model; even if all went "
            f"one way McNemar's p would be {best_possible:.3g}, not below {alpha:g}"
        )
    verdict, reason = _decide(difference, p_value, alpha=alpha, margin=margin, too_few=too_few)
    return Comparison(difference, "mcnemar", p_value, verdict, reason)


def compare_scores(
    candidate: Sequence[float],
    base: Sequence[float],
    *,
    confidence: float = 0.95,
    margin: float = 0.0,
    resamples: int = 5000,
    seed: int = 0,
) -> Comparison:
    """Scores on the same items: the sign-flip permutation test of the mean difference decides."""
    _check_bootstrap(confidence, resamples)
    _same_length("candidate", len(candidate), "base", len(base))
    first = _numbers("candidate", candidate)
    second = _numbers("base", base)
    differences = [a - b for a, b in zip(first, second, strict=True)]
    if not all(math.isfinite(d) for d in differences):
        raise StatsError("candidate", "differences from base overflow a float")
    estimate = sample_mean(differences)
    if not math.isfinite(estimate):
        raise StatsError("values", "too large to average without overflowing a float")
    n = len(differences)
    alpha = 1.0 - confidence
    found = permutation.patterns(differences, resamples, random.Random(seed))
    p_value = permutation.p_value(differences, found)
    if min(differences) == max(differences):
        difference = Interval(estimate, estimate, estimate, n)
    else:
        low, high = permutation.interval(differences, found, estimate, alpha)
        difference = Interval(estimate, low, high, n)
    too_few = None
    floor = permutation.smallest_p_value(n, resamples)
    if n < MIN_SCORE_ITEMS:
        too_few = f"{n} paired items; a comparison of scores needs at least {MIN_SCORE_ITEMS}"
    elif floor >= alpha:
        too_few = f"with {n} items and {resamples} resamples p cannot fall below {alpha:g}"
    verdict, reason = _decide(difference, p_value, alpha=alpha, margin=margin, too_few=too_few)
    return Comparison(difference, "permutation", p_value, verdict, reason)


def paired_difference(
    candidate: Sequence[float],
    base: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 5000,
    seed: int = 0,
) -> Interval:
    """Mean of candidate minus base per item, with the permutation test's interval."""
    return compare_scores(
        candidate, base, confidence=confidence, resamples=resamples, seed=seed
    ).difference


def independent_difference(
    candidate: Sequence[float],
    base: Sequence[float],
    *,
    confidence: float = 0.95,
    resamples: int = 5000,
    seed: int = 0,
) -> Interval:
    """Mean of candidate minus mean of base, each resampled on its own.

    For scores that are not on the same items (or whose pairing was lost);
    with paired items ``paired_difference`` is the right, narrower interval.
    ``n`` is the smaller of the two groups.
    """
    _check_bootstrap(confidence, resamples)
    first = _numbers("candidate", candidate)
    second = _numbers("base", base)
    first_mean, second_mean = sample_mean(first), sample_mean(second)
    estimate = first_mean - second_mean
    if not math.isfinite(estimate):
        raise StatsError("values", "too large to average without overflowing a float")
    n = min(len(first), len(second))
    rng = random.Random(seed)
    if len(first) == 1:
        first_means = [first_mean] * resamples
    else:
        first_means = resampled_means(first, resamples, rng)
    if len(second) == 1:
        second_means = [second_mean] * resamples
    else:
        second_means = resampled_means(second, resamples, rng)
    means = [a - b for a, b in zip(first_means, second_means, strict=True)]
    influences = [(x - first_mean) / len(first) for x in first]
    influences += [(second_mean - y) / len(second) for y in second]
    return _bca(estimate, means, influences, n, confidence)


def tally(candidate: Sequence[float], base: Sequence[float], *, tolerance: float = 0.0) -> Tally:
    """Wins, ties and losses per item; scores within ``tolerance`` of each other tie."""
    if not (math.isfinite(tolerance) and tolerance >= 0.0):
        raise StatsError("tolerance", f"must be a finite number >= 0, got {tolerance!r}")
    _same_length("candidate", len(candidate), "base", len(base))
    wins = ties = losses = 0
    if len(candidate) == 0:
        return Tally(0, 0, 0)
    pairs = zip(_numbers("candidate", candidate), _numbers("base", base), strict=True)
    for a, b in pairs:
        if a - b > tolerance:
            wins += 1
        elif b - a > tolerance:
            losses += 1
        else:
            ties += 1
    return Tally(wins, ties, losses)


def _lower_tail(successes: int, trials: int) -> int:
    """Sum of C(trials, k) for k = 0..successes, exactly (integers never overflow)."""
    term = total = 1
    for k in range(successes):
        term = term * (trials - k) // (k + 1)
        total += term
    return total


def sign_test(wins: int, losses: int) -> float:
    """Two-sided exact binomial test of wins against losses (p = 1/2), ties left out."""
    for name, value in (("wins", wins), ("losses", losses)):
        if type(value) is not int or value < 0:
            raise StatsError(name, f"must be a count (an integer >= 0), got {value!r}")
    trials = wins + losses
    if trials == 0:
        return 1.0
    tail = _lower_tail(min(wins, losses), trials)
    return min(1.0, 2 * tail / (1 << trials))


def _discordant(candidate_pass: Sequence[bool], base_pass: Sequence[bool]) -> tuple[int, int]:
    """(items only the candidate passed, items only the base passed)."""
    _same_length("candidate_pass", len(candidate_pass), "base_pass", len(base_pass))
    only_candidate = only_base = 0
    for index, (a, b) in enumerate(zip(candidate_pass, base_pass, strict=True)):
        for name, value in (("candidate_pass", a), ("base_pass", b)):
            if not isinstance(value, bool):
                raise StatsError(name, f"item {index} is {value!r}, not true or false")
        if a and not b:
            only_candidate += 1
        elif b and not a:
            only_base += 1
    return only_candidate, only_base


def mcnemar_exact(candidate_pass: Sequence[bool], base_pass: Sequence[bool]) -> float:
    """Two-sided exact McNemar p-value: a sign test on the items where exactly one passed."""
    return sign_test(*_discordant(candidate_pass, base_pass))


def agreement(first: Sequence[Hashable], second: Sequence[Hashable]) -> Agreement:
    """A judge's self-agreement: the same items asked twice, answers compared as labels.

    For pairwise judgements asked again in swapped order, map the second
    answers back to the original order (A <-> B) before calling. Cohen's kappa
    discounts the agreement expected by chance from how often each label was
    used; it is None when chance agreement is certain (both runs used one and
    the same label throughout).
    """
    _same_length("first", len(first), "second", len(second))
    n = len(first)
    if n == 0:
        raise StatsError("first", "is empty; agreement needs at least one item asked twice")
    same = sum(1 for a, b in zip(first, second, strict=True) if a == b)
    first_counts, second_counts = Counter(first), Counter(second)
    chance = sum(count * second_counts[label] for label, count in first_counts.items())
    # kappa = (p_observed - p_chance) / (1 - p_chance), kept in integers over n*n.
    kappa = None if chance == n * n else (same * n - chance) / (n * n - chance)
    return Agreement(rate=same / n, kappa=kappa, n=n)
