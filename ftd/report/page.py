"""The report as one self-contained HTML file: inline CSS and SVG, no script, no URL.

It opens from disk on a machine without network, prints on paper, and shows
only the sections it has data for. Every string taken from data is escaped:
dataset names, error messages and model answers are untrusted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ftd.report import evaluation_page
from ftd.report.format import cell, facts_table, figure, money, number, stamp, table
from ftd.report.svg import Series, esc, histogram, line_chart

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ftd.report.views import DatasetView, IssueView, JobView, ReportView

STYLE = """
:root { color-scheme: light; --ink: #222; --muted: #666; --rule: #ccc; --band: #f4f6f9; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
       color: var(--ink); background: #fff; margin: 0 auto; max-width: 1100px; padding: 24px; }
h1 { font-size: 1.6em; margin: 0 0 4px; overflow-wrap: anywhere; }
h2 { font-size: 1.25em; margin: 32px 0 10px; padding-bottom: 4px;
     border-bottom: 2px solid var(--ink); }
h3 { font-size: 1.05em; margin: 20px 0 6px; }
p.meta, .note { color: var(--muted); margin: 4px 0; }
table { border-collapse: collapse; margin: 8px 0 12px; font-size: 0.95em; }
th, td { text-align: left; vertical-align: top; padding: 4px 10px 4px 0;
         border-bottom: 1px solid var(--rule); }
th { font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td { overflow-wrap: anywhere; }
#events td:first-child { white-space: nowrap; }
@media (min-width: 1100px) { td.num { white-space: nowrap; } }
table.facts th { font-weight: 500; color: var(--muted); padding-right: 18px; }
figure { margin: 12px 0 20px; break-inside: avoid; page-break-inside: avoid; }
figcaption { font-weight: 600; margin-bottom: 4px; }
svg.chart { display: block; max-width: 920px; height: auto; }
.grid2 svg.chart { max-width: 560px; }
.badge { display: inline-block; padding: 1px 8px; border: 1px solid var(--ink);
         border-radius: 10px; font-size: 0.85em; margin-right: 6px; }
.verdict { font-size: 1.2em; padding: 10px 14px; border-left: 6px solid var(--ink);
           background: var(--band); margin: 10px 0; }
.issues li { margin: 2px 0; }
.item { border: 1px solid var(--rule); padding: 10px 12px; margin: 10px 0;
        break-inside: avoid; page-break-inside: avoid; }
.item h4 { margin: 0 0 8px; }
.item .pair { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
.text { white-space: pre-wrap; overflow-wrap: anywhere; margin: 2px 0 8px;
        font: 0.92em/1.4 ui-monospace, "DejaVu Sans Mono", Menlo, Consolas, monospace;
        background: var(--band); padding: 6px 8px; }
.grid2 { display: grid; grid-template-columns: 1fr 1fr; gap: 18px; }
@media (max-width: 760px) { .grid2, .item h4 { margin: 0 0 8px; }
.item .pair { grid-template-columns: 1fr; } }
@media print {
  @page { margin: 14mm; }
  body { max-width: none; padding: 0; font-size: 11pt; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .text { background: none; border-left: 2px solid var(--rule); }
}
"""


def render(view: ReportView) -> str:
    """The whole page for a report view."""
    sections: list[str] = []
    if view.dataset is not None:
        sections.append(dataset_section(view.dataset))
    if view.job is not None:
        sections.append(job_section(view.job, view.dataset))
        sections.append(events_section(view.job))
    if view.evaluation is not None:
        sections.append(evaluation_page.section(view.evaluation))
    badges = []
    if view.dataset is not None and view.dataset.state:
        badges.append(f"dataset {view.dataset.state}")
    if view.job is not None:
        badges.append(f"job {view.job.status}")
    if view.evaluation is not None and view.evaluation.verdict:
        badges.append(f"verdict: {evaluation_page.verdict_words(view.evaluation.verdict)}")
    header = (
        f"<header><h1>{esc(view.title)}</h1>"
        f'<p class="meta">report made {esc(stamp(view.generated_at))} by ftd</p>'
        + "".join(f'<span class="badge">{esc(b)}</span>' for b in badges)
        + "</header>"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(view.title)}</title><style>{STYLE}</style></head>"
        f"<body>{header}{''.join(s for s in sections if s)}</body></html>\n"
    )


# ---------------------------------------------------------------------- dataset


def dataset_section(d: DatasetView) -> str:
    facts = [
        ("dataset", d.name if d.dataset_id is None else f"{d.name} (#{d.dataset_id})"),
        ("state", d.state),
        ("validation", None if d.accepted is None else "accepted" if d.accepted else "rejected"),
        ("model", d.model),
        ("method", d.method),
        ("lines", number(d.lines)),
        ("valid examples", number(d.examples)),
        ("invalid examples", number(d.invalid_examples)),
        ("tokens per example (median)", number(d.median_tokens)),
        ("tokens in all", number(d.total_tokens)),
        ("assistant tokens per epoch (whole file)", number(d.trained_tokens)),
        ("splits", ", ".join(f"{side} {n:,}" for side, n in d.splits) or None),
    ]
    out = ['<section id="dataset"><h2>Dataset and validation</h2>', facts_table(facts)]
    if d.estimated_cost_usd is not None or d.estimate_note:
        epochs = f"{d.n_epochs} epochs, " if d.n_epochs else ""
        out.append(
            f"<p>Estimated training cost (billed tokens: training split x epochs): "
            f"<strong>{esc(money(d.estimated_cost_usd))}</strong>"
            f" ({esc(epochs)}{esc(d.estimate_note or '')})</p>"
        )
    if d.evaluation_cost_usd is not None:
        out.append(
            f"<p>Estimated evaluation cost: <strong>{esc(money(d.evaluation_cost_usd))}</strong>"
            f" ({esc(d.evaluation_note or '')}); the spend guard counts both.</p>"
        )
    for title, issues in (("Errors", d.errors), ("Warnings", d.warnings)):
        if issues:
            out.append(issues_block(title, issues))
    if d.token_histogram:
        bins = [(b.label, b.count) for b in d.token_histogram]
        tips = [f"{b.label} tokens: {b.count:,} examples" for b in d.token_histogram]
        out.append(
            figure(
                "Tokens per example",
                histogram(
                    bins,
                    title=f"Tokens per example in {d.name}",
                    x_label="tokens per example (power-of-two bins)",
                    y_label="examples",
                    tips=tips,
                ),
            )
        )
    out.append("</section>")
    return "".join(out)


def issues_block(title: str, issues: Sequence[IssueView]) -> str:
    total = sum(i.count for i in issues)
    rows = []
    for issue in issues:
        where = "; ".join(
            (f"line {s.line}" + (f", column {s.column}" if s.column is not None else "") + ": ")
            * (s.line is not None)
            + s.message
            for s in issue.samples
        )
        rows.append([cell(issue.kind), cell(f"{issue.count:,}", numeric=True), cell(where)])
    return f"<h3>{esc(title)} ({total:,})</h3>" + table(
        ["kind", cell("count", numeric=True), "first found"], rows
    )


# ---------------------------------------------------------------------- job


def job_section(job: JobView, dataset: DatasetView | None) -> str:
    facts = [
        ("job", job.job_id),
        ("status", job.status),
        ("base model", job.model),
        ("fine-tuned model", job.fine_tuned_model),
        ("created", stamp(job.created_at) if job.created_at else None),
        ("finished", stamp(job.finished_at) if job.finished_at else None),
        ("steps", number(max((m.step for m in job.metrics), default=None))),
        ("epochs", number(len(job.epoch_ends) or None)),
        ("billed tokens (provider's count, all epochs)", number(job.trained_tokens)),
        ("error", job.error),
    ]
    out = ['<section id="training"><h2>Training</h2>', facts_table(facts)]
    out += training_charts(job)
    full = [m for m in job.metrics if m.full_valid_loss is not None]
    if full:
        rows = [
            [
                cell(f"{m.step:,}", numeric=True),
                cell(_fixed(m.full_valid_loss), numeric=True),
                cell(_fixed(m.full_valid_accuracy), numeric=True),
            ]
            for m in full
        ]
        out.append("<h3>Full validation</h3>")
        out.append(table([cell("step", numeric=True), "loss", "token accuracy"], rows))
    if job.checkpoints:
        rows = [[cell(f"{c.step:,}", numeric=True), cell(c.model)] for c in job.checkpoints]
        out.append("<h3>Checkpoints</h3>" + table([cell("step", numeric=True), "model"], rows))
    estimated = job.estimated_cost_usd
    if estimated is None and dataset is not None:
        estimated = dataset.estimated_cost_usd
    if estimated is not None or job.cost_usd is not None:
        out.append("<h3>Cost</h3>" + cost_table(estimated, job.cost_usd))
    out.append("</section>")
    return "".join(out)


def training_charts(job: JobView) -> list[str]:
    sections = [(float(end), f"epoch {i}") for i, end in enumerate(job.epoch_ends, start=1)]
    flags = [(float(c.step), f"{c.model} (step {c.step:,})") for c in job.checkpoints]
    out = []
    for title, unit, names, include in (
        ("Loss", "loss (cross-entropy per token)", ("loss",), (0.0,)),
        ("Token accuracy", "mean token accuracy", ("accuracy",), ()),
    ):
        key = names[0]
        series = [
            Series(f"training {key}", _points(job, f"train_{key}"), 0),
            Series(f"validation {key}", _points(job, f"valid_{key}"), 1),
            Series(f"full validation {key}", _points(job, f"full_valid_{key}"), 2, line=False),
        ]
        if not any(s.points for s in series):
            continue
        chart = line_chart(
            series,
            title=f"{title} against training step, job {job.job_id}",
            x_label="training step",
            y_label=unit,
            sections=sections,
            flags=flags,
            y_include=include,
        )
        out.append(figure(f"{title} against step", chart))
    return out


def _points(job: JobView, attribute: str) -> tuple[tuple[float, float], ...]:
    found = ((m.step, getattr(m, attribute)) for m in job.metrics)
    return tuple((float(step), float(value)) for step, value in found if value is not None)


def cost_table(estimated: float | None, actual: float | None) -> str:
    rows = [
        [
            cell("estimated before training (training split x epochs)"),
            cell(money(estimated), numeric=True),
        ]
    ]
    rows.append(
        [
            cell("charged (billed tokens at the model's price)"),
            cell(money(actual), numeric=True),
        ]
    )
    if estimated and actual is not None:
        change = (actual - estimated) / estimated * 100
        rows.append([cell("difference"), cell(f"{change:+.1f}%", numeric=True)])
    return table(["", cell("USD", numeric=True)], rows)


def events_section(job: JobView) -> str:
    shown = [e for e in job.events if e.type != "metrics"]
    per_step = len(job.events) - len(shown)
    if not shown:
        return ""
    rows = [[cell(stamp(e.at, zone=False)), cell(e.level), cell(e.message)] for e in shown]
    note = ""
    if per_step:
        what = "metrics event is" if per_step == 1 else "metrics events are"
        note = f'<p class="note">{per_step:,} per-step {what} drawn in the charts above.</p>'

    return (
        '<section id="events"><h2>Events</h2>'
        + table(["time (UTC)", "level", "message"], rows)
        + note
        + "</section>"
    )


# ---------------------------------------------------------------------- pieces


def _fixed(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
