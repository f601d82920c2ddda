"""Word-overlap similarity, the one notion of "close" behind retrieval and judging.

The fine-tuned model answers with the training reply whose prompt overlaps the
question most (Jaccard), and the judge scores a candidate by its overlap with
the reference (F1 over word counts). Both ignore case, punctuation and a short
list of function words, so that templated replies of the same intent score
high and a generic reply scores low.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_FUNCTION_WORDS = """
a an and are as at be been but by can could do does for from had has have how i if in
into is it its me my of on or our so that the their them then there these they this to
was we were what when where which who will with would you your
"""
STOPWORDS = frozenset(_FUNCTION_WORDS.split())


def words(text: str) -> list[str]:
    """Lower-case words of a text, function words removed."""
    return [w for w in _WORD.findall(text.lower()) if w not in STOPWORDS]


def jaccard(left: Iterable[str], right: Iterable[str]) -> float:
    a, b = set(left), set(right)
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def f1(candidate: str, reference: str) -> float:
    """Token-overlap F1 of a candidate against a reference, 0..1."""
    cand, ref = Counter(words(candidate)), Counter(words(reference))
    if not cand and not ref:
        return 1.0
    common = sum((cand & ref).values())
    if common == 0:
        return 0.0
    precision = common / sum(cand.values())
    recall = common / sum(ref.values())
    return 2 * precision * recall / (precision + recall)
