"""One notification as people read it: a title and a few lines, for Slack and e-mail alike.

The webhook gets the payload as it is; these words are for the message bodies
a person reads, so each kind says what happened and what to do next.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Message:
    title: str
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join((self.title, *self.lines))


def _usd(value: object) -> str:
    return f"${value:,.2f}" if isinstance(value, int | float) else "unknown"


def _interval(value: object) -> str:
    if not isinstance(value, dict) or value.get("estimate") is None:
        return "n/a"
    low, high = value.get("low"), value.get("high")
    bounds = (
        f" [{low:.2f}, {high:.2f}]"
        if isinstance(low, float | int) and isinstance(high, float | int)
        else ""
    )
    return f"{value['estimate']:.2f}{bounds}"


def render(kind: str, subject: str, payload: dict[str, Any]) -> Message:
    """The words for one notification; an unknown kind still reads as its name and subject."""
    p = payload
    if kind == "dataset_rejected":
        return Message(
            f"ftd: {subject} rejected ({p.get('errors', '?')} errors)",
            tuple(p.get("first_errors") or ()),
        )
    if kind == "approval_waiting":
        return Message(
            f"ftd: {subject} waits for approval",
            (
                f"estimate {_usd(p.get('training_usd'))} training + "
                f"{_usd(p.get('evaluation_usd'))} evaluation, limit {_usd(p.get('limit_usd'))}",
                *([str(p["reason"])] if p.get("reason") else []),
                f"approve with: {p.get('approve_command')}",
            ),
        )
    if kind == "job_succeeded":
        return Message(
            f"ftd: job {p.get('job_id')} succeeded",
            (
                f"model {p.get('fine_tuned_model')} (from {p.get('model')})",
                f"{p.get('trained_tokens') or 0:,} tokens trained, cost {_usd(p.get('cost_usd'))}",
            ),
        )
    if kind == "job_failed":
        code = f" [{p['error_code']}]" if p.get("error_code") else ""
        return Message(
            f"ftd: job {p.get('job_id')} failed{code}",
            (str(p.get("message") or "the provider gave no message"),),
        )
    if kind == "job_cancelled":
        return Message(f"ftd: job {p.get('job_id')} was cancelled", (f"model {p.get('model')}",))
    if kind == "evaluation_verdict":
        lines = [f"{p.get('model')} against {p.get('base_model') or 'no base'}"]
        found = p.get("graders")
        graders: dict[str, Any] = found if isinstance(found, dict) else {}
        for name, grader in graders.items():
            lines.append(
                f"{name}: fine-tuned {_interval(grader.get('candidate'))}, base "
                f"{_interval(grader.get('base'))}: {grader.get('verdict') or 'no verdict'}"
            )
        if p.get("error"):
            lines.append(f"error: {p['error']}")
        return Message(
            f"ftd: evaluation {p.get('evaluation_id')} {p.get('status')}, verdict: "
            f"{p.get('verdict') or 'none'}",
            tuple(lines),
        )
    if kind == "deployment_running":
        return Message(
            f"ftd: deployment {p.get('name')} has run {p.get('hours', 0):.1f} hours",
            (
                f"model {p.get('model')} at {p.get('provider')}, cost so far "
                f"{_usd(p.get('cost_usd'))}",
            ),
        )
    if kind == "model_retiring":
        return Message(
            f"ftd: {p.get('model')} retires on {p.get('shutdown')} ({p.get('days_left')} days)",
            (f"fine-tuned models of it: {', '.join(p.get('fine_tuned_models') or []) or 'none'}",),
        )
    if kind == "daemon_blocked":
        return Message(
            f"ftd is blocked: {p.get('reason')}",
            (str(p.get("message") or ""),),
        )
    if kind == "daemon_unblocked":
        return Message(
            f"ftd is no longer blocked: {p.get('reason')}",
            (str(p.get("message") or ""),),
        )
    return Message(f"ftd: {kind}: {subject}", ())
