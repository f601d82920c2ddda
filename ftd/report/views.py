"""What a report page is drawn from: frozen view models, free of the store and of HTML.

The page renders these and nothing else, so it can be tested with views built
by hand, and the same views can be filled from the store (``gather``), from
the validator's JSON report or from an evaluation's stored summary
(``DatasetView.from_report``, ``EvaluationView.from_summary``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ftd.report.fields import Fields, ReportDataError

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence


# ---------------------------------------------------------------------- dataset


@dataclass(frozen=True, slots=True)
class Finding:
    line: int | None  # None for a finding about the whole file
    column: int | None
    message: str


@dataclass(frozen=True, slots=True)
class IssueView:
    """One kind of error or warning: how often, and its first occurrences."""

    kind: str
    count: int
    samples: tuple[Finding, ...] = ()


@dataclass(frozen=True, slots=True)
class HistogramBin:
    low: int
    high: int
    count: int

    @property
    def label(self) -> str:
        return f"{self.low:,}" if self.low == self.high else f"{self.low:,}\u2013{self.high:,}"


@dataclass(frozen=True, slots=True)
class DatasetView:
    name: str
    state: str | None = None
    dataset_id: int | None = None
    accepted: bool | None = None
    model: str | None = None
    method: str | None = None
    lines: int | None = None
    examples: int | None = None
    invalid_examples: int | None = None
    errors: tuple[IssueView, ...] = ()
    warnings: tuple[IssueView, ...] = ()
    token_histogram: tuple[HistogramBin, ...] = ()
    median_tokens: int | None = None
    total_tokens: int | None = None
    trained_tokens: int | None = None
    n_epochs: int | None = None
    billed_tokens: int | None = None
    estimated_cost_usd: float | None = None
    estimate_note: str | None = None
    evaluation_cost_usd: float | None = None  # estimated before training, as the guard counts it
    evaluation_note: str | None = None
    splits: tuple[tuple[str, int], ...] = ()

    @classmethod
    def from_report(
        cls,
        report: Mapping[str, Any] | None,
        *,
        name: str,
        state: str | None = None,
        dataset_id: int | None = None,
        splits: Sequence[tuple[str, int]] = (),
    ) -> DatasetView:
        """A dataset's view from the validator's JSON report (``ftd validate --json``)."""
        if report is None:
            return cls(name=name, state=state, dataset_id=dataset_id, splits=tuple(splits))
        r = Fields(report, f"dataset {name} report")
        stats = r.child("stats")
        tokens = stats.child("tokens_per_example") if stats else None
        trained = stats.child("trained_tokens_per_example") if stats else None
        estimate = r.child("estimate")
        evaluation = r.child("evaluation_estimate")
        return cls(
            name=name,
            state=state,
            dataset_id=dataset_id,
            accepted=r.flag("accepted"),
            model=r.string("model"),
            method=r.string("method"),
            lines=r.integer("lines"),
            examples=r.integer("examples"),
            invalid_examples=r.integer("invalid_examples"),
            errors=tuple(_issue(i) for i in r.children("errors")),
            warnings=tuple(_issue(i) for i in r.children("warnings")),
            token_histogram=_histogram(stats) if stats else (),
            median_tokens=tokens.integer("median") if tokens else None,
            total_tokens=tokens.integer("total") if tokens else None,
            trained_tokens=trained.integer("total") if trained else None,
            n_epochs=estimate.integer("n_epochs") if estimate else None,
            billed_tokens=estimate.integer("billed_tokens") if estimate else None,
            estimated_cost_usd=estimate.number("cost_usd") if estimate else None,
            estimate_note=(
                "; ".join(x for x in (estimate.string("note"), estimate.string("covers")) if x)
                or None
            )
            if estimate
            else None,
            evaluation_cost_usd=evaluation.number("counted_usd") if evaluation else None,
            evaluation_note=evaluation.string("note") if evaluation else None,
            splits=tuple(splits),
        )


def _issue(f: Fields) -> IssueView:
    samples = tuple(
        Finding(s.integer("line"), s.integer("column"), s.string("message") or "")
        for s in f.children("samples")
    )
    return IssueView(f.string("kind") or "unknown", f.integer("count") or len(samples), samples)


def _histogram(stats: Fields) -> tuple[HistogramBin, ...]:
    """The power-of-two bins, with the empty ones between filled in so the x axis is even."""
    found: dict[int, int] = {}
    for index, entry in enumerate(stats.items("token_histogram")):
        where = f"{stats.where}.token_histogram[{index}]"
        if not (isinstance(entry, list | tuple) and len(entry) == 3):
            raise ReportDataError(where, f"expected [low, high, count], got {entry!r:.60}")
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in entry):
            raise ReportDataError(where, f"expected whole numbers, got {entry!r:.60}")
        low, _high, count = entry
        found[max(0, low).bit_length()] = found.get(max(0, low).bit_length(), 0) + count
    if not found:
        return ()
    bins = []
    for b in range(min(found), max(found) + 1):
        low = 0 if b == 0 else 1 << (b - 1)
        high = 0 if b == 0 else (1 << b) - 1
        bins.append(HistogramBin(low, high, found.get(b, 0)))
    return tuple(bins)


# ---------------------------------------------------------------------- job


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One training step's figures; any may be missing (validation runs only now and then)."""

    step: int
    train_loss: float | None = None
    train_accuracy: float | None = None
    valid_loss: float | None = None
    valid_accuracy: float | None = None
    full_valid_loss: float | None = None
    full_valid_accuracy: float | None = None


