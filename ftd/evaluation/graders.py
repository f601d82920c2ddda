"""Graders that need no model: exact, normalised, token-overlap F1 and JSON.

Each gives a score in [0, 1] with an explanation a person can check; the
pass/fail ones also say ``passed``, which the paired McNemar test needs.
The judge and pairwise graders ask a model and live in ``judging``.

A reinforcement run's own grader is computed here where that needs no
model: ``string_check`` and ``text_similarity`` (but for ``cosine``, whose
embeddings ``rft`` asks for), with
the grader's templates filled from the test line and the answer; the rest
(``score_model``, ``label_model``, ``multi``, and the refusals) is in
``rft``, and ``rft_grade`` answers None for them.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from ftd.evaluation.similarity import LOCAL_METRICS, similarity

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

# Graders whose score is a pass (1) or a fail (0), compared with McNemar's test.
PASS_FAIL = frozenset({"exact", "normalized", "json"})
LOCAL = ("exact", "normalized", "f1", "json")
_PUNCTUATION = re.compile(r"[^\w\s]", flags=re.UNICODE)
_TEMPLATE = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")
_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n(.*?)\n?```\s*$", flags=re.DOTALL)


@dataclass(frozen=True, slots=True)
class Score:
    value: float
    explanation: str
    passed: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"score": self.value, "explanation": self.explanation}
        if self.passed is not None:
            out["passed"] = self.passed
        return out


# What _PUNCTUATION blanks out of an ASCII text, as a byte table: bytes.translate is
# several times faster than the expression (and twice str.translate's speed on answers
# of a few hundred characters), and the table is the expression's own verdict on each
# of the 128 characters.
_ASCII_PUNCTUATION = bytes(
    0x20 if c < 128 and _PUNCTUATION.match(chr(c)) else c for c in range(256)
)


def words(text: str) -> list[str]:
    """The words ``normalize`` keeps, in order."""
    if text.isascii():  # NFKC leaves ASCII as it is, and its case folds within ASCII
        return text.encode("ascii").lower().translate(_ASCII_PUNCTUATION).decode("ascii").split()
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _PUNCTUATION.sub(" ", folded).split()


def normalize(text: str) -> str:
    """Case, punctuation and runs of whitespace do not count."""
    return " ".join(words(text))


def exact(candidate: str, reference: str) -> Score:
    same = candidate.strip() == reference.strip()
    return Score(float(same), "identical" if same else "differs from the reference", passed=same)


def normalized(candidate: str, reference: str) -> Score:
    same = normalize(candidate) == normalize(reference)
    why = (
        "same text once case, whitespace and punctuation are ignored"
        if same
        else "differs from the reference even ignoring case, whitespace and punctuation"
    )
    return Score(float(same), why, passed=same)


def f1(candidate: str, reference: str) -> Score:
    got = words(candidate)
    want = words(reference)
    if not got and not want:
        return Score(1.0, "both empty")
    # The words shared, each as often as both have it: the reference's words looked up
    # among the answer's (Counter's & would walk the longer answer's in Python).
    found = Counter(got)
    common = sum(min(n, found[word]) for word, n in Counter(want).items() if word in found)
    if common == 0:
        return Score(0.0, f"no words in common ({len(got)} against {len(want)})")
    precision, recall = common / len(got), common / len(want)
    value = 2 * precision * recall / (precision + recall)
    return Score(
        value,
        f"{common} shared words: precision {precision:.2f}, recall {recall:.2f}",
    )


def _parse(text: str) -> tuple[bool, Any]:
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced.group(1).strip()
    try:
        return True, orjson.loads(body)
    except orjson.JSONDecodeError:
        return False, None


def _leaves(value: Any, prefix: str = "$") -> dict[str, Any]:
    if isinstance(value, dict):
        if not value:
            return {prefix: {}}
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_leaves(inner, f"{prefix}.{key}"))
        return out
    if isinstance(value, list):
        if not value:
            return {prefix: []}
        out = {}
        for i, inner in enumerate(value):
            out.update(_leaves(inner, f"{prefix}[{i}]"))
        return out
    return {prefix: value}


def json_match(candidate: str, reference: str) -> Score:
    """Parses; and when the reference is JSON, the share of its leaves the answer matches."""
    parses, got = _parse(candidate)
    if not parses:
        return Score(0.0, "the answer is not JSON", passed=False)
    is_json, want = _parse(reference)
    if not is_json:
        return Score(1.0, "the answer parses (the reference is not JSON)", passed=True)
    expected, actual = _leaves(want), _leaves(got)
    matched = [path for path, value in expected.items() if path in actual and actual[path] == value]
    extra = sorted(actual.keys() - expected.keys())
    value = len(matched) / len(expected)
    if extra:
        value *= len(expected) / (len(expected) + len(extra))
    missing = [p for p in expected if p not in matched]
    parts = [f"{len(matched)} of {len(expected)} reference values match"]
    if missing:
        parts.append("differs at " + ", ".join(missing[:3]) + (" …" if len(missing) > 3 else ""))
    if extra:
        parts.append(f"{len(extra)} unexpected values")
    return Score(value, "; ".join(parts), passed=value == 1.0)


_LOCAL_GRADERS = {"exact": exact, "normalized": normalized, "f1": f1, "json": json_match}


def grade_locally(names: Sequence[str], candidate: str, reference: str) -> dict[str, Score]:
    """The scores of every model-free grader among ``names``."""
    return {name: _LOCAL_GRADERS[name](candidate, reference) for name in names if name in LOCAL}


def string_check(candidate: str, reference: str, operation: str) -> Score:
    """OpenAI's string check: eq, ne, like (contains) and ilike (contains, any case)."""
    if operation == "eq":
        passed, why = candidate == reference, "equal to"
    elif operation == "ne":
        passed, why = candidate != reference, "different from"
    elif operation == "like":
        passed, why = reference in candidate, "containing"
    elif operation == "ilike":
        passed, why = reference.casefold() in candidate.casefold(), "containing (any case)"
    else:
        raise ValueError(f"unknown string_check operation {operation!r}")
    return Score(float(passed), ("" if passed else "not ") + f"{why} the reference", passed=passed)


