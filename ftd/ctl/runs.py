"""Runs by hand: train a dataset again with other settings, or compare runs of one dataset.

``ftd train DATASET`` starts a new run of a dataset that passed validation,
on the dataset's own split, with its settings changed where asked:
``--provider P``, ``--model M`` and ``--set key=value`` (repeatable; dotted
keys reach into tables, e.g. ``--set hyperparameters.n_epochs=2``). The run
goes through the spend guard like a dropped file: ``ftd approve run-N`` if it
is held. ``ftd compare RUN_A RUN_B …`` puts runs of one dataset side by side
(settings, cost, training loss, scores with intervals) with a paired verdict
for every two runs on the same test items; ``--html FILE`` writes the page.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftd.control.client import ClientError
from ftd.ctl import common

if TYPE_CHECKING:
    import argparse

HELP = {
    "train": "start a new run of a dataset (other model, provider or settings), on its split",
    "compare": "compare runs of one dataset: settings, cost, curves, scores, paired verdicts",
}


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    if name == "train":
        parser.add_argument("dataset", help="dataset number, file name or run (run-N)")
        parser.add_argument("--provider", metavar="P", help="the provider profile to train at")
        parser.add_argument("--model", metavar="M", help="the base model to fine-tune")
        parser.add_argument(
            "--set",
            action="append",
            default=[],
            metavar="KEY=VALUE",
            help="a sidecar setting for this run (repeatable), e.g. hyperparameters.n_epochs=2",
        )
    else:
        parser.add_argument("runs", nargs="+", metavar="RUN", help="runs (run-N or N), 2 or more")
        parser.add_argument(
            "--html", type=Path, metavar="FILE", help="also write the comparison as an HTML page"
        )
    common.add_client_options(parser)


def _started(answer: dict[str, Any]) -> None:
    cost = answer.get("estimated_cost_usd")
    figure = f", estimated ${cost:,.2f}" if cost is not None else ""
    print(
        f"{answer['run']} of dataset {answer['dataset_id']} ({answer['name']}): "
        f"{answer['model']} at {answer['provider']}{figure}: {answer['state']}"
    )
    approval = answer.get("approval")
    if approval:
        print(f"  held by the spend guard: {approval['reason']}; `ftd approve {answer['run']}`")


def _mean(entry: dict[str, Any] | None) -> str:
    mean = (entry or {}).get("mean")
    if not mean:
        return "-"
    return f"{mean['estimate']:.3f} [{mean['low']:.3f}, {mean['high']:.3f}] n={mean['n']}"


def _compared(answer: dict[str, Any]) -> None:
    runs = answer["runs"]
    print(f"dataset {answer['dataset_id']} ({answer['name']}): {len(runs)} runs")
    for run in runs:
        job = run.get("job") or {}
        settings = run["settings"]
        charged = job.get("cost_usd")
        estimated = run.get("estimated_cost_usd")
        cost = (
            f"${charged:,.4f} charged"
            if charged is not None
            else (f"${estimated:,.4f} estimated" if estimated is not None else "cost unknown")
        )
        print(
            f"  {run['run']}: {settings.get('model')} at {settings.get('provider')}, "
            f"{run['state']}, job {job.get('job_id') or '-'} {job.get('status') or ''}, {cost}"
        )
        for key, change in (run.get("differs") or {}).items():
            print(f"    {key}: {change['first']} -> {change['this']}")
        evaluation = run.get("evaluation")
        if evaluation is None:
            print("    not evaluated")
            continue
        for name, entry in evaluation["scores"].items():
            print(f"    {name}: {_mean(entry)}")
    for pair in answer["pairs"]:
        head = f"{pair['first']} vs {pair['second']} on {pair['items']} shared items"
        if not pair["graders"]:
            print(f"  {head}: {pair.get('missing') or 'no grader scored both'}")
            continue
        print(f"  {head}:")
        for name, g in pair["graders"].items():
            verdict = (g.get("verdict") or "-").replace("_", " ")
            difference = g.get("difference")
            shown = (
                f"{difference['estimate']:+.3f} [{difference['low']:+.3f}, "
                f"{difference['high']:+.3f}]"
                if difference
                else "-"
            )
            reason = f" ({g['verdict_reason']})" if g.get("verdict_reason") else ""
            print(f"    {name}: {pair['first']} {verdict}{reason}; difference {shown}")


def _compare(args: argparse.Namespace) -> int:
    try:
        with common.connect(args) as client:
            answer = client.call("compare", {"runs": args.runs, "html": args.html is not None})
    except ClientError as exc:
        common.fail(args, str(exc))
        return exc.exit_status
    page = answer.pop("html", None)
    if args.html is not None and page is not None:
        try:
            args.html.write_text(page, encoding="utf-8")
        except OSError as exc:
            common.fail(args, f"cannot write {args.html}: {exc.strerror or exc}")
            return 73  # EX_CANTCREAT
    if args.json:
        common.print_json(answer)
    else:
        _compared(answer)
        if args.html is not None:
            print(f"wrote {args.html}")
    return common.EXIT_OK


def run(args: argparse.Namespace) -> int:
    if args.command == "compare":
        return _compare(args)
    request: dict[str, Any] = {"dataset": args.dataset, "set": args.set}
    if args.provider:
        request["provider"] = args.provider
    if args.model:
        request["model"] = args.model
    return common.call(args, "train", request, _started)
