"""The fault soak, full size: the whole pipeline through an emulator that keeps failing.

Starts ``ftd emulator`` with 20% 5xx, 10% 429 with ``retry-after``, latency
spikes past the client's timeout (the request still takes effect), and
dropped connections, and ``ftd run`` against it; drops the workload (good
datasets, a few too short to train, a few copies) in waves, each once the
last has settled, and waits for every dataset, job, evaluation and report.
Then it audits what was left (see ``tests/reliability/audit.py``) and prints
a table with the daemon's RSS at start, after the first wave and at the end.
Exits 1 if anything was duplicated, lost or wrong.

    python bench/fault_soak.py [--datasets 20] [--waves 4] [--seed 7] [--keep DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package

import tests.conftest  # noqa: F401 - the offline tokenizer files, no real provider
from tests.reliability.runs import SoakSettings, print_verdict, run_folder, run_soak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=int, default=20)
    parser.add_argument("--waves", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--error-rate", type=float, default=0.2)
    parser.add_argument("--rate-limit-rate", type=float, default=0.1)
    parser.add_argument("--drop-rate", type=float, default=0.05)
    parser.add_argument("--jitter-ms", type=float, default=2500.0)
    parser.add_argument("--timeout", type=float, default=2.0, help="ftd's provider timeout")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    options = parser.parse_args()
    settings = SoakSettings(
        datasets=options.datasets,
        waves=options.waves,
        seed=options.seed,
        error_rate=options.error_rate,
        rate_limit_rate=options.rate_limit_rate,
        drop_rate=options.drop_rate,
        jitter_ms=options.jitter_ms,
        timeout=options.timeout,
    )
    with run_folder(options.keep, "ftd-soak-") as root:
        report = run_soak(root, settings)
    print(
        f"fault soak: {settings.datasets} datasets in {settings.waves} waves, seed "
        f"{settings.seed}; {settings.error_rate:.0%} 5xx, {settings.rate_limit_rate:.0%} 429 "
        f"(retry-after {settings.retry_after_ms} ms), {settings.drop_rate:.0%} dropped, "
        f"latency {settings.latency_ms:g} + 0-{settings.jitter_ms:g} ms "
        f"against a {settings.timeout:g} s timeout"
    )
    return print_verdict(report)


if __name__ == "__main__":
    sys.exit(main())
