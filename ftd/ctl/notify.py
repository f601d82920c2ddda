"""``ftd notify test [NAME]``: send a sample of each event to a destination (all by default).

The daemon sends them, with the secrets of its environment and credentials,
and this prints what each destination answered. Exit status 1 when any
sample was not accepted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftd.control.client import ClientError
from ftd.ctl import common

if TYPE_CHECKING:
    import argparse

HELP = {"notify": "send a sample of each event to the [[notify]] destinations (notify test)"}


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    test = actions.add_parser("test", help="send samples and print what each destination answered")
    test.add_argument("destination", nargs="?", help="a [[notify]] name (default: every one)")
    common.add_client_options(test)
    test.set_defaults(timeout=300.0)


def _show(answer: dict[str, Any]) -> None:
    for destination in answer["destinations"]:
        print(f"{destination['name']} ({destination['kind']}):")
        for result in destination["results"]:
            mark = "sent" if result["sent"] else "FAILED"
            status = result["status"] if result["status"] is not None else "-"
            said = " ".join(str(result["answer"]).split())[:160]
            print(f"  {result['event']:<20} {mark:<6} {status!s:>4}  {said}")


def run(args: argparse.Namespace) -> int:
    request = {"destination": args.destination} if args.destination else {}
    try:
        with common.connect(args) as client:
            answer = client.call("notify_test", request)
    except ClientError as exc:
        common.fail(args, str(exc))
        return exc.exit_status
    if args.json:
        common.print_json(answer)
    else:
        _show(answer)
    failed = any(not r["sent"] for d in answer["destinations"] for r in d["results"])
    return 1 if failed else common.EXIT_OK
