"""Spending is approved by an admin only, never by a file a producer can make (case 3)."""

from __future__ import annotations

import os

from tests.security.conftest import MakeSetup, good_jsonl


def test_case_3_a_producer_cannot_approve_another_producers_held_dataset(
    secured: MakeSetup,
) -> None:
    """Alice drops a copy of her own dataset whose sidecar names ``big.jsonl.approve`` as
    a companion, to have it moved to processed/ beside Bob's held ``big.jsonl``."""
    setup = secured(defaults={"max_cost_usd": 0.000001})  # every dataset is held
    alice, bob = setup.people.alice, setup.people.bob
    setup.drop(bob, "big.jsonl", good_jsonl(30, seed="bob"))
    big = setup.daemon.wait_dataset("big.jsonl", "awaiting_approval")
    own = good_jsonl(30, seed="alice")
    setup.drop(alice, "first.jsonl", own)
    first = setup.daemon.wait_dataset("first.jsonl", "awaiting_approval")
    setup.drop(alice, "big.jsonl.approve", b"")
    setup.drop(alice, "again.toml", b'validation_file = "big.jsonl.approve"\n')
    setup.drop(alice, "again.jsonl", own)
    # The sidecar is read before the copy is recognised: a companion must be a .jsonl
    # file, so the marker goes to rejected/ with the copy, never to processed/.
    again = setup.settled("again.jsonl", "rejected")
    assert "validation_file: must name a .jsonl file" in again["report"]
    assert not (setup.spool / "processed" / "big.jsonl.approve").exists()
    assert (setup.spool / "rejected" / "big.jsonl.approve").stat().st_uid == alice.uid

    # Had a producer's marker reached processed/ some other way, its owner is not an
    # admin's: it is refused, not obeyed.
    marker = setup.spool / "processed" / "big.jsonl.approve"
    marker.touch()
    os.chown(marker, alice.uid, -1)
    refused = setup.daemon.wait_for(
        "approval_marker_refused", lambda e: e["dataset_id"] == big["id"], timeout=30
    )
    assert refused["owner_uid"] == alice.uid
    assert setup.daemon.dataset("big.jsonl")["state"] == "awaiting_approval"
    assert setup.emulator.files("big") == []  # nothing uploaded, nothing spent
    assert setup.emulator.jobs() == []

    # A marker of an admin's does approve; so does `ftd approve` with the socket's rights.
    admin_marker = setup.spool / "processed" / "first.jsonl.approve"
    admin_marker.touch()
    os.chown(admin_marker, setup.people.admin.uid, -1)
    setup.daemon.wait_dataset("first.jsonl", "submitted", timeout=60)
    approved = setup.daemon.ftd("approve", str(big["id"]))
    assert approved.returncode == 0, approved.stderr
    setup.daemon.wait_dataset("big.jsonl", "submitted", timeout=60)
    assert first["id"] != big["id"]
    setup.ended()
