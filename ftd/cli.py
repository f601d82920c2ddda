"""The ``ftd`` command: one entry point, a subcommand per job.

Each subcommand lives in its own module exposing ``HELP``, ``configure(parser)``
and ``run(args) -> int``. Those modules import only the standard library at the
top so that ``ftd --help`` and the socket client start instantly; heavy imports
(the OpenAI SDK, tiktoken, aiohttp) happen inside ``run``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from typing import TYPE_CHECKING, Protocol, cast

from ftd import __version__

if TYPE_CHECKING:
    from collections.abc import Sequence

# Exit codes shared by every subcommand (sysexits.h where one fits).
EXIT_OK = 0
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_CONFIG = 78

# command name -> the module implementing it, in the order --help lists them.
# A module may implement several commands; only the one asked for is imported.
COMMANDS: dict[str, str] = {
    "run": "ftd.daemon.command",
    "status": "ftd.ctl.status",
    "datasets": "ftd.ctl.listing",
    "jobs": "ftd.ctl.listing",
    "models": "ftd.ctl.listing",
    "evaluations": "ftd.ctl.listing",
    "show": "ftd.ctl.show",
    "report": "ftd.ctl.report",
    "events": "ftd.ctl.follow",
    "watch": "ftd.ctl.follow",
    "cancel": "ftd.ctl.steer",
    "pause": "ftd.ctl.steer",
    "resume": "ftd.ctl.steer",
    "retry": "ftd.ctl.steer",
    "approve": "ftd.ctl.steer",
    "adopt": "ftd.ctl.steer",
    "reload": "ftd.ctl.steer",
    "delete-model": "ftd.ctl.steer",
    "keep": "ftd.ctl.steer",
    "notify": "ftd.ctl.notify",
    "train": "ftd.ctl.runs",
    "compare": "ftd.ctl.runs",
    "ask": "ftd.ctl.models",
    "eval": "ftd.ctl.models",
    "record": "ftd.ctl.recordings",
    "recordings": "ftd.ctl.recordings",
    "export": "ftd.ctl.export",
    "submit": "ftd.ctl.submit",
    "demo": "ftd.demo.command",
    "validate": "ftd.datasets.command",
    "emulator": "ftd.emulator.command",
    "completion": "ftd.ctl.completion",
}


class Command(Protocol):
    # command name -> one line of help.
    HELP: dict[str, str]

    def configure(self, parser: argparse.ArgumentParser, name: str) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line, or only the subcommand ``only`` (a faster start)."""
    parser = argparse.ArgumentParser(
        prog="ftd",
        description="Fine-tuning daemon: validate datasets, run fine-tuning jobs, evaluate models.",
    )
    parser.add_argument("--version", action="version", version=f"ftd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        if only is not None and name != only:
            continue
        module = cast("Command", importlib.import_module(module_name))
        help_text = module.HELP[name]
        doc = module.__doc__ if len(module.HELP) == 1 else None
        child = sub.add_parser(
            name,
            help=help_text,
            description=(doc or help_text).strip(),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure(child, name)
        child.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    first = next((w for w in words if not w.startswith("-")), None)
    parser = build_parser(first if first in COMMANDS else None)
    args = parser.parse_args(words)
    module = cast("Command | None", getattr(args, "_module", None))
    if module is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        return module.run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `ftd validate --json big.jsonl | head` must not print a traceback.
        return EXIT_OK
