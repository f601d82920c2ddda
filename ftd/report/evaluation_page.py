"""The evaluation part of the report: the verdict, scores with intervals, and telling items."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ftd.report.bars import IntervalBar, interval_chart, outcome_bar
from ftd.report.format import Cell, cell, facts_table, figure, money, number, table
from ftd.report.svg import esc

if TYPE_CHECKING:
    from ftd.report.views import (
        Agreement,
        Answer,
        DifferingItem,
        EvaluationView,
        GraderView,
        Interval,
    )

VERDICTS = {
    "better": "fine-tuned model is better",
    "worse": "fine-tuned model is worse",
    "no_detectable_difference": "no detectable difference",
    "too_few_items": "too few items to tell",
}
HALF_WIDTH = 440.0  # charts set two abreast: drawn narrower so their text keeps its size
SHORT_VERDICTS = {"no_detectable_difference": "no difference", "too_few_items": "too few items"}
AXIS_LABELS = {
    "pass_fail": "pass rate",
    "preference": "share of items preferred",
    "score": "mean score",
}


def verdict_words(verdict: str) -> str:
    return VERDICTS.get(verdict, verdict.replace("_", " "))


def section(ev: EvaluationView) -> str:
    level = f"{ev.confidence:.0%}"
    out = ['<section id="evaluation"><h2>Evaluation</h2>']
    if ev.verdict:
        against = (
            f" than {ev.base_model}" if ev.base_model and ev.verdict in ("better", "worse") else ""
        )
        grader = f" by {ev.primary_grader}" if ev.primary_grader else ""
        primary = next((g for g in ev.graders if g.name == ev.primary_grader), None)
        why = (
            f" {primary.test} test: {primary.verdict_reason}."
            if primary is not None and primary.verdict_reason and primary.test
            else ""
        )
        out.append(
            f'<p class="verdict"><strong>Verdict: {esc(verdict_words(ev.verdict))}</strong>'
            f"{esc(against)}{esc(grader)}, at {esc(level)} confidence.{esc(why)}</p>"
        )
    done = (
        f"{ev.items_done:,} of {ev.items_total:,}"
        if ev.items_done is not None and ev.items_total is not None
        else number(ev.items_done)
    )
    facts = [
        ("fine-tuned model", ev.model),
        ("base model", ev.base_model),
        ("answers", ev.sides),
        ("status", ev.status),
        ("test items scored", done),
        ("judge model", ev.judge_model),
        ("judge self-agreement", _agreement(ev.rubric_agreement, "same score when asked twice")),
        ("judge order agreement", _agreement(ev.order_agreement, "same preference in both orders")),
        ("requests", number(ev.requests)),
        ("tokens", _tokens(ev)),
        ("cost", money(ev.cost_usd) if ev.cost_usd is not None else None),
        ("cost live vs batch", _cost_comparison(ev)),
    ]
    out.append(facts_table(facts))
    if ev.graders:
        out.append(f"<h3>Scores by grader ({esc(level)} intervals)</h3>")
        out.append(grader_table(ev))
        charts = [_interval_figure(g, ev) for g in ev.graders if g.candidate is not None]
        if charts:
            out.append('<div class="grid2">' + "".join(charts) + "</div>")
        for g in ev.graders:
            if g.tally is not None and (g.tally.wins + g.tally.ties + g.tally.losses) > 0:
                counts = [
                    ("fine-tuned better", g.tally.wins),
                    ("tie", g.tally.ties),
                    ("base better", g.tally.losses),
                ]
                svg = outcome_bar(counts, title=f"Per-item outcome, {g.name}")
                out.append(figure(f"Fine-tuned against base per item: {g.name}", svg))
    if ev.items:
        out.append("<h3>Where the two models differ most</h3>")
        out += [item_block(item) for item in ev.items]
    out.append("</section>")
    return "".join(out)


def _interval(i: Interval | None, digits: int = 2) -> str:
    if i is None:
        return ""
    if i.low == i.high:  # every item the same: a point, which is no certainty
        items = f"all {i.n:,}" if i.n is not None else "all items"
        return f"{i.estimate:.{digits}f} ({items} the same)"
    return f"{i.estimate:.{digits}f} [{i.low:.{digits}f}, {i.high:.{digits}f}]"


def _agreement(a: Agreement | None, what: str) -> str | None:
    if a is None:
        return None
    kappa = f", κ {a.kappa:.2f}" if a.kappa is not None else ""
    return f"{a.rate:.0%} {what} (of {a.n:,}{kappa})"


def _cost_comparison(ev: EvaluationView) -> str | None:
    """A batch evaluation's spend against the same requests at live prices."""
    c = ev.cost_comparison
    if c is None:
        return None
    saved = c.live_usd - c.spent_usd
    share = f" ({saved / c.live_usd:.0%})" if c.live_usd > 0 else ""
    return (
        f"{money(c.spent_usd)} spent ({money(c.batch_usd)} through the batch engine); "
        f"{money(c.live_usd)} at live prices; {money(saved)} saved{share}"
    )


