"""What ``ftd run`` makes of a drop folder full of hostile entries, as a table.

Builds the corpus of tests/reliability/corpus.py (binary junk, a 2 GiB sparse
single line, deep nesting, bad UTF-8, links to /etc/shadow, FIFOs, sockets,
a file that keeps growing, one removed while being read, hostile sidecars,
odd names) beside two good datasets, runs an emulator and a daemon on it,
and prints for each entry: what it is, the outcome (rejected, ignored or
left), the reason ftd gave, and the seconds from the corpus being written to
that outcome; then whether the good datasets' jobs succeeded and whether the
daemon stayed up and answered ``ftd status``.

    python bench/hostile.py [--keep]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package

from ftd.emulator.process import EmulatorProcess
from tests.daemon.harness import Daemon, azure_profile
from tests.reliability import corpus, outcomes

_SHARED_TIKTOKEN = Path(__file__).resolve().parents[2] / "shared" / "tiktoken"


def _shown(name: str, width: int) -> str:
    text = repr(name)[1:-1]  # newlines, escapes and undecodable bytes made visible
    return text if len(text) <= width else text[: width - 1] + "…"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", action="store_true", help="keep the folder for a look")
    parser.add_argument("--flavor", choices=("openai", "azure"), default="openai")
    args = parser.parse_args()
    if "TIKTOKEN_CACHE_DIR" not in os.environ and _SHARED_TIKTOKEN.is_dir():
        os.environ["TIKTOKEN_CACHE_DIR"] = str(_SHARED_TIKTOKEN)
    root = Path(tempfile.mkdtemp(prefix="ftd-hostile-"))
    flavor = ("--flavor", "azure") if args.flavor == "azure" else ()
    emulator = EmulatorProcess("--speed", "20", *flavor, log_path=root / "emulator.log")
    emulator.start()
    sections, env = azure_profile(emulator.root_url) if flavor else ({}, {})
    sections["intake"] = {"max_file_bytes": corpus.MAX_FILE_BYTES}
    daemon = Daemon(root / "ftd", emulator.base_url, sections, env)
    try:
        daemon.start()
        entries = corpus.entries(as_root=os.geteuid() == 0)
        started = time.time()
        remover = outcomes.remove_when_opened(daemon.pid, daemon.incoming / "vanishing.jsonl")
        with outcomes.Grower(daemon.incoming / "growing.jsonl"):
            corpus.build(daemon.incoming, entries)
            found = outcomes.wait_settled(daemon, entries, started)
            jobs = {}
            for name in corpus.GOOD_NAMES:
                try:
                    jobs[name] = daemon.wait_job(name, "succeeded", timeout=90)["status"]
                except AssertionError:
                    jobs[name] = "not succeeded"
        remover.join(timeout=5)
        status = daemon.ftd("status")
        alive = daemon._process is not None and daemon._process.poll() is None

        print(f"{'file':<34} {'what it is':<42} {'outcome':<9} {'s':>6}  reason")
        matched = 0
        for entry in entries:
            outcome = found[entry.name]
            ok = outcome.kind == entry.expect and entry.reason in outcome.reason
            matched += ok
            seconds = "-" if outcome.seconds is None else f"{outcome.seconds:.2f}"
            flag = "" if ok else f"  [expected {entry.expect}: {entry.reason}]"
            print(
                f"{_shown(entry.name, 34):<34} {entry.what[:42]:<42} {outcome.kind:<9} "
                f"{seconds:>6}  {outcome.reason[:110]}{flag}"
            )
        print()
        print(f"entries: {len(entries)}, as expected: {matched}")
        for name, job in jobs.items():
            print(f"good dataset {name}: job {job}")
        print(f"daemon still running: {alive}; ftd status exit {status.returncode}")
        return 0 if matched == len(entries) and alive else 1
    finally:
        daemon.close()
        emulator.stop()
        if args.keep:
            print(f"kept: {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