@dataclass(frozen=True, slots=True)
class CheckpointMark:
    step: int
    model: str


@dataclass(frozen=True, slots=True)
class EventView:
    at: float  # Unix time
    level: str
    message: str
    type: str | None = None  # "message" or "metrics" (one per step, drawn as charts)


@dataclass(frozen=True, slots=True)
class JobView:
    job_id: str
    status: str
    model: str
    fine_tuned_model: str | None = None
    created_at: float | None = None
    finished_at: float | None = None
    metrics: tuple[MetricPoint, ...] = ()
    epoch_ends: tuple[int, ...] = ()  # the last step of each epoch, the final one included
    checkpoints: tuple[CheckpointMark, ...] = ()
    trained_tokens: int | None = None
    estimated_cost_usd: float | None = None
    cost_usd: float | None = None
    error: str | None = None
    events: tuple[EventView, ...] = ()


def epoch_ends(
    metrics: Sequence[MetricPoint], n_epochs: int | None, total_steps: int | None = None
) -> tuple[int, ...]:
    """The last step of each epoch.

    Full validation runs at each epoch's end, so its steps are the boundaries
    when every epoch has one; otherwise the steps are split evenly by the
    number of epochs, as training does. Unknown when neither is known.
    """
    steps = [m.step for m in metrics]
    total = total_steps if total_steps is not None else max(steps, default=0)
    full = sorted({m.step for m in metrics if m.full_valid_loss is not None})
    if full and (n_epochs is None or len(full) == n_epochs):
        return tuple(full)
    if not n_epochs or n_epochs < 1 or total < n_epochs or total % n_epochs:
        return tuple(full)
    per_epoch = total // n_epochs
    return tuple(per_epoch * e for e in range(1, n_epochs + 1))


# ---------------------------------------------------------------------- evaluation


@dataclass(frozen=True, slots=True)
class Interval:
    """A mean and its confidence interval (95% unless the evaluation says otherwise)."""

    estimate: float
    low: float
    high: float
    n: int | None = None


@dataclass(frozen=True, slots=True)
class Tally:
    wins: int
    ties: int
    losses: int


@dataclass(frozen=True, slots=True)
class GraderView:
    name: str
    kind: str  # "pass_fail", "score" or "preference"
    candidate: Interval | None = None
    base: Interval | None = None
    difference: Interval | None = None  # paired: fine-tuned minus base on the same items
    tally: Tally | None = None
    test: str | None = None
    p_value: float | None = None
    verdict: str | None = None
    verdict_reason: str | None = None  # the test's decision in words


@dataclass(frozen=True, slots=True)
class Agreement:
    rate: float
    kappa: float | None
    n: int


@dataclass(frozen=True, slots=True)
class Answer:
    model: str
    text: str | None
    score: float | None = None
    explanations: tuple[tuple[str, str], ...] = ()  # (grader, the judge's words)


@dataclass(frozen=True, slots=True)
class DifferingItem:
    """A test item where the two models' scores differ most."""

    prompt: str
    reference: str
    candidate: Answer
    base: Answer
    difference: float | None = None
    line: int | None = None  # in the test split file
    source_file: str | None = None  # the dropped file the item came from
    source_line: int | None = None  # and its line there


