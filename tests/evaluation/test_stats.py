"""Evaluation statistics against independent references, simulations and hand-worked tables."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ftd.evaluation.stats import (
    Agreement,
    Interval,
    StatsError,
    Tally,
    agreement,
    compare_pass_fail,
    compare_scores,
    independent_difference,
    mcnemar_exact,
    mean_interval,
    paired_difference,
    sign_test,
    tally,
)

QUICK = 1000  # resamples in simulations: enough for 95% intervals, cheap to repeat


def two_sided_binomial(successes: int, trials: int) -> Fraction:
    """Sum of the probabilities of every outcome no more likely than the one observed."""
    ways = [
        Fraction(math.factorial(trials), math.factorial(k) * math.factorial(trials - k))
        for k in range(trials + 1)
    ]
    pmf = [w / 2**trials for w in ways]
    observed = pmf[successes]
    return min(Fraction(1), sum((p for p in pmf if p <= observed), Fraction(0)))


def width(interval: Interval) -> float:
    return interval.high - interval.low


# --- exact tests -------------------------------------------------------------


def test_sign_test_known_case() -> None:
    # 10 wins, 2 losses: 2 * (C(12,0) + C(12,1) + C(12,2)) / 2**12 = 2 * 79 / 4096
    assert sign_test(10, 2) == pytest.approx(0.0386, abs=5e-5)
    assert sign_test(10, 2) == pytest.approx(2 * 79 / 4096, rel=1e-12)


@pytest.mark.parametrize(
    ("wins", "losses"), [(0, 1), (1, 0), (3, 0), (4, 4), (7, 2), (2, 9), (13, 5), (20, 25), (0, 30)]
)
def test_sign_test_matches_enumerated_binomial(wins: int, losses: int) -> None:
    expected = two_sided_binomial(wins, wins + losses)
    assert sign_test(wins, losses) == pytest.approx(float(expected), rel=1e-12)
    assert sign_test(wins, losses) == sign_test(losses, wins)


def test_sign_test_without_decided_items_is_one() -> None:
    assert sign_test(0, 0) == 1.0
    assert sign_test(6, 6) == 1.0


def test_sign_test_with_thousands_of_items_matches_the_normal_approximation() -> None:
    p = sign_test(3000, 2900)
    assert 0.0 < p < 1.0
    # continuity-corrected normal approximation, accurate at this size
    z = (abs(3000 - 2900) - 1) / math.sqrt(5900)
    assert p == pytest.approx(2 * (1 - 0.5 * (1 + math.erf(z / math.sqrt(2)))), abs=2e-3)
    assert 0.0 < sign_test(10_000, 9_700) < sign_test(10_000, 9_900) < 1.0


def test_mcnemar_counts_only_discordant_pairs() -> None:
    # 7 items only the candidate passes, 1 only the base passes, 12 both, 5 neither
    candidate = [True] * 7 + [False] * 1 + [True] * 12 + [False] * 5
    base = [False] * 7 + [True] * 1 + [True] * 12 + [False] * 5
    assert mcnemar_exact(candidate, base) == pytest.approx(float(two_sided_binomial(1, 8)))
    assert mcnemar_exact(candidate, base) == pytest.approx(2 * 9 / 256)
    assert mcnemar_exact(base, candidate) == mcnemar_exact(candidate, base)


def test_mcnemar_without_discordant_pairs_is_one() -> None:
    assert mcnemar_exact([True, False, True], [True, False, True]) == 1.0
    assert mcnemar_exact([], []) == 1.0


# --- bootstrap intervals -----------------------------------------------------


def coverage(draw: Callable[[random.Random], float], true_mean: float, n: int) -> float:
    rng = random.Random(2024)
    hits = 0
    for repetition in range(200):
        values = [draw(rng) for _ in range(n)]
        interval = mean_interval(values, resamples=QUICK, seed=repetition)
        hits += interval.low <= true_mean <= interval.high
    return hits / 200


def test_interval_covers_a_normal_mean_about_95_percent_of_the_time() -> None:
    assert 0.88 <= coverage(lambda rng: rng.gauss(0.3, 1.0), 0.3, 40) <= 0.99


def test_interval_covers_a_pass_rate_about_95_percent_of_the_time() -> None:
    assert 0.88 <= coverage(lambda rng: float(rng.random() < 0.7), 0.7, 50) <= 0.99


def test_paired_interval_covers_the_true_shift_about_95_percent_of_the_time() -> None:
    rng = random.Random(99)
    hits = 0
    for repetition in range(200):
        base = [rng.gauss(0.0, 2.0) for _ in range(30)]
        candidate = [b + 0.2 + rng.gauss(0.0, 0.5) for b in base]
        interval = paired_difference(candidate, base, resamples=QUICK, seed=repetition)
        hits += interval.low <= 0.2 <= interval.high
    assert 0.88 <= hits / 200 <= 0.99


def test_interval_narrows_as_items_grow() -> None:
    rng = random.Random(5)
    widths = [width(mean_interval([rng.gauss(0, 1) for _ in range(n)])) for n in (25, 100, 400)]
    assert widths[0] > widths[1] > widths[2]
    # the width shrinks like 1/sqrt(n): sixteen times the items, about a quarter of the width
    assert widths[2] == pytest.approx(widths[0] / 4, rel=0.35)


def test_paired_interval_of_a_constant_shift_is_the_shift() -> None:
    rng = random.Random(3)
    base = [rng.randint(0, 8) / 8 for _ in range(200)]  # eighths: the shift is exact in floats
    candidate = [b + 0.25 for b in base]
    assert paired_difference(candidate, base) == Interval(0.25, 0.25, 0.25, 200)


def test_pairing_removes_the_spread_between_items() -> None:
    rng = random.Random(11)
    difficulty = [rng.gauss(0.0, 1.0) for _ in range(300)]
    base = [d + rng.gauss(0.0, 0.1) for d in difficulty]
    candidate = [d + 0.05 + rng.gauss(0.0, 0.1) for d in difficulty]
    paired = paired_difference(candidate, base)
    unpaired = independent_difference(candidate, base)
    assert paired.estimate == pytest.approx(unpaired.estimate)
    assert paired.low > 0.0  # the 0.05 improvement is detected only when paired
    assert unpaired.low < 0.0 < unpaired.high
    assert width(paired) < width(unpaired) / 3


def test_one_item_gives_a_point() -> None:
    assert mean_interval([0.7]) == Interval(0.7, 0.7, 0.7, 1)
    assert paired_difference([1.0], [0.5]) == Interval(0.5, 0.5, 0.5, 1)


def test_pass_fail_interval_stays_within_zero_and_one() -> None:
    interval = mean_interval([1.0] * 18 + [0.0] * 2)
    assert interval.estimate == 0.9
    assert 0.6 < interval.low < 0.9 < interval.high <= 1.0


def test_results_depend_only_on_the_seed() -> None:
    rng = random.Random(8)
    values = [rng.random() for _ in range(60)]
    assert mean_interval(values, seed=4) == mean_interval(values, seed=4)
    assert mean_interval(values, seed=4) != mean_interval(values, seed=5)
    pairs = (
        [float(rng.random() < 0.6) for _ in range(60)],
        [float(rng.random() < 0.5) for _ in range(60)],
    )
    assert paired_difference(*pairs, seed=1) == paired_difference(*pairs, seed=1)


def test_wider_confidence_gives_a_wider_interval() -> None:
    values = [float(i % 7) for i in range(70)]
    assert width(mean_interval(values, confidence=0.99)) > width(mean_interval(values))
    assert width(mean_interval(values)) > width(mean_interval(values, confidence=0.8))


def test_as_dict_is_json_ready_and_rounded() -> None:
    as_dict = Interval(0.123456789, -0.0, 1.000000049, 12).as_dict()
    assert as_dict == {
        "estimate": 0.123457, "low": 0.0, "high": 1.0, "n": 12, "degenerate": False
    }  # fmt: skip
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert Interval(3.2e-9, -1e-8, 2e-8, 5).as_dict()["estimate"] == 3.2e-9


scores = st.one_of(
    st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=40),
    st.lists(st.sampled_from([0.0, 1.0]), min_size=1, max_size=40),
    st.lists(st.integers(min_value=1, max_value=5).map(float), min_size=1, max_size=40),
)


@settings(max_examples=150, deadline=None)
@given(values=scores, confidence=st.floats(min_value=0.5, max_value=0.999), seed=st.integers(0, 9))
def test_estimate_lies_within_its_interval(
    values: list[float], confidence: float, seed: int
) -> None:
    interval = mean_interval(values, confidence=confidence, resamples=200, seed=seed)
    assert interval.low <= interval.estimate <= interval.high
    assert interval.n == len(values)
    shifted = [v * 0.5 + 1.0 for v in reversed(values)]
    difference = paired_difference(values, shifted, confidence=confidence, resamples=200, seed=seed)
    assert difference.low <= difference.estimate <= difference.high


# --- verdicts and tallies ----------------------------------------------------


def pass_fail_pairs(
    only_candidate: int, only_base: int, both: int, neither: int
) -> tuple[list[bool], list[bool]]:
    candidate = [True] * only_candidate + [False] * only_base + [True] * both + [False] * neither
    base = [False] * only_candidate + [True] * only_base + [True] * both + [False] * neither
    return candidate, base


def test_the_demos_normalized_counts_are_not_called_better() -> None:
    # The demo's normalized grader: 13 items, 5 only the fine-tuned model passed, none only
    # the base. McNemar's exact p is 2 / 2**5 = 0.0625: no 95% verdict can come of it.
    comparison = compare_pass_fail(*pass_fail_pairs(5, 0, 0, 8))
    assert comparison.test == "mcnemar"
    assert comparison.p_value == pytest.approx(0.0625)
    assert comparison.verdict != "better"
    assert comparison.verdict == "too_few_items"
    assert "McNemar's p would be 0.0625" in comparison.reason
    assert comparison.difference.low <= 0.0 < comparison.difference.high


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ((6, 0, 10, 4), "better"),  # p = 2/64 = 0.031
        ((0, 6, 10, 4), "worse"),
        ((7, 2, 10, 4), "no_detectable_difference"),  # p = 0.18
        ((27, 3, 0, 0), "better"),
        ((0, 0, 20, 20), "too_few_items"),
    ],
)
def test_the_mcnemar_verdict_is_the_tests_decision(
    counts: tuple[int, int, int, int], expected: str
) -> None:
    comparison = compare_pass_fail(*pass_fail_pairs(*counts))
    assert comparison.verdict == expected
    significant = comparison.p_value < 0.05
    assert significant == (expected in ("better", "worse"))
    # the interval that goes with it excludes zero exactly when the test is significant
    excludes_zero = comparison.difference.low > 0 or comparison.difference.high < 0
    assert excludes_zero == significant


def test_interval_and_mcnemar_agree_on_every_count_up_to_forty() -> None:
    for only_candidate in range(0, 21):
        for only_base in range(0, 21):
            comparison = compare_pass_fail(*pass_fail_pairs(only_candidate, only_base, 3, 2))
            excludes_zero = comparison.difference.low > 0 or comparison.difference.high < 0
            assert excludes_zero == (comparison.p_value < 0.05), (only_candidate, only_base)


def test_a_margin_needs_the_interval_beyond_it() -> None:
    candidate, base = pass_fail_pairs(12, 1, 30, 57)  # +0.11, p = 0.003
    assert compare_pass_fail(candidate, base).verdict == "better"
    held = compare_pass_fail(candidate, base, margin=0.2)
    assert held.verdict == "no_detectable_difference"
    assert "margin 0.2" in held.reason


def test_score_comparison_below_the_minimum_gives_no_verdict() -> None:
    comparison = compare_scores([5.0] * 9, [1.0] * 9)
    assert comparison.verdict == "too_few_items"
    assert "at least 10" in comparison.reason
    assert compare_scores([5.0] * 10, [1.0] * 10).verdict == "better"


def test_score_interval_excludes_zero_exactly_when_the_permutation_test_rejects() -> None:
    rng = random.Random(12)
    for repetition in range(40):
        n = rng.choice([10, 12, 20, 30])
        shift = rng.choice([0.0, 0.3, 0.6])
        base = [float(rng.randint(1, 5)) for _ in range(n)]
        candidate = [min(5.0, b + rng.choice([-1, 0, 1]) + shift) for b in base]
        comparison = compare_scores(candidate, base, resamples=QUICK, seed=repetition)
        d = comparison.difference
        if d.degenerate:
            continue
        excludes_zero = d.low > 0 or d.high < 0
        assert excludes_zero == (comparison.p_value < 0.05), (repetition, comparison)


def test_exact_permutation_p_value_by_hand() -> None:
    # differences +1 on 10 items: only the all-plus and all-minus patterns are as extreme
    comparison = compare_scores([2.0] * 10, [1.0] * 10)
    assert comparison.test == "permutation"
    assert comparison.p_value == pytest.approx(2 / 1024)
    # +1 on 9 items and -1 on one: patterns with at most one minus, or at most one plus
    comparison = compare_scores([2.0] * 9 + [0.0], [1.0] * 10)
    assert comparison.p_value == pytest.approx(2 * 11 / 1024)


def test_thousands_of_items_compare_without_overflow() -> None:
    rng = random.Random(21)
    base = [rng.random() for _ in range(3000)]
    candidate = [b + 0.05 + rng.gauss(0, 0.2) for b in base]
    comparison = compare_scores(candidate, base, resamples=200)
    assert comparison.verdict == "better"
    assert comparison.p_value == pytest.approx(1 / 201)
    assert 0.0 < comparison.difference.low < 0.05 < comparison.difference.high < 0.1


def test_a_degenerate_interval_says_so() -> None:
    interval = mean_interval([5.0] * 24)
    assert (interval.low, interval.high) == (5.0, 5.0)
    assert interval.degenerate
    assert interval.as_dict()["degenerate"] is True
    # pass/fail scores all passing get an honest interval, not the point [1, 1]
    passes = mean_interval([1.0] * 24)
    assert not passes.degenerate
    assert passes.low == pytest.approx(0.8575, abs=1e-3)  # (0.025) ** (1 / 24)


def test_tally_without_tolerance() -> None:
    candidate = [1.0, 0.5, 0.5, 0.0, 0.9]
    base = [0.0, 0.5, 0.6, 1.0, 0.85]
    assert tally(candidate, base) == Tally(wins=2, ties=1, losses=2)


def test_tally_with_tolerance() -> None:
    candidate = [1.0, 0.5, 0.5, 0.0, 0.9]
    base = [0.0, 0.5, 0.6, 1.0, 0.85]
    assert tally(candidate, base, tolerance=0.1) == Tally(wins=1, ties=3, losses=1)
    assert tally([], []) == Tally(0, 0, 0)


# --- judge agreement ---------------------------------------------------------


def test_identical_answers_agree_fully() -> None:
    answers = ["A", "B", "tie", "A", "B"]
    assert agreement(answers, list(answers)) == Agreement(rate=1.0, kappa=1.0, n=5)


def test_kappa_of_a_known_table() -> None:
    # first\second   yes  no
    #   yes           20   5
    #   no            10  15
    # observed 35/50 = 0.7; chance (25*30 + 25*20) / 50**2 = 0.5; kappa (0.7-0.5)/(1-0.5) = 0.4
    first = ["yes"] * 25 + ["no"] * 25
    second = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    result = agreement(first, second)
    assert result.rate == pytest.approx(0.7)
    assert result.kappa == pytest.approx(0.4)
    assert result.n == 50


def test_systematic_disagreement_has_negative_kappa() -> None:
    result = agreement([1, 2, 1, 2], [2, 1, 2, 1])
    assert result.rate == 0.0
    assert result.kappa == pytest.approx(-1.0)


def test_one_label_only_leaves_kappa_undefined() -> None:
    assert agreement(["pass"] * 6, ["pass"] * 6) == Agreement(rate=1.0, kappa=None, n=6)


# --- bad arguments -----------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "argument", "shown"),
    [
        (lambda: mean_interval([]), "values", "empty"),
        (lambda: mean_interval([1.0, math.nan]), "values", "nan"),
        (lambda: mean_interval([1.0, math.inf]), "values", "inf"),
        (lambda: mean_interval([1e308, 1e308]), "values", "overflow"),
        (lambda: mean_interval([1.0], confidence=1.0), "confidence", "1.0"),
        (lambda: mean_interval([1.0], confidence=0.0), "confidence", "0.0"),
        (lambda: mean_interval([1.0], confidence=math.nan), "confidence", "nan"),
        (lambda: mean_interval([1.0], resamples=99), "resamples", "99"),
        (lambda: paired_difference([1.0, 2.0], [1.0]), "base", "1 items"),
        (lambda: paired_difference([], []), "candidate", "empty"),
        (lambda: paired_difference([1.0], [None]), "base", "None"),  # type: ignore[list-item]
        (lambda: independent_difference([1.0], []), "base", "empty"),
        (lambda: tally([1.0], [1.0, 2.0]), "base", "2 items"),
        (lambda: tally([1.0], [1.0], tolerance=-0.1), "tolerance", "-0.1"),
        (lambda: mcnemar_exact([True], [True, False]), "base_pass", "2 items"),
        (lambda: mcnemar_exact([1], [True]), "candidate_pass", "1"),  # type: ignore[list-item]
        (lambda: sign_test(-1, 3), "wins", "-1"),
        (lambda: sign_test(2, 1.5), "losses", "1.5"),  # type: ignore[arg-type]
        (lambda: compare_pass_fail([True], [False], margin=-0.1), "margin", "-0.1"),
        (lambda: agreement([], []), "first", "empty"),
        (lambda: agreement(["a"], ["a", "b"]), "second", "2 items"),
    ],
)
def test_bad_arguments_are_named(call: Callable[[], object], argument: str, shown: str) -> None:
    with pytest.raises(StatsError) as raised:
        call()
    assert raised.value.argument == argument
    assert str(raised.value).startswith(f"{argument}: ")
    assert shown in str(raised.value)
