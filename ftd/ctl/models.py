"""Use models through the daemon, which holds the key: ask one, or evaluate one on a test file."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftd.ctl import common, render

if TYPE_CHECKING:
    import argparse

# As the daemon answers a bad argument: status 1.
EXIT_BAD_FILE = 1
EXIT_USAGE = 2
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
            "--test-file",
            type=Path,
            metavar="PATH",
            help="JSONL test items (required unless --against-recording: its items by default)",
        )
        parser.add_argument("--base", metavar="MODEL", help="compare against this model")
        parser.add_argument(
            "--against-recording",
            metavar="NAME",
            help="compare against a recording's answers (`ftd recordings`), not a live model",
        )
        parser.add_argument(
            "--grader",
            action="append",
            metavar="NAME",
            help="a grader to use (repeatable; default: the configured ones)",
        )
        parser.add_argument(
            "--batch",
            action="store_const",
            const="batch",
            dest="mode",
            help="through the provider's batch engine (half price; live if it has none)",
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


# A test file is sent whole through the socket; the daemon's control.max_request_bytes
# bounds it too.
MAX_TEST_FILE_BYTES = 16 << 20


class TestFileError(Exception):
    """The test file cannot be sent: the message names it and why."""


def read_test_file(path: Path) -> str:
    """The test file's text, read with the caller's own rights.

    Opened without waiting for a FIFO's writer and read only if it is a
    regular file, up to MAX_TEST_FILE_BYTES: ``/dev/zero`` or a pipe is
    refused, not read for ever.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise TestFileError(f"{path}: cannot open it: {exc.strerror or exc}") from None
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise TestFileError(f"{path}: not a regular file")
        data = handle.read(MAX_TEST_FILE_BYTES + 1)
    if len(data) > MAX_TEST_FILE_BYTES:
        raise TestFileError(f"{path}: over {MAX_TEST_FILE_BYTES:,} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TestFileError(f"{path}: not UTF-8 text (byte {exc.start})") from None


def run(args: argparse.Namespace) -> int:
    if args.command == "ask":
        request: dict[str, Any] = {"model": args.model, "prompt": args.prompt}
        if args.system:
            request["system"] = args.system
        return common.call(args, "ask", request, _answered)
    evaluation: dict[str, Any] = {"model": args.model}
    if args.test_file is None and not args.against_recording:
        print("ftd eval: give --test-file (or --against-recording NAME)", file=sys.stderr)
        return EXIT_USAGE
    if args.test_file is not None:
        try:
            evaluation["test_items"] = read_test_file(args.test_file.expanduser())
        except TestFileError as exc:
            print(f"ftd eval: {exc}", file=sys.stderr)
            return EXIT_BAD_FILE
    if args.against_recording:
        evaluation["recording"] = args.against_recording
    if args.base:
        evaluation["base_model"] = args.base
    if args.grader:
        evaluation["graders"] = args.grader
    if args.mode:
        evaluation["mode"] = args.mode
    return common.call(args, "eval", evaluation, _queued)