def text_similarity(candidate: str, reference: str, metric: str) -> Score:
    value = similarity(metric, candidate, reference)
    return Score(value, f"{metric} {value:.3f} against the reference")


def _lookup(path: str, item: Mapping[str, Any], answer: str) -> str:
    root, _, rest = path.partition(".")
    value: Any
    if root == "item":
        value, keys = item, rest.split(".") if rest else []
    elif path == "sample.output_text":
        return answer
    elif rest.startswith("output_json") and root == "sample":
        parses, value = _parse(answer)
        if not parses:
            raise ValueError("the answer is not JSON, so {{" + path + "}} has no value")
        keys = rest.split(".")[1:]
    else:
        raise ValueError("{{" + path + "}} is not a template this evaluation can fill")
    for key in keys:
        if not isinstance(value, dict) or key not in value:
            raise ValueError("{{" + path + "}} names nothing in the line or the answer")
        value = value[key]
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def fill(template: str, item: Mapping[str, Any], answer: str) -> str:
    """A grader template with ``{{item.KEY}}`` and ``{{sample.output_text}}`` filled in."""
    return _TEMPLATE.sub(lambda m: _lookup(m.group(1), item, answer), template)


def rft_grade(grader: Mapping[str, Any], item: Mapping[str, Any], answer: str) -> Score | None:
    """An RFT grader's score of one answer to one line; None where a model is needed."""
    kind = grader.get("type")
    if kind == "string_check":
        return string_check(
            fill(str(grader["input"]), item, answer),
            fill(str(grader["reference"]), item, answer),
            str(grader["operation"]),
        )
    if kind == "text_similarity" and grader.get("evaluation_metric") in LOCAL_METRICS:
        return text_similarity(
            fill(str(grader["input"]), item, answer),
            fill(str(grader["reference"]), item, answer),
            str(grader["evaluation_metric"]),
        )
    return None
