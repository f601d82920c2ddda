"""What every socket command shares: its options, the connection, and errors as one line.

Standard library only (with ftd's own light modules): these commands must
start in a blink, so nothing here may import the OpenAI SDK or the daemon.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftd.control.address import ConfigFileError, socket_path
from ftd.control.client import Client, ClientError
from ftd.ctl.render import clean

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

EXIT_OK = 0
EXIT_USAGE = 2


def add_client_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--socket",
        metavar="PATH",
        help="the daemon's control socket (default: from $FTD_SOCKET or the configuration)",
    )
    parser.add_argument(
        "-c", "--config", type=Path, metavar="FILE", help="configuration file to find the socket"
    )
    parser.add_argument(
        "--timeout", type=float, default=30.0, metavar="S", help="seconds to wait for an answer"
    )
    parser.add_argument("--json", action="store_true", help="print the raw answer as JSON")


def fail(args: argparse.Namespace, message: str) -> None:
    print(f"ftd {args.command}: {clean(message)}", file=sys.stderr)


def connect(args: argparse.Namespace) -> Client:
    try:
        path = socket_path(args.socket, args.config)
    except ConfigFileError as exc:
        raise ClientError(f"cannot read the configuration: {exc}") from None
    return Client(path, timeout=args.timeout)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def call(
    args: argparse.Namespace,
    cmd: str,
    request: dict[str, Any],
    show: Callable[[Any], None],
) -> int:
    """Ask the daemon once and show the answer; any failure is one line and an exit status."""
    try:
        with connect(args) as client:
            result = client.call(cmd, request)
    except ClientError as exc:
        fail(args, str(exc))
        return exc.exit_status
    if getattr(args, "json", False):
        print_json(result)
    else:
        show(result)
    return EXIT_OK
