"""Put a dataset into the drop folder safely: staged beside incoming/, then renamed in at once.

Works without the daemon running; it needs only write access to the drop
folder. The sidecar (and the validation or test files it names) are
published before the dataset, so the daemon sees them together. A taken name
is never overwritten: faq.jsonl becomes faq-2.jsonl.

Exit status: 0 when published, 1 when it could not be, 2 for a usage error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ftd.control.address import ConfigFileError, drop_dir
from ftd.ctl import common

if TYPE_CHECKING:
    import argparse

HELP = {"submit": "copy a dataset into the drop folder safely (works without the daemon)"}


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("path", type=Path, help="the JSONL dataset")
    parser.add_argument("--sidecar", type=Path, metavar="FILE", help="its sidecar (TOML)")
    parser.add_argument("--name", help="the name it gets in incoming/ (default: its own)")
    parser.add_argument(
        "--drop", metavar="DIR", help="the drop folder (default: from the configuration)"
    )
    parser.add_argument(
        "-c", "--config", type=Path, metavar="FILE", help="configuration file to find the folder"
    )
    parser.add_argument("--json", action="store_true", help='print {"path": ...} as JSON')


def run(args: argparse.Namespace) -> int:
    from ftd.submit import SubmitError, publish

    try:
        folder = drop_dir(args.drop, args.config)
        published = publish(args.path, folder, sidecar=args.sidecar, name=args.name)
    except (SubmitError, ConfigFileError) as exc:
        common.fail(args, str(exc))
        return 1
    if args.json:
        common.print_json({"path": str(published)})
    else:
        print(published)
    return common.EXIT_OK