def _tokens(ev: EvaluationView) -> str | None:
    if ev.prompt_tokens is None and ev.completion_tokens is None:
        return None
    return f"{ev.prompt_tokens or 0:,} prompt, {ev.completion_tokens or 0:,} completion"


def grader_table(ev: EvaluationView) -> str:
    rows = []
    for g in ev.graders:
        tally = f"{g.tally.wins:,} / {g.tally.ties:,} / {g.tally.losses:,}" if g.tally else ""
        p = "" if g.p_value is None else f"{g.p_value:.3g}" + (f" ({g.test})" if g.test else "")
        rows.append(
            [
                cell(g.name + (" (primary)" if g.name == ev.primary_grader else "")),
                cell(g.kind.replace("_", "/")),
                cell(_interval(g.candidate), numeric=True),
                cell(_interval(g.base), numeric=True),
                cell(_interval(g.difference), numeric=True),
                cell(tally, numeric=True),
                cell(p, numeric=True),
                cell(SHORT_VERDICTS.get(g.verdict, g.verdict) if g.verdict else ""),
            ]
        )
    head: list[Cell | str] = [
        "grader",
        "kind",
        cell("fine-tuned", numeric=True),
        cell("base", numeric=True),
        cell("difference", numeric=True),
        cell("wins / ties / losses", numeric=True),
        cell("p-value", numeric=True),
        "verdict",
    ]
    return table(head, rows)


def _interval_figure(g: GraderView, ev: EvaluationView) -> str:
    rows = []
    if g.candidate is not None:
        c = g.candidate
        rows.append(IntervalBar("fine-tuned", c.estimate, c.low, c.high, 0))
    if g.base is not None:
        b = g.base
        rows.append(IntervalBar("base", b.estimate, b.low, b.high, 1))
    elif g.kind == "preference" and g.candidate is not None:
        c = g.candidate
        rows.append(IntervalBar("base", 1 - c.estimate, 1 - c.high, 1 - c.low, 1))
    include = (0.0, 1.0) if g.kind in ("pass_fail", "preference") else (0.0,)
    svg = interval_chart(
        rows,
        title=f"{g.name}: fine-tuned {ev.model} against base {ev.base_model or ''}",
        axis_label=AXIS_LABELS.get(g.kind, "mean score"),
        include=include,
        width=HALF_WIDTH,
    )
    return figure(f"{g.name} ({g.kind.replace('_', '/')})", svg)


def _answer_block(title: str, answer: Answer) -> str:
    score = f", score {answer.score:g}" if answer.score is not None else ""
    parts = [
        f"<div><strong>{esc(title)}</strong> "
        f'<span class="note">{esc(answer.model)}{esc(score)}</span>',
        f'<div class="text">{esc(answer.text if answer.text is not None else "(no answer)")}</div>',
    ]
    for grader, words in answer.explanations:
        who = "judge" if grader == "judge" else f"{grader} judge"
        parts.append(f'<p class="note">{esc(who)}: {esc(words)}</p>')
    parts.append("</div>")
    return "".join(parts)


def item_block(item: DifferingItem) -> str:
    if item.source_line is not None:
        where = f"{item.source_file or 'dropped file'}, line {item.source_line:,}"
    else:
        where = f"test split line {item.line:,}" if item.line is not None else "item"
    diff = f", difference {item.difference:+g}" if item.difference is not None else ""
    return (
        f'<div class="item"><h4>{esc(where)}{esc(diff)}</h4>'
        f'<strong>prompt</strong><div class="text">{esc(item.prompt)}</div>'
        f'<strong>reference</strong><div class="text">{esc(item.reference)}</div>'
        f'<div class="pair">{_answer_block("fine-tuned", item.candidate)}'
        f"{_answer_block('base', item.base)}</div></div>"
    )
