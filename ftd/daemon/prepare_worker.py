"""Validate and split datasets in a child process: ``python -m ftd.daemon.prepare_worker``.

The daemon runs this in its own process rather than a thread: validation
uses every core through its own worker pool, which is not safe to fork from
a process full of threads; a child can be killed at once when the daemon is
asked to stop, where a thread could only be waited for; and its memory goes
back to the system when it ends. The request comes as JSON on stdin, the
answer leaves as JSON on stdout.

With ``--serve`` the child stays and takes one request per line, answering
each with one line (``{"status": "ok" | "tempfail" | "error", ...}``): the
interpreter and the tokenizer are loaded once for many small datasets
instead of once each (see workers.py, which also decides when to end one).
"""

from __future__ import annotations

import errno
import json
import os
import sys
from pathlib import Path
from typing import Any

from ftd.datasets.split import SIDES, TRAIN, VALIDATION, copy_examples, split_file
from ftd.datasets.validate import MIN_EXAMPLES, Options, validate_file
from ftd.errors import InputFileError


def _prices(spec: dict[str, Any]) -> Any:
    figures = (spec.get("price_per_mtok"), spec.get("price_per_hour"))
    return lambda _model: figures


def prepare(spec: dict[str, Any]) -> dict[str, Any]:
    """Validate the dataset and its companion files; split them when every one passes."""
    options = Options(
        model=spec["model"],
        method=spec["method"],
        n_epochs=spec.get("n_epochs"),
        prices=_prices(spec),
    )
    files: dict[str, str] = {"dataset": spec["dataset"], **spec.get("companions", {})}
    reports: dict[str, Any] = {}
    for role, path in files.items():
        try:
            reports[role] = validate_file(path, options).to_json()
        except InputFileError as exc:
            reports[role] = {"path": path, "accepted": False, "unreadable": str(exc)}
    if not all(report["accepted"] for report in reports.values()):
        return {"accepted": False, "reports": reports, "parts": None, "notes": []}
    return {"accepted": True, "reports": reports, **_split(spec, reports)}


def _split(spec: dict[str, Any], reports: dict[str, Any]) -> dict[str, Any]:
    plan = spec["split"]
    out = Path(plan["out_dir"])
    stem = plan["stem"]
    notes: list[str] = []
    examples = int(reports["dataset"]["examples"])
    validation_fraction = float(plan["validation_fraction"])
    test_fraction = float(plan["test_fraction"])
    if test_fraction and examples * test_fraction < plan["min_test_examples"]:
        notes.append(
            f"no test set held out: {examples} examples x test_fraction {test_fraction:g} is "
            f"below min_test_examples {plan['min_test_examples']}"
        )
        test_fraction = 0.0
    parts = split_file(
        spec["dataset"],
        out,
        stem=stem,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
    )
    if parts[TRAIN].examples < MIN_EXAMPLES and (validation_fraction or test_fraction):
        notes.append(
            f"split left {parts[TRAIN].examples} training examples, fewer than the "
            f"{MIN_EXAMPLES} required; everything is used for training"
        )
        parts = split_file(
            spec["dataset"], out, stem=stem, validation_fraction=0.0, test_fraction=0.0
        )
    for side, path in spec.get("companions", {}).items():
        parts[side] = copy_examples(path, out / f"{stem}.{side}.jsonl", side=side)
    return {
        "parts": {
            side: {
                "path": str(parts[side].path),
                "examples": parts[side].examples,
                "sha256": parts[side].sha256,
            }
            for side in SIDES
            if side in parts
        },
        "notes": notes,
        "validation_from": "file" if VALIDATION in spec.get("companions", {}) else "split",
    }


def serve() -> int:
    """Answer requests, one JSON line each, until stdin ends."""
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            answer: dict[str, Any] = {"status": "ok", "answer": prepare(json.loads(line))}
        except OSError as exc:
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
                answer = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
            else:
                answer = {"status": "tempfail", "error": f"cannot write the splits: {exc}"}
        except Exception as exc:
            answer = {"status": "error", "error": f"{type(exc).__name__}: {exc}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()
        if answer["status"] == "error":
            return 1  # a fresh process for whatever comes next
    return 0


def main() -> int:
    if "--serve" in sys.argv[1:]:
        return serve()
    spec = json.load(sys.stdin)
    try:
        answer = prepare(spec)
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            raise
        # The disk, not the dataset: the daemon tries again later, and counts no failure.
        sys.stderr.write(f"cannot write the splits: {exc}\n")
        return os.EX_TEMPFAIL
    json.dump(answer, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
