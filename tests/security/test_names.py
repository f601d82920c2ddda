"""Names are no claim to a file: same-name datasets stay apart, and a sidecar takes only its
own producer's files (cases 5 and 7)."""

from __future__ import annotations

import hashlib
import json
from functools import partial
from pathlib import Path

from tests.security.conftest import MakeSetup, good_jsonl, wait_until

TRIES_CASE_5 = 6


def _gone(path: Path) -> bool:
    return not path.exists()


DECIDED = ("rejected", "awaiting_approval", "duplicate", "missing", "failed")


def test_case_5_two_datasets_of_one_name_finishing_together_keep_their_own_files(
    secured: MakeSetup,
) -> None:
    """Alice drops ``sameN.jsonl``; once ftd took it, Bob drops his ``sameN.jsonl``: both
    are validated at once and end in processed/ together, six times over."""
    setup = secured(defaults={"auto_approve": False})
    alice, bob = setup.people.alice, setup.people.bob
    gaps: list[float] = []
    broken: list[str] = []
    for number in range(TRIES_CASE_5):
        name = f"same{number}.jsonl"
        setup.drop(alice, name, good_jsonl(400, seed=f"a{number}"))
        dropped = setup.incoming / name
        wait_until(f"{name} taken", partial(_gone, dropped))
        setup.drop(bob, name, good_jsonl(400, seed=f"b{number}"))

        def both_decided(name: str = name) -> bool:
            rows = setup.daemon.query("SELECT id, state FROM datasets WHERE name = ?", (name,))
            moving = setup.daemon.query(
                "SELECT f.role FROM dataset_files f JOIN datasets d ON d.id = f.dataset_id "
                "WHERE d.name = ? AND f.moving_from IS NOT NULL",
                (name,),
            )
            return len(rows) == 2 and all(r["state"] in DECIDED for r in rows) and not moving

        wait_until(f"both {name} decided", both_decided, timeout=90)
        rows = setup.daemon.query("SELECT * FROM datasets WHERE name = ? ORDER BY id", (name,))
        gaps.append(abs(rows[0]["updated_at"] - rows[1]["updated_at"]))
        paths = []
        for row in rows:
            files = setup.daemon.query(
                "SELECT path, moving_from FROM dataset_files WHERE dataset_id = ? "
                "AND role = 'dataset'",
                (row["id"],),
            )
            path = Path(files[0]["path"])
            paths.append(path)
            if files[0]["moving_from"] is not None or not path.exists():
                broken.append(f"try {number + 1}: {row['id']} is not at {path}")
            elif hashlib.sha256(path.read_bytes()).hexdigest() != row["sha256"]:
                broken.append(f"try {number + 1}: {path} holds another dataset's bytes")
        if paths[0] == paths[1]:
            broken.append(f"try {number + 1}: both rows point at {paths[0]}")
    stranded = [str(p) for p in (setup.spool / "processing").rglob("*") if p.is_file()]
    assert not stranded, f"files stranded in processing/: {stranded}"
    assert not broken, "\n".join(broken)
    print(f"case 5: {TRIES_CASE_5} tries, the two finished {min(gaps):.3f}-{max(gaps):.3f} s apart")
    setup.ended()


def test_case_7_a_lone_sidecar_cannot_take_another_producers_file(secured: MakeSetup) -> None:
    """Alice's ``lone.toml`` names Bob's ``secret.jsonl`` as its test file."""
    setup = secured(defaults={"auto_approve": False})
    alice, bob = setup.people.alice, setup.people.bob
    setup.drop(alice, "lone.toml", b'test_file = "secret.jsonl"\n')
    secret = good_jsonl(30, seed="BOB-SECRET ")
    setup.drop(bob, "secret.jsonl", secret)
    held = wait_until(
        "Bob's secret.jsonl taken as his own dataset",
        lambda: bool(setup.daemon.query("SELECT id FROM datasets WHERE name = 'secret.jsonl'")),
        timeout=30,
    )
    bobs = setup.daemon.dataset("secret.jsonl")
    assert bobs["owner_uid"] == bob.uid
    setup.drop(alice, "lone.jsonl", good_jsonl(30, seed="alice"))
    wait_until(
        "lone.jsonl decided",
        lambda: (
            setup.daemon.query("SELECT state FROM datasets WHERE name = 'lone.jsonl'")[0]["state"]
            in DECIDED
            if setup.daemon.query("SELECT id FROM datasets WHERE name = 'lone.jsonl'")
            else False
        ),
    )
    lone = setup.daemon.dataset("lone.jsonl")
    seen_by_alice = json.dumps(dict(lone)) + "".join(
        Path(s["path"]).read_text()
        for s in setup.daemon.query("SELECT path FROM splits WHERE dataset_id = ?", (lone["id"],))
    )
    for folder in ("processed", "rejected"):
        for path in (setup.spool / folder).iterdir():
            if path.is_file() and path.stat().st_uid != bob.uid:
                seen_by_alice += path.read_text(errors="replace")
    assert "BOB-SECRET" not in seen_by_alice
    print(f"case 7: Bob's file taken {held:.2f} s after it was dropped")
    setup.ended()