@dataclass(frozen=True, slots=True)
class EvaluationView:
    model: str
    base_model: str | None = None
    status: str | None = None
    verdict: str | None = None
    primary_grader: str | None = None
    confidence: float = 0.95
    graders: tuple[GraderView, ...] = ()
    judge_model: str | None = None
    rubric_agreement: Agreement | None = None
    order_agreement: Agreement | None = None
    items: tuple[DifferingItem, ...] = ()
    items_done: int | None = None
    items_total: int | None = None
    requests: int | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    # Where each side's answers came from: asked live, or read from a recording.
    sides: str | None = None
    # A batch evaluation's cost beside what the same requests cost live.
    cost_comparison: CostComparison | None = None

    @classmethod
    def from_summary(
        cls, summary: Mapping[str, Any], differences: Sequence[Mapping[str, Any]] = ()
    ) -> EvaluationView:
        """The view of an evaluation's stored summary and its largest differences.

        The shapes are those the evaluation writes: ``graders`` by name with
        ``candidate``/``base``/``difference`` as ``{estimate, low, high, n}``
        and ``tally`` as ``{wins, ties, losses}``; each difference holds
        ``question``, ``reference`` and ``candidate``/``base`` sides with
        ``model``, ``answer``, ``score`` and ``explanations``.
        """
        s = Fields(summary, "evaluation summary")
        judge = s.child("judge")
        usage = s.child("usage")
        progress = s.child("progress")
        return cls(
            model=s.string("model") or "unknown model",
            base_model=s.string("base_model"),
            status=s.string("status"),
            verdict=s.string("verdict"),
            primary_grader=s.string("primary_grader"),
            confidence=s.number("confidence") or 0.95,
            graders=tuple(_grader(name, g) for name, g in s.mapping("graders").items()),
            judge_model=judge.string("model") if judge else None,
            rubric_agreement=_agreement(judge.child("rubric_agreement")) if judge else None,
            order_agreement=_agreement(judge.child("order_agreement")) if judge else None,
            items=tuple(
                _item(Fields(d, f"evaluation differences[{i}]")) for i, d in enumerate(differences)
            ),
            items_done=progress.integer("done") if progress else None,
            items_total=progress.integer("total") if progress else None,
            requests=usage.integer("requests") if usage else None,
            prompt_tokens=usage.integer("prompt_tokens") if usage else None,
            completion_tokens=usage.integer("completion_tokens") if usage else None,
            cost_usd=s.number("cost_usd"),
            sides=_sides(s.child("sides")),
            cost_comparison=_cost_comparison(s),
        )


@dataclass(frozen=True, slots=True)
class CostComparison:
    """What a batch evaluation spent, what of it went through batches, and its live price."""

    spent_usd: float
    batch_usd: float
    live_usd: float


def _cost_comparison(s: Fields) -> CostComparison | None:
    mode = s.child("mode")
    found = s.child("cost_comparison")
    if found is None or mode is None or mode.string("mode") != "batch":
        return None
    spent, batch, live = (found.number(k) for k in ("spent_usd", "batch_usd", "live_usd"))
    if spent is None or batch is None or live is None:
        return None
    return CostComparison(spent, batch, live)


def _sides(sides: Fields | None) -> str | None:
    """Which side was asked live and which read from a recording (and when it was made)."""
    base = sides.child("base") if sides else None
    if base is None or base.string("source") != "recorded":
        return None
    return (
        f"fine-tuned model asked live; {base.string('model')} read from recording "
        f"{base.string('recording')}, recorded {base.string('recorded_at')} (not asked live)"
    )


def _interval(f: Fields | None) -> Interval | None:
    if f is None:
        return None
    estimate, low, high = f.number("estimate"), f.number("low"), f.number("high")
    if estimate is None:
        return None
    return Interval(
        estimate,
        low if low is not None else estimate,
        high if high is not None else estimate,
        f.integer("n"),
    )


def _grader(name: str, g: Fields) -> GraderView:
    tally = g.child("tally")
    return GraderView(
        name=name,
        kind=g.string("kind") or "score",
        candidate=_interval(g.child("candidate")),
        base=_interval(g.child("base")),
        difference=_interval(g.child("difference")),
        tally=Tally(
            tally.integer("wins") or 0, tally.integer("ties") or 0, tally.integer("losses") or 0
        )
        if tally
        else None,
        test=g.string("test"),
        p_value=g.number("p_value"),
        verdict=g.string("verdict"),
        verdict_reason=g.string("verdict_reason"),
    )


def _agreement(f: Fields | None) -> Agreement | None:
    if f is None or f.number("rate") is None:
        return None
    return Agreement(f.number("rate") or 0.0, f.number("kappa"), f.integer("n") or 0)


def _answer(f: Fields | None) -> Answer:
    if f is None:
        return Answer("unknown model", None)
    notes = f.child("explanations")
    explanations = tuple(
        (name, text)
        for name in (notes.data if notes else {})
        if notes and (text := notes.string(str(name)))
    )
    return Answer(
        f.string("model") or "unknown model", f.string("answer"), f.number("score"), explanations
    )


def _item(f: Fields) -> DifferingItem:
    return DifferingItem(
        prompt=f.string("question") or f.string("prompt") or "",
        reference=f.string("reference") or "",
        candidate=_answer(f.child("candidate")),
        base=_answer(f.child("base")),
        difference=f.number("difference"),
        line=f.integer("line"),
        source_file=source.string("file") if (source := f.child("source")) else None,
        source_line=source.integer("line") if source else None,
    )


# ---------------------------------------------------------------------- page


@dataclass(frozen=True, slots=True)
class ReportView:
    """Everything one report page shows; a part that is None is left out of the page."""

    title: str
    generated_at: float
    dataset: DatasetView | None = None
    job: JobView | None = None
    evaluation: EvaluationView | None = None
