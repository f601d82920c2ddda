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

import orjson

from ftd.datasets.chunk import line_body
from ftd.datasets.formats import detect_method
from ftd.datasets.split import SIDES, TEST, TRAIN, VALIDATION, copy_examples, split_file
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
        provider=spec.get("provider", "openai"),
        tokenizer_file=spec.get("tokenizer_file"),
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
        _name_the_method(reports["dataset"], spec)
        return {"accepted": False, "reports": reports, "parts": None, "notes": []}
    answer: dict[str, Any] = {"accepted": True, "reports": reports, **_split(spec, reports)}
    _bill_the_training_split(answer, options)
    return answer


DETECT_LINES = 50  # as far as ftd validate looks for a line that shows the format
DETECT_LINE_BYTES = 1 << 20


def _written_as(path: str) -> tuple[str, int] | None:
    """(method, line) of the first line of ``path`` whose format is recognisable."""
    try:
        with open(path, "rb") as handle:
            for number in range(1, DETECT_LINES + 1):
                raw = handle.readline(DETECT_LINE_BYTES)
                if not raw:
                    return None
                try:
                    found = detect_method(orjson.loads(line_body(number, raw) or b"null"))
                except orjson.JSONDecodeError:
                    continue
                if found is not None:
                    return found, number
    except OSError:
        return None
    return None


def _name_the_method(report: dict[str, Any], spec: dict[str, Any]) -> None:
    """A file written for another method than the one it is trained with says how to fix it.

    The daemon trains with the configured method (``defaults.method`` or the
    sidecar's), where ``ftd validate`` detects it from the file; a DPO file
    dropped without a sidecar would otherwise read as a list of supervised
    format errors.
    """
    written = _written_as(spec["dataset"])
    if written is None or written[0] == spec["method"] or "errors" not in report:
        return
    method, line = written
    stem = Path(spec["dataset"]).stem
    message = (
        f"line {line} is written for {method}, but this dataset is trained as "
        f'{spec["method"]} (defaults.method or its sidecar): set method = "{method}" in a '
        f"sidecar {stem}.toml beside it, or in [defaults]"
    )
    issue = {"kind": "method_mismatch", "count": 1, "samples": [{"line": line, "message": message}]}
    report["errors"] = [issue, *report["errors"]]


def _bill_the_training_split(answer: dict[str, Any], options: Options) -> None:
    """The estimate of what is billed: the training split only, not the whole file.

    The provider trains, and bills, on the uploaded training file; the held-out
    validation and test lines cost nothing to train on. When the split took
    lines out, the training split is counted again as the provider will count
    it (its own epochs under "auto"); the whole file's figure is kept beside it
    as ``file_estimate``.
    """
    report = answer["reports"]["dataset"]
    whole = report.get("estimate")
    train = answer["parts"][TRAIN]
    if whole is None or train["examples"] >= int(report["examples"]):
        if whole is not None:
            whole["covers"] = f"the training split: all {train['examples']:,} examples"
        return
    counted = validate_file(train["path"], options).to_json()
    estimate = counted.get("estimate")
    if estimate is None:
        return
    estimate["covers"] = (
        f"the training split: {train['examples']:,} of {int(report['examples']):,} examples"
    )
    report["file_estimate"] = whole
    report["estimate"] = estimate


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
            f"no test split, so no evaluation: {examples} examples x test_fraction "
            f"{test_fraction:g} = {examples * test_fraction:.1f}, below min_test_examples = "
            f"{plan['min_test_examples']}"
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
        validation_fraction = test_fraction = 0.0
    for side, path in spec.get("companions", {}).items():
        parts[side] = copy_examples(path, out / f"{stem}.{side}.jsonl", side=side)
    for side, fraction in ((VALIDATION, validation_fraction), (TEST, test_fraction)):
        if fraction and side in parts and parts[side].examples == 0:
            notes.append(
                f"the {side} split is empty: each example's side is decided by a hash of its "
                f"content, and none of the {examples} examples fell within {side}_fraction "
                f"{fraction:g} (about {examples * fraction:.1f} expected); set {side}_file "
                f"in a sidecar to choose the {side} examples"
            )
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
