"""Use models through the daemon, which holds the key: ask one, or evaluate one on a test file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftd.ctl import common, render

if TYPE_CHECKING:
    import argparse

HELP = {
    "ask": "send one prompt to a model through the daemon and print its answer",
    "eval": "evaluate a model on a test file (against a base model) in the daemon's pool",
}


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("model", help="the model (e.g. ft:gpt-4.1-mini-...)")
    if name == "ask":
        parser.add_argument("prompt", help="what to ask")
        parser.add_argument("--system", metavar="TEXT", help="a system message first")
    else:
        parser.add_argument(
            "--test-file", type=Path, required=True, metavar="PATH", help="JSONL test items"
        )
        parser.add_argument("--base", metavar="MODEL", help="compare against this model")
        parser.add_argument(
            "--grader",
            action="append",
            metavar="NAME",
            help="a grader to use (repeatable; default: the configured ones)",
        )
    common.add_client_options(parser)
    parser.set_defaults(timeout=120.0)


def _answered(answer: dict[str, Any]) -> None:
    text = answer["answer"]
    print(render.clean(text, lines=True) if text is not None else "(no text in the answer)")


def _queued(answer: dict[str, Any]) -> None:
    print(
        f"{answer['id']} queued for {answer['model']}: follow with `ftd watch`, "
        f"then `ftd show {answer['id']}`"
    )


def run(args: argparse.Namespace) -> int:
    if args.command == "ask":
        request: dict[str, Any] = {"model": args.model, "prompt": args.prompt}
        if args.system:
            request["system"] = args.system
        return common.call(args, "ask", request, _answered)
    evaluation: dict[str, Any] = {
        "model": args.model,
        "test_file": str(args.test_file.expanduser().resolve()),
    }
    if args.base:
        evaluation["base_model"] = args.base
    if args.grader:
        evaluation["graders"] = args.grader
    return common.call(args, "eval", evaluation, _queued)
