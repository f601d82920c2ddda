"""The HTML page of ``ftd compare``: runs of one dataset side by side.

Drawn from the compare answer itself (plain JSON), so what the page shows is
what ``ftd compare --json`` says: settings where they differ, cost, every
run's training loss on one chart, each grader's mean with its interval per
run, and the paired verdict of every two runs on the same test items.
"""

from __future__ import annotations

from typing import Any

from ftd.report.bars import IntervalBar, interval_chart
from ftd.report.evaluation_page import verdict_words
from ftd.report.format import cell, figure, money, stamp, table
from ftd.report.page import STYLE
from ftd.report.svg import STYLES, Series, esc, line_chart


def _setting(value: Any) -> str:
    return "-" if value is None else str(value)


def _settings_table(runs: list[dict[str, Any]]) -> str:
    keys = [
        "provider",
        "model",
        "method",
        "hyperparameters.n_epochs",
        "hyperparameters.batch_size",
        "hyperparameters.learning_rate_multiplier",
        "seed",
        "suffix",
    ]
    for run in runs[1:]:
        keys.extend(k for k in run.get("differs", {}) if k not in keys)

    def value(run: dict[str, Any], key: str) -> str:
        found: Any = run["settings"]
        for part in key.split("."):
            found = found.get(part) if isinstance(found, dict) else None
        return _setting(found)

    rows = [[cell(key), *(cell(value(run, key)) for run in runs)] for key in keys]
    return table(["setting", *(run["run"] for run in runs)], rows)


def _cost_table(runs: list[dict[str, Any]]) -> str:
    def charged(run: dict[str, Any]) -> float | None:
        return (run.get("job") or {}).get("cost_usd")

    def evaluation(run: dict[str, Any]) -> float | None:
        return (run.get("evaluation") or {}).get("cost_usd")

    rows = [
        [
            cell("training, estimated"),
            *(cell(money(r["estimated_cost_usd"]), numeric=True) for r in runs),
        ],
        [cell("training, charged"), *(cell(money(charged(r)), numeric=True) for r in runs)],
        [cell("evaluation"), *(cell(money(evaluation(r)), numeric=True) for r in runs)],
    ]
    return table(["USD", *(cell(r["run"], numeric=True) for r in runs)], rows)


def _status_table(runs: list[dict[str, Any]]) -> str:
    rows = []
    for run in runs:
        job = run.get("job") or {}
        evaluation = run.get("evaluation") or {}
        rows.append(
            [
                cell(run["run"]),
                cell(run["state"]),
                cell(job.get("job_id") or "-"),
                cell(job.get("status") or "-"),
                cell(job.get("fine_tuned_model") or "-"),
                cell(evaluation.get("evaluation") or "-"),
                cell(evaluation.get("status") or "-"),
            ]
        )
    return table(["run", "state", "job", "job status", "model", "evaluation", "status"], rows)


def _curves(runs: list[dict[str, Any]]) -> str | None:
    series = [
        Series(
            f"{run['run']} training loss",
            tuple((float(s), float(v)) for s, v in run["curve"]),
            i % len(STYLES),
        )
        for i, run in enumerate(runs)
    ]
    if not any(s.points for s in series):
        return None
    chart = line_chart(
        series,
        title="Training loss against step, every run",
        x_label="training step",
        y_label="loss (cross-entropy per token)",
        y_include=(0.0,),
    )
    return figure("Training loss of each run against step", chart)


def _score_charts(runs: list[dict[str, Any]], confidence: float) -> list[str]:
    graders: list[str] = []
    for run in runs:
        for name in (run.get("evaluation") or {}).get("scores") or {}:
            if name not in graders:
                graders.append(name)
    out = []
    for name in graders:
        bars = []
        for i, run in enumerate(runs):
            mean = (((run.get("evaluation") or {}).get("scores") or {}).get(name) or {}).get("mean")
            if mean:
                bars.append(
                    IntervalBar(
                        run["run"], mean["estimate"], mean["low"], mean["high"], i % len(STYLES)
                    )
                )
        if bars:
            chart = interval_chart(
                bars,
                title=f"{name}: mean per run with its {confidence:.0%} interval",
                axis_label=f"{name} (mean over the test items)",
                include=(0.0, 1.0),
            )
            out.append(figure(f"{name}, each run's candidate model", chart))
    return out


def _pairs_table(pairs: list[dict[str, Any]]) -> str:
    rows = []
    for pair in pairs:
        if not pair["graders"]:
            rows.append(
                [
                    cell(f"{pair['first']} vs {pair['second']}"),
                    cell("-"),
                    cell(str(pair["items"]), numeric=True),
                    cell("-"),
                    cell("-"),
                    cell(pair.get("missing") or "no grader scored both"),
                ]
            )
            continue
        for name, g in pair["graders"].items():
            difference = g.get("difference")
            shown = (
                f"{difference['estimate']:+.3f} [{difference['low']:+.3f}, "
                f"{difference['high']:+.3f}]"
                if difference
                else "-"
            )
            verdict = g.get("verdict")
            rows.append(
                [
                    cell(f"{pair['first']} vs {pair['second']}"),
                    cell(name),
                    cell(str(pair["items"]), numeric=True),
                    cell(shown, numeric=True),
                    cell(g.get("test") or "-"),
                    cell(
                        f"{verdict_words(verdict)}"
                        + (f" ({g['verdict_reason']})" if g.get("verdict_reason") else "")
                        if verdict
                        else "-"
                    ),
                ]
            )
    return table(
        [
            "pair (first minus second)",
            "grader",
            cell("items", numeric=True),
            cell("difference", numeric=True),
            "test",
            "verdict for the first",
        ],
        rows,
    )


def render_comparison(answer: dict[str, Any]) -> str:
    """The whole page for a compare answer."""
    runs: list[dict[str, Any]] = answer["runs"]
    title = f"ftd compare: {answer['name']} (dataset {answer['dataset_id']}), " + ", ".join(
        r["run"] for r in runs
    )
    sections = [
        "<section><h2>Runs</h2>" + _status_table(runs) + "</section>",
        "<section><h2>Settings</h2>" + _settings_table(runs) + "</section>",
        "<section><h2>Cost</h2>" + _cost_table(runs) + "</section>",
    ]
    curves = _curves(runs)
    if curves:
        sections.append("<section><h2>Training</h2>" + curves + "</section>")
    charts = _score_charts(runs, float(answer["confidence"]))
    sections.append(
        "<section><h2>Evaluation</h2>"
        + "".join(charts)
        + "<h3>Paired verdicts, on the same test items</h3>"
        + _pairs_table(answer["pairs"])
        + "</section>"
    )
    header = (
        f"<header><h1>{esc(title)}</h1>"
        f'<p class="meta">report made {esc(stamp(answer["generated_at"]))} by ftd</p></header>'
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{STYLE}</style></head>"
        f"<body>{header}{''.join(sections)}</body></html>\n"
    )
