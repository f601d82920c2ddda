"""Requests made and peak memory of ``ftd run`` against a hostile provider, case by case.

Each case (see tests/daemon/hostile.py: never-ending pages, an ignored
filter, huge bodies, slow bodies, absurd usage) gets its own emulator,
hostile server and daemon; two datasets go through, their jobs end, and a
a watch of a few seconds follows. Printed per case: the requests the server
received by route, the tracker cycles, the daemon's peak RSS (VmHWM), the
bytes the server sent, whether any job not ours was adopted, and the
warnings ``ftd status`` showed.

    python bench/hostile_server.py [--case NAME ...] [--keep] [--without-deadline]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package

from tests.daemon import hostile

_SHARED_TIKTOKEN = Path(__file__).resolve().parents[2] / "shared" / "tiktoken"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", action="append", choices=("none", *hostile.CASES))
    parser.add_argument("--keep", action="store_true", help="keep the folders for a look")
    parser.add_argument(
        "--without-deadline",
        action="store_true",
        help="leave provider.call_deadline_seconds out (for a build that predates it)",
    )
    parser.add_argument("--timeout", type=float, default=150.0, help="seconds per case at most")
    args = parser.parse_args()
    if "TIKTOKEN_CACHE_DIR" not in os.environ and _SHARED_TIKTOKEN.is_dir():
        os.environ["TIKTOKEN_CACHE_DIR"] = str(_SHARED_TIKTOKEN)
    cases = args.case or ["none", *hostile.CASES]
    for case in cases:
        root = Path(tempfile.mkdtemp(prefix=f"ftd-hostile-{case}-"))
        try:
            outcome = hostile.run(
                root,
                set() if case == "none" else {case},
                timeout=args.timeout,
                deadline=None if args.without_deadline else 6.0,
            )
        finally:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
        total = sum(outcome.requests.values())
        foreign = sorted(set(outcome.job_ids) - set(outcome.created))
        print(f"== {case}")
        print(
            f"   requests {total} in {len(outcome.cycles)} tracker cycles; "
            f"peak RSS {outcome.peak_rss_kib / 1024:.1f} MiB; "
            f"server sent {outcome.sent_bytes / 2**20:.1f} MiB; "
            f"settled {'yes' if outcome.settled else 'NO'}; "
            f"jobs not ours adopted: {foreign or 'none'}; "
            f"spend ${(outcome.status.get('spend') or {}).get('total', {}).get('all_time', 0):,.2f}"
        )
        for route, count in sorted(outcome.requests.items()):
            after = count - outcome.settled_requests.get(route, 0)
            print(f"   {count:6d}  {route}  ({after} after every job ended)")
        warnings = [w["message"] for w in outcome.status.get("warnings", [])]
        for message in warnings or ["(no warnings)"]:
            print(f"   ! {message}")
        if args.keep:
            print(f"   kept in {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
