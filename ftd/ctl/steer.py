"""Commands that steer the daemon: a job's course, a dataset's retry or approval, adoption, reload.

These change things, so the daemon may keep them to a narrower group
(``control.admin_group``); it logs who asked.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ftd.control.client import ClientError
from ftd.ctl import common

if TYPE_CHECKING:
    import argparse

HELP = {
    "cancel": "cancel a running or queued fine-tuning job",
    "pause": "pause a running fine-tuning job",
    "resume": "resume a paused fine-tuning job",
    "retry": "try a rejected, failed or blocked dataset, or a cancelled or failed run, again",
    "approve": "approve a dataset held by the spend guard",
    "adopt": "follow a fine-tuning job created outside ftd",
    "reload": "re-read the configuration where that is safe while running",
    "delete-model": "delete a fine-tuned model ftd made, at the provider",
    "keep": "keep a model's deployments after its evaluation (they bill by the hour)",
}
_SUBJECT = {
    "cancel": "job",
    "pause": "job",
    "resume": "job",
    "retry": "dataset",
    "approve": "dataset",
    "adopt": "job",
    "delete-model": "model",
}


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    subject = _SUBJECT.get(name)
    if subject == "job":
        parser.add_argument("job", help="job id (ftjob-...)")
    elif subject == "dataset":
        parser.add_argument("dataset", help="dataset number, file name or run (run-N)")
    elif subject == "model":
        parser.add_argument("model", help="fine-tuned model name (ft:...)")
        parser.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")
    elif name == "keep":
        parser.add_argument("model", help="the model whose deployments to keep")
        parser.add_argument(
            "--release",
            action="store_true",
            help="let them go again: torn down once their evaluation has ended",
        )
    common.add_client_options(parser)


EXIT_CONFIG = 78  # EX_CONFIG: the configuration file is at fault


def _job(answer: dict[str, Any]) -> None:
    print(f"job {answer['job_id']}: {answer['previous']} -> {answer['status']}")


def _dataset(answer: dict[str, Any]) -> None:
    if "retry_of" in answer:
        print(
            f"{answer['retry_of']}: {answer['previous']}; trained again as {answer['run']} "
            f"({answer['state']})"
        )
        return
    line = f"dataset {answer['dataset_id']}: {answer.get('previous', 'awaiting_approval')}"
    print(f"{line} -> {answer['state']}")


def _kept(answer: dict[str, Any]) -> None:
    verb = "kept" if answer["keep"] else "released (torn down after their evaluation)"
    for name in answer["deployments"]:
        print(f"deployment {name} of {answer['model']}: {verb}")


def _adopted(answer: dict[str, Any]) -> None:
    job = answer["job_id"]
    asked = answer.get("asked")
    if asked and asked != job:
        job = f"{job} (the provider's answer for {asked})"
    status = f" ({answer['status']})" if answer.get("status") else ""
    if answer["adopted"]:
        print(f"job {job}{status} is now followed")
    else:
        print(f"job {job} was followed already{status}")


def _reloaded(answer: dict[str, Any]) -> None:
    applied = ", ".join(answer["applied"]) or "nothing changed"
    print(f"reloaded {answer.get('config_file') or 'the configuration'}: {applied}")
    if answer["needs_restart"]:
        print(f"needs a restart to apply: {', '.join(answer['needs_restart'])}")


def _reload(args: argparse.Namespace) -> int:
    """A configuration the daemon would not take is a failure (EX_CONFIG), not a note."""
    try:
        with common.connect(args) as client:
            answer = client.call("reload", {})
    except ClientError as exc:
        common.fail(args, str(exc))
        return exc.exit_status
    refused = isinstance(answer, dict) and not answer.get("ok", True)
    if args.json:
        common.print_json(answer)
    elif refused:
        common.fail(args, f"configuration not reloaded: {answer['error']}")
    else:
        _reloaded(answer)
    return EXIT_CONFIG if refused else common.EXIT_OK


def _deleted(answer: dict[str, Any]) -> None:
    print(f"model {answer['model']} deleted at the provider")


def _confirmed(model: str) -> bool:
    if not sys.stdin.isatty():
        return False
    reply = input(f"Delete {model} at the provider? It cannot be undone. [y/N] ")
    return reply.strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    command = args.command
    if command in ("cancel", "pause", "resume"):
        return common.call(args, command, {"job": args.job}, _job)
    if command in ("retry", "approve"):
        return common.call(args, command, {"dataset": args.dataset}, _dataset)
    if command == "adopt":
        return common.call(args, "adopt", {"job": args.job}, _adopted)
    if command == "keep":
        return common.call(args, "keep", {"model": args.model, "keep": not args.release}, _kept)
    if command == "reload":
        return _reload(args)
    if not args.yes and not _confirmed(args.model):
        common.fail(args, "not confirmed; nothing deleted (pass --yes when not at a terminal)")
        return common.EXIT_USAGE
    return common.call(args, "delete_model", {"model": args.model}, _deleted)
