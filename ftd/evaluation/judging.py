"""What the judge is asked, and how its structured answer is read.

The reference and each answer travel between their own tags
(``<reference>``, ``<candidate>``, ``<answer_a>``, ``<answer_b>``), and any
such tag inside the texts is defused, so an answer cannot close its section
early and speak as the instructions. The judge must answer in a JSON schema,
so a verdict is read, never guessed from prose.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

RUBRIC_PROMPT = (
    "You grade an answer against a reference answer to the same question. Judge what it "
    "says, not its style or length: 5 = correct and complete, as good as the reference; "
    "4 = correct with a minor omission; 3 = partly correct; 2 = mostly wrong or vague; "
    "1 = wrong or unrelated. Reply in the JSON format requested, with a one-sentence "
    "explanation first."
)
PAIRWISE_PROMPT = (
    "Two answers to the same question follow a reference answer. Say which one is better: "
    "the more correct and complete with respect to the reference. Ignore their order and "
    'their length. Answer "tie" when neither is better. Reply in the JSON format '
    "requested, with a one-sentence explanation first."
)
_TAGS = ("question", "reference", "candidate", "answer_a", "answer_b")
_TAG_PATTERN = re.compile(r"<(/?)(" + "|".join(_TAGS) + r")\s*>", flags=re.IGNORECASE)

RUBRIC_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "rubric_score",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "explanation": {"type": "string"},
                "score": {"type": "integer", "enum": [1, 2, 3, 4, 5]},
            },
            "required": ["explanation", "score"],
            "additionalProperties": False,
        },
    },
}
PAIRWISE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "pairwise_preference",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                "explanation": {"type": "string"},
                "winner": {"type": "string", "enum": ["A", "B", "tie"]},
            },
            "required": ["explanation", "winner"],
            "additionalProperties": False,
        },
    },
}


class JudgeAnswerError(ValueError):
    """The judge's reply does not follow the schema it was given."""


def defuse(text: str) -> str:
    """Our section tags inside a text are escaped, so they no longer open or close a section."""
    if "<" not in text:  # (most texts: no tag to look for, nor a pattern to run)
        return text
    return _TAG_PATTERN.sub(lambda m: f"&lt;{m.group(1)}{m.group(2)}&gt;", text)


def _section(tag: str, text: str) -> str:
    return f"<{tag}>\n{defuse(text)}\n</{tag}>"


def rubric_messages(
    question: str, reference: str, candidate: str, prompt: str | None = None
) -> list[dict[str, Any]]:
    body = "\n\n".join(
        (
            _section("question", question),
            _section("reference", reference),
            _section("candidate", candidate),
        )
    )
    return [
        {"role": "system", "content": prompt or RUBRIC_PROMPT},
        {"role": "user", "content": body},
    ]


def pairwise_messages(
    question: str, reference: str, answer_a: str, answer_b: str, prompt: str | None = None
) -> list[dict[str, Any]]:
    body = "\n\n".join(
        (
            _section("question", question),
            _section("reference", reference),
            _section("answer_a", answer_a),
            _section("answer_b", answer_b),
        )
    )
    return [
        {"role": "system", "content": prompt or PAIRWISE_PROMPT},
        {"role": "user", "content": body},
    ]


def _object(text: str) -> dict[str, Any]:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise JudgeAnswerError(f"not JSON: {text[:120]!r}") from None
    if not isinstance(value, dict):
        raise JudgeAnswerError(f"not a JSON object: {text[:120]!r}")
    return value


@dataclass(frozen=True, slots=True)
class RubricAnswer:
    score: int
    explanation: str


@dataclass(frozen=True, slots=True)
class PairwiseAnswer:
    winner: str  # "A", "B" or "tie"
    explanation: str


def read_rubric(text: str) -> RubricAnswer:
    data = _object(text)
    score = data.get("score")
    if isinstance(score, str) and score.strip().isdigit():
        score = int(score.strip())
    if isinstance(score, bool) or not isinstance(score, int) or not 1 <= score <= 5:
        raise JudgeAnswerError(f"score must be an integer from 1 to 5, got {score!r}")
    return RubricAnswer(score, str(data.get("explanation", "")))


def read_pairwise(text: str) -> PairwiseAnswer:
    data = _object(text)
    winner = data.get("winner")
    normalised = {"a": "A", "b": "B", "tie": "tie"}.get(str(winner).strip().lower())
    if normalised is None:
        raise JudgeAnswerError(f'winner must be "A", "B" or "tie", got {winner!r}')
    return PairwiseAnswer(normalised, str(data.get("explanation", "")))


def preference(first: PairwiseAnswer, second: PairwiseAnswer) -> tuple[str, str, str]:
    """Both orders read as ("candidate" | "base" | "tie") each, and the agreed preference.

    In the first order the candidate is A, in the second it is B. A preference
    counts only when both orders agree; otherwise it is a tie.
    """
    one = {"A": "candidate", "B": "base", "tie": "tie"}[first.winner]
    two = {"A": "base", "B": "candidate", "tie": "tie"}[second.winner]
    return one, two, one if one == two else "tie"
