"""Export a dataset or a job into a portable folder: everything ftd learnt of it.

The folder holds the splits byte for byte, the settings, each job's history
(events), metrics as CSV and checkpoints, the evaluations with every item and
their summaries, the recorded answers, and the HTML report; manifest.json
lists every file. DIR must be new or empty: nothing is overwritten.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftd.control.client import Client, ClientError
from ftd.ctl import common
from ftd.export import ExportError, Folder, write_bundle, write_manifest

if TYPE_CHECKING:
    import argparse

EXIT_FAILED = 1
HELP = {"export": "write a dataset's or job's splits, history, evaluations and report to a folder"}


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("id", help="dataset number or name, job id, or model name")
    parser.add_argument("dir", type=Path, help="the folder to write (new or empty)")
    common.add_client_options(parser)


def _split(client: Client, folder: Folder, dataset_id: int, side: str) -> None:
    chunks: list[bytes] = []
    offset = 0
    while True:
        answer = client.call(
            "export_split", {"dataset": str(dataset_id), "side": side, "offset": offset}
        )
        data = base64.b64decode(answer["data"])
        chunks.append(data)
        offset += len(data)
        if not data or offset >= int(answer["size"]):
            break
    folder.write(f"splits/{side}.jsonl", b"".join(chunks))


def run(args: argparse.Namespace) -> int:
    folder = Folder(args.dir.expanduser())
    try:
        folder.prepare()
        with common.connect(args) as client:
            bundle: dict[str, Any] = client.call("export", {"id": args.id})
            dataset_id = int(bundle["dataset"]["id"])
            for split in bundle["splits"]:
                if split.get("size_bytes") is not None:
                    _split(client, folder, dataset_id, str(split["side"]))
            report = client.call("report", {"id": args.id})
            write_bundle(folder, bundle, report.get("html"))
            write_manifest(folder, bundle)
    except ClientError as exc:
        common.fail(args, str(exc))
        return exc.exit_status
    except ExportError as exc:
        common.fail(args, str(exc))
        return EXIT_FAILED
    if args.json:
        common.print_json({"dir": str(folder.root), "files": folder.files})
    else:
        print(f"wrote {len(folder.files)} files to {folder.root}")
    return common.EXIT_OK
