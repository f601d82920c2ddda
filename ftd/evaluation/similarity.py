"""Text-similarity metrics computed here, for RFT ``text_similarity`` graders.

The definitions are the usual ones (ROUGE-N and ROUGE-L as F-measures,
sentence BLEU over 1-4-grams with add-one smoothing and the brevity penalty,
GLEU as the smaller of n-gram precision and recall, fuzzy match as a
character-level matching ratio). The provider's own implementation is not
published, so its figures may differ in the details; within one evaluation
both models are scored alike, which is what the comparison needs.

METEOR is computed with its exact-match stage only (Banerjee and Lavie's
F-mean with recall weighted 9 to 1 and the fragmentation penalty
0.5 * (chunks / matches) ^ 3): the stem and WordNet-synonym stages need
linguistic data ftd does not ship, so a paraphrase scores lower than the
full metric would give it. ``cosine`` is the cosine of two embeddings the
provider computes (asked by ``ftd.evaluation.rft``); only the arithmetic on
the two vectors is here.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence

LOCAL_METRICS = (
    "fuzzy_match",
    "bleu",
    "gleu",
    "meteor",
    "rouge_1",
    "rouge_2",
    "rouge_3",
    "rouge_4",
    "rouge_5",
    "rouge_l",
)
MAX_ORDER = 4


def _ngrams(words: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def _f_measure(overlap: int, got: int, want: int) -> float:
    if overlap == 0 or got == 0 or want == 0:
        return 0.0
    precision, recall = overlap / got, overlap / want
    return 2 * precision * recall / (precision + recall)


def rouge_n(candidate: list[str], reference: list[str], n: int) -> float:
    got, want = _ngrams(candidate, n), _ngrams(reference, n)
    return _f_measure(sum((got & want).values()), sum(got.values()), sum(want.values()))


def _lcs(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for word in a:
        current = [0]
        for j, other in enumerate(b):
            current.append(previous[j] + 1 if word == other else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(candidate: list[str], reference: list[str]) -> float:
    return _f_measure(_lcs(candidate, reference), len(candidate), len(reference))


def bleu(candidate: list[str], reference: list[str]) -> float:
    if not candidate or not reference:
        return 0.0
    logs = 0.0
    for n in range(1, MAX_ORDER + 1):
        got, want = _ngrams(candidate, n), _ngrams(reference, n)
        matched, total = sum((got & want).values()), sum(got.values())
        # Add-one smoothing above unigrams: a short answer is not zeroed by one missing 4-gram.
        if n > 1:
            matched, total = matched + 1, total + 1
        if matched == 0 or total == 0:
            return 0.0
        logs += math.log(matched / total) / MAX_ORDER
    brevity = min(1.0, math.exp(1 - len(reference) / len(candidate)))
    return brevity * math.exp(logs)


def gleu(candidate: list[str], reference: list[str]) -> float:
    got: Counter[tuple[str, ...]] = Counter()
    want: Counter[tuple[str, ...]] = Counter()
    for n in range(1, MAX_ORDER + 1):
        got += _ngrams(candidate, n)
        want += _ngrams(reference, n)
    if not got or not want:
        return 0.0
    overlap = sum((got & want).values())
    return min(overlap / sum(got.values()), overlap / sum(want.values()))


def _aligned(candidate: list[str], reference: list[str]) -> list[tuple[int, int]]:
    """Exact word matches, each reference word used once, in the candidate's order."""
    used: set[int] = set()
    pairs: list[tuple[int, int]] = []
    for i, word in enumerate(candidate):
        for j, other in enumerate(reference):
            if j not in used and other == word:
                used.add(j)
                pairs.append((i, j))
                break
    return pairs


def meteor(candidate: list[str], reference: list[str]) -> float:
    got = [w.casefold() for w in candidate]
    want = [w.casefold() for w in reference]
    pairs = _aligned(got, want)
    matches = len(pairs)
    if matches == 0:
        return 0.0
    precision, recall = matches / len(got), matches / len(want)
    f_mean = 10 * precision * recall / (recall + 9 * precision)
    # A chunk is a run of matches adjacent in both texts.
    chunks = 1 + sum(
        1 for (i, j), (k, m) in itertools.pairwise(pairs) if not (k == i + 1 and m == j + 1)
    )
    penalty = 0.5 * (chunks / matches) ** 3
    return f_mean * (1 - penalty)


def fuzzy_match(candidate: str, reference: str) -> float:
    return difflib.SequenceMatcher(None, candidate, reference, autojunk=False).ratio()


def similarity(metric: str, candidate: str, reference: str) -> float:
    """The metric's score in [0, 1]; ValueError for a metric not computed here."""
    if metric == "fuzzy_match":
        return fuzzy_match(candidate, reference)
    got, want = candidate.split(), reference.split()
    if metric == "bleu":
        return bleu(got, want)
    if metric == "gleu":
        return gleu(got, want)
    if metric == "meteor":
        return meteor(got, want)
    if metric == "rouge_l":
        return rouge_l(got, want)
    if metric.startswith("rouge_") and metric[6:].isdigit():
        return rouge_n(got, want, int(metric[6:]))
    raise ValueError(f"{metric} is not computed locally (cosine needs embeddings)")


def cosine(first: Sequence[float], second: Sequence[float]) -> float:
    """The cosine of two vectors of one length, in [-1, 1]; 0 where either is all zeros."""
    if len(first) != len(second):
        raise ValueError(f"vectors of {len(first)} and {len(second)} coordinates")
    dot = math.fsum(a * b for a, b in zip(first, second, strict=True))
    norms = math.sqrt(math.fsum(a * a for a in first)) * math.sqrt(math.fsum(b * b for b in second))
    if norms == 0.0:
        return 0.0
    return max(-1.0, min(1.0, dot / norms))
