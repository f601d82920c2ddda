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

# name -> module implementing the subcommand, in the order --help lists them.
COMMANDS: dict[str, str] = {
    "run": "ftd.daemon.command",
    "validate": "ftd.datasets.command",
    "emulator": "ftd.emulator.command",
}


class Command(Protocol):
    HELP: str

    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> int: ...


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ftd",
        description="Fine-tuning daemon: validate datasets, run fine-tuning jobs, evaluate models.",
    )
    parser.add_argument("--version", action="version", version=f"ftd {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = cast("Command", importlib.import_module(module_name))
        doc = (module.__doc__ or module.HELP).strip()
        child = sub.add_parser(
            name,
            help=module.HELP,
            description=doc,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        module.configure(child)
        child.set_defaults(_module=module)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
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
