"""What is validated, split and trained is what ftd took at the claim (cases 4 and 6)."""

from __future__ import annotations

import hashlib
import time

from tests.security.conftest import MakeSetup, good_jsonl, wait_until

# Alice writes 40 examples, renames them in, keeps the descriptor, and once ftd
# has taken the file appends 20,000 more through it.
GROW = """
import json, os, sys, time
path = sys.argv[1]
def line(i, seed):
    return json.dumps({"messages": [
        {"role": "user", "content": f"{seed}What is {i} plus {i}?"},
        {"role": "assistant", "content": f"{2 * i}"}]}) + "\\n"
hidden = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".part")
fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
os.write(fd, "".join(line(i, "") for i in range(40)).encode())
os.rename(hidden, path)
deadline = time.monotonic() + 60
while os.path.exists(path) and time.monotonic() < deadline:
    time.sleep(0.001)
os.write(fd, "".join(line(i, "extra ") for i in range(20000)).encode())
os.close(fd)
"""


def test_case_4_growing_the_file_after_the_claim_changes_nothing_trained(
    secured: MakeSetup,
) -> None:
    setup = secured(defaults={"auto_approve": False})
    alice = setup.people.alice
    grower = alice.start(GROW, str(setup.incoming / "grow.jsonl"))
    assert grower.wait(90) == 0
    row = setup.daemon.wait_dataset("grow.jsonl", "awaiting_approval", timeout=60)
    kept = setup.spool / "processed" / "grow.jsonl"
    assert kept.read_bytes().count(b"\n") == 20040  # the producer did grow it
    assert row["sha256"] == hashlib.sha256(good_jsonl(40)).hexdigest()
    splits = setup.daemon.query(
        "SELECT side, examples FROM splits WHERE dataset_id = ?", (row["id"],)
    )
    assert sum(s["examples"] for s in splits) == 40
    report = setup.daemon.query("SELECT report FROM datasets WHERE id = ?", (row["id"],))
    assert '"examples": 40' in report[0]["report"]
    setup.ended()


# Alice renames a finished file in (old enough to be taken at first sight), and
# at once swaps it with a FIFO as fast as she can for a few seconds.
SWAP = """
import ctypes, os, sys, time
path, seconds = sys.argv[1], float(sys.argv[2])
folder, name = os.path.dirname(path), os.path.basename(path)
hidden, fifo = os.path.join(folder, "." + name + ".part"), os.path.join(folder, "." + name)
open(hidden, "wb").write(sys.argv[3].encode())
os.utime(hidden, (time.time() - 3600, time.time() - 3600))
os.mkfifo(fifo)
os.rename(hidden, path)
libc = ctypes.CDLL(None, use_errno=True)
end, swaps = time.monotonic() + seconds, 0
while time.monotonic() < end:
    if libc.renameat2(-100, path.encode(), -100, fifo.encode(), 2) == 0:
        swaps += 1
if swaps % 2:
    libc.renameat2(-100, path.encode(), -100, fifo.encode(), 2)
"""
TRIES_CASE_6 = 5


def test_case_6_a_fifo_swapped_in_at_the_claim_never_stalls_intake(secured: MakeSetup) -> None:
    setup = secured(defaults={"auto_approve": False})
    alice, bob = setup.people.alice, setup.people.bob
    held: list[float] = []
    for number in range(TRIES_CASE_6):
        data = good_jsonl(30, seed=f"f{number}").decode()
        swapper = alice.start(SWAP, str(setup.incoming / f"f{number}.jsonl"), "3", data)
        assert swapper.wait(60) == 0
        setup.drop(bob, f"g{number}.jsonl", good_jsonl(30, seed=f"g{number}"))
        started = time.monotonic()

        def taken(name: str = f"g{number}.jsonl") -> bool:
            return bool(setup.daemon.query("SELECT id FROM datasets WHERE name = ?", (name,)))

        wait_until(f"try {number + 1}: Bob's g{number}.jsonl taken (intake alive)", taken)
        held.append(time.monotonic() - started)
    print(
        f"case 6: {TRIES_CASE_6} tries of 3 s of swapping; Bob's file taken "
        f"{min(held):.2f}-{max(held):.2f} s after each"
    )
    setup.ended()
