"""Recorded answers: keep a model's answers to test items before it retires, list them, export them.

`ftd record MODEL` asks the model every test item once (of the dataset that
trained it, of --dataset, or of --file) with the evaluation's request
parameters, and keeps the answers under a name (the model's, or --name).
`ftd eval SUCCESSOR --against-recording NAME` then judges a successor
against them after the model is gone. `ftd recordings export NAME FILE`
writes the answered items as JSONL, each a supervised example whose final
assistant turn is the recorded answer.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftd.control.client import ClientError
from ftd.ctl import common, render
from ftd.ctl.models import TestFileError, read_test_file

if TYPE_CHECKING:
    import argparse

EXIT_BAD_FILE = 1
HELP = {
    "record": "ask a model every test item once and keep its answers under a name",
    "recordings": "list recorded answers and models retiring unrecorded; export one as JSONL",
}


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    if name == "record":
        parser.add_argument("model", help="the model whose answers to keep")
        source = parser.add_mutually_exclusive_group()
        source.add_argument("--dataset", metavar="D", help="a dataset's test split (id or name)")
        source.add_argument("--file", type=Path, metavar="F", help="JSONL test items to ask")
        parser.add_argument("--name", metavar="NAME", help="the recording's name (default: MODEL)")
        parser.add_argument("--provider", metavar="P", help="the profile to ask it at")
    else:
        parser.add_argument("action", nargs="?", choices=["list", "export"], default="list")
        parser.add_argument("name", nargs="?", help="export: the recording")
        parser.add_argument("file", nargs="?", type=Path, help="export: the JSONL file to write")
    common.add_client_options(parser)


def _queued(answer: dict[str, Any]) -> None:
    row = answer["recording"]
    print(
        f"recording {render.clean(row['name'])} queued: {answer['items']} items of "
        f"{render.clean(row['model'])}; follow with `ftd recordings`"
    )


def _listed(answer: dict[str, Any]) -> None:
    rows = [
        [
            r["name"],
            r["model"],
            r["origin"],
            r["status"],
            f"{r['items'].get('answered', 0)}/{r['total_items'] or '?'}",
            sum(n for state, n in r["items"].items() if state != "answered"),
            render.stamp(r["finished_at"]),
        ]
        for r in answer["recordings"]
    ]
    if rows:
        headers = ["NAME", "MODEL", "ORIGIN", "STATUS", "ANSWERED", "OTHERS", "FINISHED"]
        print(render.table(rows, headers))
    else:
        print("no recordings")
    for model in answer.get("unrecorded") or []:
        print(
            f"! {render.clean(model['model'])} retires on {model['shutdown_date']} "
            f"({model['days_left']} days) unrecorded"
        )


def export_lines(answer: dict[str, Any]) -> tuple[list[str], int]:
    """The answered items as JSONL lines, and how many items had no answer to write."""
    row = answer["recording"]
    lines: list[str] = []
    skipped = 0
    for item in answer["answers"]:
        if item["state"] != "answered" or item["response"] is None:
            skipped += 1
            continue
        messages = [*item["prompt"], {"role": "assistant", "content": item["response"]}]
        lines.append(
            json.dumps(
                {
                    "messages": messages,
                    "reference": item["reference"],
                    "recording": {
                        "name": row["name"],
                        "model": row["model"],
                        "item": item["item"],
                        "line": item["line"],
                        "prompt_sha256": item["prompt_sha256"],
                        "answered_at": item["answered_at"],
                    },
                },
                ensure_ascii=False,
            )
        )
    return lines, skipped


def write_new(path: Path, text: str) -> None:
    """Write a file that must not exist yet: nothing of the caller's is overwritten."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


def _export(args: argparse.Namespace) -> int:
    if not args.name or args.file is None:
        common.fail(args, "export needs a recording's name and a file to write")
        return common.EXIT_USAGE
    try:
        with common.connect(args) as client:
            answer = client.call("recording", {"name": args.name})
    except ClientError as exc:
        common.fail(args, str(exc))
        return exc.exit_status
    lines, skipped = export_lines(answer)
    path = args.file.expanduser()
    try:
        write_new(path, "".join(line + "\n" for line in lines))
    except OSError as exc:
        common.fail(args, f"{path}: cannot write it: {exc.strerror or exc}")
        return EXIT_BAD_FILE
    note = f" ({skipped} items without an answer left out)" if skipped else ""
    print(f"wrote {len(lines)} recorded answers of {render.clean(args.name)} to {path}{note}")
    return common.EXIT_OK


def run(args: argparse.Namespace) -> int:
    if args.command == "recordings":
        if args.action == "export":
            return _export(args)
        return common.call(args, "recordings", {}, _listed)
    request: dict[str, Any] = {"model": args.model}
    if args.name:
        request["name"] = args.name
    if args.provider:
        request["provider"] = args.provider
    if args.dataset:
        request["dataset"] = args.dataset
    if args.file is not None:
        try:
            request["test_items"] = read_test_file(args.file.expanduser())
        except TestFileError as exc:
            print(f"ftd record: {exc}", file=sys.stderr)
            return EXIT_BAD_FILE
    return common.call(args, "record", request, _queued)
