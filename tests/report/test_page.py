"""The page: sections shown only with data, escaping, no URL at all, well-formed SVG."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

from ftd.report.page import render
from ftd.report.views import (
    Answer,
    CostComparison,
    DifferingItem,
    EvaluationView,
    EventView,
    IssueView,
    ReportView,
)
from tests.report import samples
from tests.report.samples import HOSTILE

SECTIONS = ('id="dataset"', 'id="training"', 'id="events"', 'id="evaluation"')


class Tags(HTMLParser):
    """Every start tag and attribute of a page, to look for what must never be there."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(page: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(page)
    return parser.tags


def svgs(page: str) -> list[ET.Element]:
    found = re.findall(r"<svg\b.*?</svg>", page, flags=re.DOTALL)
    return [ET.fromstring(s) for s in found]  # noqa: S314 - ftd's own output


def test_a_full_report_has_every_section_and_chart() -> None:
    page = render(samples.full_report())
    for section in SECTIONS:
        assert section in page
    charts = svgs(page)
    # histogram, loss, accuracy, three grader intervals, three win/tie/loss bars
    assert len(charts) == 9
    for name in ("Loss against step", "Token accuracy against step", "Tokens per example"):
        assert f"<figcaption>{name}</figcaption>" in page
    assert "Verdict: fine-tuned model is better" in page
    assert "at 95% confidence. permutation test: p = 0.0005 &lt; 0.05.</p>" in page
    assert "Where the two models differ most" in page
    assert "States the 30-day window" in page
    assert "$0.4437" in page
    assert "Full validation" in page
    assert "ckpt-step-40" in page
    assert "1 per-step metrics event is drawn" in page
    assert page.startswith("<!DOCTYPE html>")
    assert page.count("<style>") == 1
    assert "@media print" in page


def test_sections_without_data_are_left_out() -> None:
    only_dataset = ReportView("r", 0.0, dataset=samples.dataset())
    page = render(only_dataset)
    assert 'id="dataset"' in page
    for section in SECTIONS[1:]:
        assert section not in page
    bare = dataclasses.replace(
        samples.dataset(),
        token_histogram=(),
        warnings=(),
        estimated_cost_usd=None,
        estimate_note=None,
    )
    page = render(ReportView("r", 0.0, dataset=bare))
    assert "Tokens per example" not in page
    assert "Warnings" not in page
    assert "Estimated training cost" not in page
    assert "<svg" not in page

    only_job = ReportView("r", 0.0, job=samples.job())
    page = render(only_job)
    assert 'id="dataset"' not in page
    assert 'id="evaluation"' not in page
    new_job = dataclasses.replace(
        samples.job(), metrics=(), checkpoints=(), events=(), epoch_ends=(), cost_usd=None
    )
    page = render(ReportView("r", 0.0, job=dataclasses.replace(new_job, estimated_cost_usd=None)))
    assert 'id="training"' in page
    for absent in ("<svg", 'id="events"', "Checkpoints", "Full validation", "<h3>Cost"):
        assert absent not in page

    evaluation = dataclasses.replace(samples.evaluation(), items=(), graders=(), verdict=None)
    page = render(ReportView("r", 0.0, evaluation=evaluation))
    assert 'id="evaluation"' in page
    for absent in ("Verdict", "<svg", "differ most", "Scores by grader"):
        assert absent not in page


def hostile_report() -> ReportView:
    full = samples.full_report()
    assert full.dataset is not None
    assert full.job is not None
    assert full.evaluation is not None
    item = DifferingItem(
        prompt=HOSTILE,
        reference=HOSTILE,
        candidate=Answer(HOSTILE, HOSTILE, 5.0, ((HOSTILE, HOSTILE),)),
        base=Answer(HOSTILE, HOSTILE, 1.0),
    )
    return ReportView(
        title=HOSTILE,
        generated_at=0.0,
        dataset=dataclasses.replace(
            full.dataset,
            name=HOSTILE,
            errors=(IssueView(HOSTILE, 1, ()),),
            splits=((HOSTILE, 1),),
        ),
        job=dataclasses.replace(
            full.job,
            job_id=HOSTILE,
            fine_tuned_model=HOSTILE,
            error=HOSTILE,
            events=(EventView(0.0, HOSTILE, HOSTILE, "message"),),
        ),
        evaluation=dataclasses.replace(
            full.evaluation, model=HOSTILE, base_model=HOSTILE, verdict=HOSTILE, items=(item,)
        ),
    )


def test_hostile_strings_are_escaped_everywhere() -> None:
    page = render(hostile_report())
    found = tags(page)
    assert not [t for t, _ in found if t in ("script", "img", "iframe", "object")]
    assert not [a for _, attrs in found for a in attrs if a.startswith("on")]
    assert "&lt;script&gt;" in page
    assert page.count("</svg>") == page.count("<svg")  # none closed early by data
    svgs(page)  # and each still parses


def test_the_page_names_no_url_and_loads_nothing() -> None:
    for view in (samples.full_report(), hostile_report()):
        page = render(view)
        assert "http://" not in page
        assert "https://" not in page
        assert "//" not in re.sub(r"<(div|p|pre)[^>]*>.*?</\1>", "", page, flags=re.DOTALL)
        for _tag, attrs in tags(page):
            for name in ("src", "href", "xlink:href", "action", "srcset"):
                assert name not in attrs
        assert "@import" not in page
        assert "url(" not in page


def test_every_svg_is_well_formed_and_scalable() -> None:
    for chart in svgs(render(samples.full_report())):
        assert chart.get("width") == "100%"
        assert chart.get("viewBox")
        assert chart.find("title") is not None
        assert chart.get("role") == "img"


def test_the_evaluation_estimate_stands_beside_the_training_estimate() -> None:
    from ftd.report.views import DatasetView

    report = {
        "accepted": True,
        "examples": 200,
        "estimate": {"n_epochs": 3, "cost_usd": 0.06, "note": "12,000 training tokens at $5 per 1M",
                     "covers": "the training split: 160 of 200 examples"},
        "evaluation_estimate": {"counted_usd": 0.0123, "note": "20 test items x 6 requests"},
    }  # fmt: skip
    view = DatasetView.from_report(report, name="faq.jsonl")
    page = render(ReportView("r", 0.0, dataset=view))
    assert "Estimated training cost (billed tokens: training split x epochs)" in page
    assert "the training split: 160 of 200 examples" in page
    assert (
        "Estimated evaluation cost: <strong>$0.0123</strong> (20 test items x 6 requests)" in page
    )


def test_a_batch_evaluation_shows_its_cost_against_live_prices() -> None:
    summary = samples.summary()
    live_page = render(ReportView("r", 0.0, evaluation=EvaluationView.from_summary(summary)))
    assert "cost live vs batch" not in live_page  # a live evaluation has nothing to compare
    summary["mode"] = {"mode": "batch", "reason": "evaluation.mode is batch"}
    summary["cost_comparison"] = {"spent_usd": 21.5, "batch_usd": 21.25, "live_usd": 42.75}
    view = EvaluationView.from_summary(summary)
    assert view.cost_comparison == CostComparison(21.5, 21.25, 42.75)
    page = render(ReportView("r", 0.0, evaluation=view))
    assert "cost live vs batch" in page
    assert (
        "$21.50 spent ($21.25 through the batch engine); $42.75 at live prices; $21.25 saved (50%)"
    ) in page
