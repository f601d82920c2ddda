"""Write the HTML report of a dataset, a job or an evaluation: one self-contained file.

It opens from disk in any browser, without network: charts of the training
curves, the validation summary, the events, and the evaluation against the
base model. The daemon also writes one beside each dataset whose job's
evaluation has finished (processed/NAME.report.html; `ftd show` gives the path).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from ftd.control.client import ClientError
from ftd.ctl import common

if TYPE_CHECKING:
    import argparse

HELP = {"report": "write the HTML report (charts, evaluation) of a dataset, job or evaluation"}


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("id", help="dataset number or name, job id, model name, or eval-N")
    parser.add_argument(
        "-o", "--output", type=Path, metavar="FILE", help="where to write it (default: ./ID.html)"
    )
    common.add_client_options(parser)


def _default_name(key: str) -> Path:
    return Path(re.sub(r"[^A-Za-z0-9._-]+", "_", key).strip("._") + ".html")


def run(args: argparse.Namespace) -> int:
    target: Path = args.output or _default_name(args.id)
    try:
        with common.connect(args) as client:
            answer = client.call("report", {"id": args.id})
    except ClientError as exc:
        common.fail(args, str(exc))
        return exc.exit_status
    try:
        target.write_text(answer["html"], encoding="utf-8")
    except OSError as exc:
        common.fail(args, f"cannot write {target}: {exc.strerror or exc}")
        return 1
    if args.json:
        common.print_json({"path": str(target), "title": answer["title"]})
    else:
        print(target)
    return common.EXIT_OK
