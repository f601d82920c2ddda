"""The crash suite, full size: datasets dropped while the daemon is SIGKILLed again and again.

Starts ``ftd emulator --state`` and ``ftd run`` in a temporary folder, drops
the workload (good datasets, a few too short to train, a few copies) at
seeded moments, and kills the daemon with SIGKILL after a seeded random time
alive, at least ``--kills`` times (the emulator with it, now and then), each
time starting it again. Then it lets the daemon finish and audits everything
it left (see ``tests/reliability/audit.py``): every dataset in exactly one
final state, one remote file per side and at most one job per dataset, every
job followed to its end, every evaluation complete with each item once,
``PRAGMA integrity_check``, and every dropped file unchanged. Prints a table;
exits 1 if anything was duplicated, lost or wrong.

    python bench/chaos.py [--datasets 20] [--kills 50] [--seed 1]
        [--flavor azure|together] [--keep DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests package

import tests.conftest  # noqa: F401 - the offline tokenizer files, no real provider
from tests.reliability.runs import ChaosSettings, print_verdict, run_chaos, run_folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", type=int, default=20)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--emulator-kills", type=int, default=3)
    parser.add_argument("--speed", type=float, default=2.0, help="the emulator's job clock")
    parser.add_argument("--keep", type=Path, help="run in this folder and keep it")
    parser.add_argument(
        "--flavor",
        choices=("openai", "azure", "together"),
        default="openai",
        help="the emulator's API; azure adds a deployment before every evaluation; "
        "together keeps no metadata (jobs found by their training file's name)",
    )
    options = parser.parse_args()
    settings = ChaosSettings(
        datasets=options.datasets,
        kills=options.kills,
        seed=options.seed,
        speed=options.speed,
        emulator_kills=options.emulator_kills,
        flavor=options.flavor,
    )
    with run_folder(options.keep, "ftd-chaos-") as root:
        report = run_chaos(root, settings)
    print(
        f"crash run ({settings.flavor}): {settings.datasets} datasets, {settings.kills} SIGKILLs, "
        f"seed {settings.seed}"
    )
    return print_verdict(report)


if __name__ == "__main__":
    sys.exit(main())
