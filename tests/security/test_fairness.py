"""One producer's flood does not hold up another's file (case 11)."""

from __future__ import annotations

from tests.security.conftest import MakeSetup, good_jsonl, wait_until

FLOOD = 60
DECIDED = ("awaiting_approval", "rejected", "duplicate", "failed", "missing")


def test_case_11_another_producers_file_is_served_in_turn_during_a_flood(
    secured: MakeSetup,
) -> None:
    """Alice drops 60 files at once; Bob's one, dropped once ftd is busy with hers, is
    judged after at most a few more of hers, not after all of them."""
    setup = secured(defaults={"auto_approve": False})
    alice, bob = setup.people.alice, setup.people.bob
    flood = "\n".join(
        f"open({str(setup.incoming / f'.a{n:03d}.part')!r}, 'wb').write("
        f"{good_jsonl(12, seed=f'a{n} ')!r}); "
        f"__import__('os').rename({str(setup.incoming / f'.a{n:03d}.part')!r}, "
        f"{str(setup.incoming / f'a{n:03d}.jsonl')!r})"
        for n in range(FLOOD)
    )
    alice.run(flood, timeout=120)

    def decided(prefix: str) -> list[float]:
        rows = setup.daemon.query(
            "SELECT updated_at FROM datasets WHERE name LIKE ? AND state IN (?, ?, ?, ?, ?)",
            (prefix + "%", *DECIDED),
        )
        return [r["updated_at"] for r in rows]

    wait_until("the first of Alice's files judged", lambda: len(decided("a")) >= 2, timeout=120)
    setup.drop(bob, "b.jsonl", good_jsonl(12, seed="b "))
    waited = wait_until("Bob's file judged", lambda: bool(decided("b")), timeout=300)
    bobs = setup.daemon.dataset("b.jsonl")
    # From the moment ftd took Bob's file to its verdict, counted in Alice's files.
    alices_meanwhile = sum(1 for t in decided("a") if bobs["created_at"] < t <= bobs["updated_at"])
    print(
        f"case 11: Bob's file judged {waited:.2f} s after its drop; {alices_meanwhile} of "
        f"Alice's {FLOOD} judged between ftd taking it and its verdict"
    )
    assert alices_meanwhile <= 6, f"{alices_meanwhile} of Alice's went first"
    wait_until("all of Alice's judged", lambda: len(decided("a")) == FLOOD, timeout=600)
    setup.ended()
