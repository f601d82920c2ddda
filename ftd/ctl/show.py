"""Show everything known of a dataset, a job or an evaluation.

ID is a job id (ftjob-...) or a fine-tuned model name, an evaluation
(eval-N), a dataset number, or a dataset file name (the newest of that name).
On a terminal a job's training loss is drawn as a sparkline.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ftd.ctl import batch_view, common, render
from ftd.datasets.report import human_size

if TYPE_CHECKING:
    import argparse

HELP = {"show": "show everything known of a dataset, job or evaluation"}
SPARK_WIDTH = 48


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("id", help="dataset number or name, job id, model name, or eval-N")
    common.add_client_options(parser)


def _line(label: str, value: Any) -> None:
    if value not in (None, "", [], {}):
        print(f"  {label:<18} {render.clean(value)}")


def _history(rows: list[dict[str, Any]]) -> None:
    print("history:")
    for row in rows:
        print(f"  {render.stamp(row['at'])}  {row['from_state'] or '(new)'} -> {row['to_state']}")


def show_dataset(answer: dict[str, Any]) -> None:
    d = answer["dataset"]
    print(f"dataset {d['id']}: {render.clean(d['name'])} ({d['state']})")
    if answer.get("run"):
        of = f" of dataset {d['run_of']}" if d.get("run_of") else " (the dataset's first run)"
        _line("run", answer["run"] + of)
    _line("sha256", d["sha256"])
    _line("size", human_size(d["size_bytes"]))
    _line("created", render.stamp(d["created_at"]))
    _line("error", d["error"])
    if d.get("next_attempt_at"):
        _line("next attempt", render.ago(d["next_attempt_at"]))
    _line("duplicate of", d.get("duplicate_of"))
    for role, path in (answer.get("files") or {}).items():
        _line(f"{role} file", path)
    settings = answer.get("settings") or {}
    _line("model", settings.get("model"))
    _line("method", settings.get("method"))
    validation = answer.get("validation")
    if validation:
        print("validation:")
        _line("accepted", validation["accepted"])
        _line("lines / examples", f"{validation['lines']} / {validation['examples']}")
        _line("invalid examples", validation["invalid_examples"])
        for issue in validation["errors"]:
            print(f"  error   {issue['kind']} x{issue['count']}: {render.clean(issue['first'])}")
        for issue in validation["warnings"]:
            print(f"  warning {issue['kind']} x{issue['count']}: {render.clean(issue['first'])}")
        estimate = validation.get("estimate") or {}
        if estimate:
            _line(
                "training estimate",
                f"{render.money(estimate.get('cost_usd'))} for "
                f"{render.number(estimate.get('billed_tokens'))} billed tokens "
                f"(training split x {estimate.get('n_epochs')} epochs)",
            )
            _line("  covers", estimate.get("covers"))
        counts = validation.get("token_counts") or {}
        if counts and not counts.get("exact", True):
            _line("token counts", f"approximate: {counts.get('basis')}")
        whole = validation.get("file_estimate") or {}
        if whole:
            _line(
                "whole file",
                f"{render.number(whole.get('billed_tokens_per_epoch'))} tokens per epoch, "
                "before the split (not billed as such)",
            )
        forecast = validation.get("evaluation_estimate") or {}
        if forecast:
            _line(
                "evaluation estimate",
                f"{render.money(forecast.get('counted_usd'))} ({forecast.get('note')})",
            )
        elif validation.get("accepted"):
            notes = validation.get("notes") or []
            why = next((n for n in notes if "test" in n), "evaluation is off or has no test file")
            _line("evaluation", f"none: {why}")
        for note in validation.get("notes") or []:
            _line("note", note)
        approval = validation.get("approval") or {}
        if approval and d["state"] == "awaiting_approval":
            _line("waits for approval", approval.get("reason"))
            _line("  to go on", f"ftd approve {d['id']}")
    splits = answer.get("splits") or {}
    if splits:
        _line("splits", ", ".join(f"{s} {v['examples']}" for s, v in sorted(splits.items())))
    for side, upload in (answer.get("uploads") or {}).items():
        _line(f"upload {side}", upload["file_id"] or f"{upload['filename']} (not yet)")
    _history(answer["history"])
    runs = answer.get("runs") or []
    if len(runs) > 1:
        print(f"runs of this dataset ({len(runs)}; compare with `ftd compare RUN RUN`):")
        for run in runs:
            job = f"job {run['job_id']} {run['job_status']}" if run["job_id"] else "no job yet"
            print(f"  {run['run']}: {run['model']} at {run['provider']}, {run['state']}, {job}")
    if answer.get("job"):
        print()
        show_job(answer["job"])
    for evaluation in answer.get("evaluations") or []:
        print()
        show_evaluation({"evaluation": evaluation})


def show_job(answer: dict[str, Any]) -> None:
    job = answer["job"]
    print(f"job {job['job_id']} ({job['status']})")
    dataset = answer.get("dataset")
    if dataset:
        _line("dataset", f"{dataset['id']}: {dataset['name']} ({dataset['state']})")
        if dataset.get("run"):
            of = dataset.get("run_of") or dataset["id"]
            _line("run", f"{dataset['run']} of dataset {of}")
    _line("base model", job["model"])
    _line("fine-tuned model", job["fine_tuned_model"])
    _line("model answers", render.stamp(job["model_ready_at"]) if job["model_ready_at"] else None)
    _line("progress", render.progress(answer.get("progress") or {}))
    if job["estimated_finish"] and job["status"] not in ("succeeded", "failed", "cancelled"):
        _line("estimated finish", render.ago(job["estimated_finish"]))
    _line("billed tokens", render.number(job["trained_tokens"]))
    _line("cost", render.money(job["cost_usd"]))
    if job["error_code"]:
        _line("error", f"{job['error_code']}: {job['error_message']}")
    _line("adopted", "yes" if job["adopted"] else None)
    metrics = answer.get("metrics") or {}
    train = metrics.get("train_loss")
    if train:
        _line(
            "train loss",
            f"{train['first']:.3f} -> {train['last']:.3f} (min {train['min']:.3f}) "
            f"over {metrics['steps']} steps",
        )
        if sys.stdout.isatty() and metrics.get("loss_curve"):
            from ftd.report.sparkline import sparkline

            _line("", sparkline(metrics["loss_curve"], SPARK_WIDTH))
    valid = metrics.get("valid_loss")
    if valid:
        _line("valid loss", f"{valid['first']:.3f} -> {valid['last']:.3f} (min {valid['min']:.3f})")
    for point in metrics.get("full_valid") or []:
        _line(
            f"full valid @{point['step']}",
            f"loss {render.number(point['loss'])}, accuracy {render.number(point['accuracy'])}",
        )
    for checkpoint in answer.get("checkpoints") or []:
        _line(f"checkpoint @{checkpoint['step']}", checkpoint["model"])
    _history(answer.get("history") or [])
    tail = answer.get("events_tail") or []
    if tail:
        print(f"events (last {len(tail)} of {answer['events_total']}):")
        for event in tail:
            message = render.clean(event["message"])
            print(f"  {render.stamp(event['created_at'])}  {event['level']:<5} {message}")
    for evaluation in answer.get("evaluations") or []:
        print()
        show_evaluation({"evaluation": evaluation})


def _interval(figures: dict[str, Any] | None, *, signed: bool = False) -> str | None:
    return render.interval(figures, signed=signed)


def _p_value(value: float | None) -> str | None:
    if value is None:
        return None
    return "<0.001" if value < 0.001 else f"{value:.3f}"


def _graders(summary: dict[str, Any]) -> None:
    rows = []
    for name, grader in (summary.get("graders") or {}).items():
        tally = grader.get("tally")
        rows.append(
            (
                name,
                grader.get("kind"),
                _interval(grader.get("candidate")),
                _interval(grader.get("base")),
                _interval(grader.get("difference"), signed=True),
                f"{tally['wins']}/{tally['ties']}/{tally['losses']}" if tally else None,
                _p_value(grader.get("p_value")),
                render.verdict(grader.get("verdict")),
            )
        )
    if rows:
        headers = (
            "GRADER",
            "KIND",
            "MODEL (95% CI)",
            "BASE",
            "DIFFERENCE",
            "W/T/L",
            "P",
            "VERDICT",
        )
        for line in render.table(rows, headers).splitlines():
            print(f"  {line}")


def _agreement(label: str, figures: dict[str, Any] | None) -> None:
    if figures:
        kappa = figures.get("kappa")
        _line(
            label,
            f"{figures['rate']:.0%} the same (kappa {kappa:.2f}, n={figures['n']})"
            if kappa is not None
            else f"{figures['rate']:.0%} the same (n={figures['n']})",
        )


def show_evaluation(answer: dict[str, Any]) -> None:
    evaluation = answer.get("evaluation") or answer
    summary = answer.get("summary") or {}
    against = f" against {evaluation['base_model']}" if evaluation.get("base_model") else ""
    title = f"evaluation eval-{evaluation['id']} ({evaluation['status']})"
    print(f"{title}: {evaluation['model']}{against}")
    progress = summary.get("progress") or {}
    if progress:
        _line(
            "items",
            f"{progress.get('done')} of {progress.get('total')} done, "
            f"{progress.get('errors', 0)} errors",
        )
    _line("test file", evaluation.get("test_file"))
    base = (summary.get("sides") or {}).get("base") or {}
    if base.get("source") == "recorded":
        _line(
            "sides",
            f"{evaluation['model']} asked live; {base.get('model')} read from recording "
            f"{base.get('recording')} (recorded {base.get('recorded_at')})",
        )
    for label, text in batch_view.stage_lines(answer.get("batches")):
        _line(label, text)
    _line("verdict", render.verdict(evaluation.get("verdict") or summary.get("verdict")))
    primary = (summary.get("graders") or {}).get(summary.get("primary_grader") or "") or {}
    if primary.get("verdict_reason"):
        test = f"{primary.get('test')} test on {summary.get('primary_grader')}"
        _line("why", f"{test}: {primary['verdict_reason']}")
    _line("error", evaluation.get("error"))
    _line("stopped", summary.get("stopped_reason"))
    _graders(summary)
    judge = summary.get("judge") or {}
    _agreement("judge self-agreement", judge.get("rubric_agreement"))
    _agreement("pairwise order agreement", judge.get("order_agreement"))
    usage = summary.get("usage") or {}
    if usage:
        _line(
            "cost",
            f"{render.money(summary.get('cost_usd'))} ({usage.get('requests')} requests, "
            f"{usage.get('cached_requests')} from the cache, {usage.get('prompt_tokens')} + "
            f"{usage.get('completion_tokens')} tokens)",
        )
    _line("live vs batch", batch_view.cost_line(summary))
    for gate in summary.get("gates") or []:
        _line(
            f"gate {gate['name']}", f"{'passed' if gate['passed'] else 'failed'}: {gate['reason']}"
        )
    if evaluation.get("promoted") is not None:
        _line("promoted", "yes" if evaluation["promoted"] else "no")
    _line("best checkpoint", summary.get("best_checkpoint"))
    _line("report", evaluation.get("report_path") or answer.get("report_path"))
    differences = answer.get("differences") or []
    if differences:
        print("items where the two models differ most:")
        for item in differences:
            gap = f"difference {item['difference']:+.2f}"
            source = item.get("source")
            where = (
                f"{render.clean(source['file'])} line {source['line']}"
                if source
                else f"test split line {item['line']}"
            )
            print(f"  {where} ({gap}): {_short(item['question'])}")
            print(f"    reference: {_short(item['reference'])}")
            print(f"    model:     {_short(item['candidate'].get('answer'))}")
            print(f"    base:      {_short(item['base'].get('answer'))}")


def _short(text: object, width: int = 100) -> str:
    flat = render.clean(" ".join(str(text or "").split()))
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _show(answer: dict[str, Any]) -> None:
    kind = answer.get("kind")
    if kind == "dataset":
        show_dataset(answer)
    elif kind == "job":
        show_job(answer)
    else:
        show_evaluation(answer)


def run(args: argparse.Namespace) -> int:
    return common.call(args, "show", {"id": args.id}, _show)
