"""The emulated judge: scores that track how close an answer is to a reference.

Tag convention (the evaluation module builds judge prompts with exactly these
tags, anywhere in the request's messages; when a tag pair occurs more than
once, for instance in instructions that mention it, the last pair counts):

* rubric judging: ``<reference>…</reference>`` and ``<candidate>…</candidate>``
  → a score from 1 to 5, ``1 + round(4 · F1)`` where F1 is the word-overlap F1
  of the candidate against the reference;
* pairwise judging: ``<reference>…</reference>``, ``<answer_a>…</answer_a>``
  and ``<answer_b>…</answer_b>`` → ``"A"``, ``"B"`` or ``"tie"`` (tie when the
  two F1 scores differ by less than :data:`TIE_MARGIN`). The verdict depends
  on the answers only, never on their position: swapping them swaps it.

With a ``json_schema`` response format the verdict fills the schema: a
``score``-like number, a ``winner``-like enum or string, booleans such as
``pass``, and any other string (``explanation``, ``reasoning``) with a short
deterministic explanation. Without one the reply is a JSON object
``{"score", "explanation"}`` or ``{"winner", "explanation"}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ftd.emulator import textsim

if TYPE_CHECKING:
    from collections.abc import Mapping

TIE_MARGIN = 0.02
_SCORE_WORDS = ("score", "rating", "grade", "points", "overall", "mark")
_VERDICT_WORDS = ("winner", "preference", "preferred", "better", "choice", "verdict", "best")
_A_VALUES = {"a", "answera", "responsea", "modela", "candidatea", "outputa", "first", "1"}
_B_VALUES = {"b", "answerb", "responseb", "modelb", "candidateb", "outputb", "second", "2"}
_TIE_VALUES = {"tie", "draw", "equal", "same", "both", "neither", "none", "0"}


def _last(tag: str, text: str) -> str | None:
    # The content may not contain another opening tag, so prose that merely
    # mentions "<reference>" before the real section is skipped over.
    found = re.findall(rf"<{tag}>((?:(?!<{tag}>).)*?)</{tag}>", text, flags=re.DOTALL)
    return found[-1].strip() if found else None


def score_from_f1(f1: float) -> int:
    return 1 + round(4 * max(0.0, min(1.0, f1)))


@dataclass(frozen=True, slots=True)
class RubricVerdict:
    f1: float

    @property
    def score(self) -> int:
        return score_from_f1(self.f1)

    def explanation(self) -> str:
        return (
            f"The candidate shares {self.f1:.0%} of its key content with the reference "
            f"(overlap F1 {self.f1:.2f}), so it scores {self.score} out of 5."
        )

    def suggest(self, name: str | None, schema: Mapping[str, Any]) -> object:
        kind = schema.get("type")
        key = (name or "").lower()
        options = schema.get("enum")
        numeric_enum = isinstance(options, list) and any(
            isinstance(v, int | float) and not isinstance(v, bool) for v in options
        )
        if kind in ("integer", "number") or numeric_enum:
            low, high = schema.get("minimum"), schema.get("maximum")
            if (
                isinstance(low, int | float)
                and isinstance(high, int | float)
                and (low, high) != (1, 5)
            ):
                value = low + self.f1 * (high - low)
                return round(value) if kind == "integer" else value
            return self.score
        if kind == "boolean":
            return self.score >= 3
        if any(w in key for w in _SCORE_WORDS):
            return str(self.score)
        return self.explanation()

    def as_object(self) -> dict[str, Any]:
        return {"score": self.score, "explanation": self.explanation()}


@dataclass(frozen=True, slots=True)
class PairwiseVerdict:
    f1_a: float
    f1_b: float

    @property
    def winner(self) -> str:
        if abs(self.f1_a - self.f1_b) < TIE_MARGIN:
            return "tie"
        return "A" if self.f1_a > self.f1_b else "B"

    def explanation(self) -> str:
        if self.winner == "tie":
            return f"Both answers are equally close to the reference (F1 {self.f1_a:.2f})."
        better, worse = (self.f1_a, self.f1_b) if self.winner == "A" else (self.f1_b, self.f1_a)
        return (
            f"Answer {self.winner} is closer to the reference "
            f"(overlap F1 {better:.2f} against {worse:.2f})."
        )

    def _enum_value(self, options: list[Any]) -> Any:
        wanted = {"A": _A_VALUES, "B": _B_VALUES, "tie": _TIE_VALUES}[self.winner]
        for option in options:
            if re.sub(r"[^a-z0-9]", "", str(option).lower()) in wanted:
                return option
        return None

    def suggest(self, name: str | None, schema: Mapping[str, Any]) -> object:
        key = (name or "").lower()
        options = schema.get("enum")
        if isinstance(options, list):
            return self._enum_value(options)
        kind = schema.get("type")
        if kind in ("integer", "number"):
            if key.endswith(("_a", "a_score")) or key in ("a", "score_a"):
                return score_from_f1(self.f1_a)
            if key.endswith(("_b", "b_score")) or key in ("b", "score_b"):
                return score_from_f1(self.f1_b)
            return score_from_f1(max(self.f1_a, self.f1_b))
        if kind == "boolean":
            return self.winner == "tie" if "tie" in key else self.winner == "A"
        if any(w in key for w in _VERDICT_WORDS):
            return self.winner
        return self.explanation()

    def as_object(self) -> dict[str, Any]:
        return {"winner": self.winner, "explanation": self.explanation()}


Verdict = RubricVerdict | PairwiseVerdict


def judge(conversation_text: str) -> Verdict | None:
    """The verdict a judge prompt asks for, or None when the text is not a judge prompt."""
    reference = _last("reference", conversation_text)
    if reference is None:
        return None
    answer_a = _last("answer_a", conversation_text)
    answer_b = _last("answer_b", conversation_text)
    if answer_a is not None and answer_b is not None:
        return PairwiseVerdict(textsim.f1(answer_a, reference), textsim.f1(answer_b, reference))
    candidate = _last("candidate", conversation_text)
    if candidate is not None:
        return RubricVerdict(textsim.f1(candidate, reference))
    return None
