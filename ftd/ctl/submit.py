"""Put a dataset into the drop folder safely: staged beside incoming/, then renamed in at once.

Works without the daemon running; it needs only write access to the drop
folder. The folder is the one named by --drop; else the one the running
daemon reports over its socket (so a daemon started with FTD_ variables is
found without repeating them); else the configuration's and environment's.
The sidecar (and the validation or test files it names) are
published before the dataset, so the daemon sees them together. A taken name
is never overwritten: faq.jsonl becomes faq-2.jsonl.

Exit status: 0 when published, 1 when it could not be, 2 for a usage error.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from ftd.control.address import ConfigFileError, drop_dir, socket_path
from ftd.control.client import Client, ClientError
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
    parser.add_argument(
        "--socket",
        metavar="PATH",
        help="the daemon to ask for its drop folder (default: from $FTD_SOCKET or the config)",
    )
    parser.add_argument("--json", action="store_true", help='print {"path": ...} as JSON')


ASK_SECONDS = 3.0  # a daemon slower than this to answer is passed over for the configuration


def daemons_drop_dir(socket: str | None, config: Path | None) -> Path | None:
    """The drop folder of the daemon on the socket, or None when none answers."""
    try:
        path = socket_path(socket, config)
    except ConfigFileError:
        return None
    if not path.exists():
        return None
    try:
        with Client(path, timeout=ASK_SECONDS) as client:
            answer = client.call("status", {})
    except ClientError:
        return None
    paths = answer.get("paths") if isinstance(answer, dict) else None
    drop = paths.get("drop_dir") if isinstance(paths, dict) else None
    if isinstance(drop, str) and drop and Path(drop).is_absolute():
        return Path(drop)
    return None


def run(args: argparse.Namespace) -> int:
    from ftd.submit import SubmitError, publish

    try:
        folder = (
            Path(args.drop).expanduser()
            if args.drop
            else daemons_drop_dir(args.socket, args.config) or drop_dir(None, args.config)
        )
        published = publish(args.path, folder, sidecar=args.sidecar, name=args.name)
    except (SubmitError, ConfigFileError) as exc:
        common.fail(args, str(exc))
        return 1
    if args.json:
        common.print_json({"path": str(published)})
    else:
        print(published)
    return common.EXIT_OK
