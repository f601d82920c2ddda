"""Which drop-folder files are complete, and which names are never taken."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from ftd.intake import (
    Seen,
    Stability,
    ignored_reason,
    prune_tickets,
    read_sidecar,
    scan,
    sidecar_companions,
    ticket_body,
    ticket_name,
    vouched,
)


@pytest.mark.parametrize(
    "name",
    [
        ".hidden.jsonl",
        "data.jsonl.part",
        "data.jsonl.tmp",
        "x.jsonl~",
        ".x.jsonl.swp",
        "a.crdownload",
        "notes.txt",
        "~$lock.jsonl",
        "#auto.jsonl#",
        "data.JSONL.partial",
    ],
)
def test_partial_hidden_and_foreign_names_are_ignored(name: str) -> None:
    assert ignored_reason(name) is not None


@pytest.mark.parametrize("name", ["data.jsonl", "My Data (v2).JSONL", "données.jsonl"])
def test_dataset_names_are_taken(name: str) -> None:
    assert ignored_reason(name) is None


def test_scan_skips_links_directories_fifos_and_says_why(tmp_path: Path) -> None:
    (tmp_path / "good.jsonl").write_text("{}\n")
    (tmp_path / "good.toml").write_text("")  # a sidecar is read with its dataset, not listed
    (tmp_path / "dir.jsonl").mkdir()
    os.mkfifo(tmp_path / "pipe.jsonl")
    (tmp_path / "link.jsonl").symlink_to("/etc/hostname")
    (tmp_path / "partial.jsonl.part").write_text("{")
    seen, skipped = scan(str(tmp_path))
    assert [s.name for s in seen] == ["good.jsonl"]
    reasons = {s.name: s.reason for s in skipped}
    assert reasons == {
        "dir.jsonl": "not a regular file",
        "pipe.jsonl": "not a regular file",
        "link.jsonl": "a symbolic link; drop the file itself",
        "partial.jsonl.part": "temporary name",
    }


def seen(name: str, size: int, mtime: float, inode: int = 1) -> Seen:
    return Seen(name, size, int(mtime * 1e9), inode)


def test_a_file_written_in_place_waits_until_it_stops_changing() -> None:
    stability = Stability(stable_seconds=5)
    assert stability.update([seen("a.jsonl", 10, 100.0)], now=100.0) == []
    assert stability.update([seen("a.jsonl", 20, 103.0)], now=103.0) == []  # still growing
    assert stability.next_check(103.0) == pytest.approx(5.0)
    assert stability.update([seen("a.jsonl", 20, 103.0)], now=107.0) == []
    ready = stability.update([seen("a.jsonl", 20, 103.0)], now=108.0)
    assert [r.size for r in ready] == [20]


def test_a_file_renamed_in_after_being_written_earlier_is_taken_at_once() -> None:
    stability = Stability(stable_seconds=5)
    assert stability.update([seen("b.jsonl", 10, 50.0)], now=100.0) == [seen("b.jsonl", 10, 50.0)]


def test_a_replaced_file_starts_waiting_again_and_gone_files_are_forgotten() -> None:
    stability = Stability(stable_seconds=5)
    stability.update([seen("c.jsonl", 10, 100.0, inode=1)], now=100.0)
    assert stability.update([seen("c.jsonl", 10, 100.0, inode=2)], now=104.0) == []
    assert stability.update([seen("c.jsonl", 10, 100.0, inode=2)], now=108.0) == []
    assert stability.update([seen("c.jsonl", 10, 100.0, inode=2)], now=109.0) != []
    assert stability.update([], now=110.0) == []
    assert stability.next_check(110.0) is None


def test_real_files_with_a_real_clock(tmp_path: Path) -> None:
    stability = Stability(stable_seconds=0.3)
    path = tmp_path / "slow.jsonl"
    with path.open("w") as f:
        for i in range(3):
            f.write(f'{{"n": {i}}}\n')
            f.flush()
            assert stability.update(scan(str(tmp_path))[0], now=time.time()) == []
            time.sleep(0.1)
    time.sleep(0.35)
    assert [s.name for s in stability.update(scan(str(tmp_path))[0], now=time.time())] == [
        "slow.jsonl"
    ]


def test_files_named_by_a_sidecar_travel_with_it(tmp_path: Path) -> None:
    (tmp_path / "faq.jsonl").write_text("{}\n")
    (tmp_path / "faq-val.jsonl").write_text("{}\n")
    (tmp_path / "faq-test.jsonl").write_text("{}\n")
    (tmp_path / "faq.toml").write_text(
        'validation_file = "faq-val.jsonl"\ntest_file = "faq-test.jsonl"\n'
    )
    (tmp_path / "broken.toml").write_text("validation_file = [\n")  # judged later, in full
    seen, skipped = scan(str(tmp_path))
    assert [s.name for s in seen] == ["faq.jsonl"]
    assert sorted((s.name, s.reason) for s in skipped) == [
        ("faq-test.jsonl", "named by sidecar faq.toml"),
        ("faq-val.jsonl", "named by sidecar faq.toml"),
    ]
    assert sidecar_companions(str(tmp_path / "faq.toml")) == {
        "validation": "faq-val.jsonl",
        "test": "faq-test.jsonl",
    }
    assert sidecar_companions(str(tmp_path / "broken.toml")) == {}


def test_names_the_daemon_cannot_hold_are_ignored_with_the_reason() -> None:
    assert ignored_reason(os.fsdecode(b"caf\xe9.jsonl")) == (
        "name is not valid UTF-8; rename the file"
    )
    assert ignored_reason("n" * 195 + ".jsonl") == "name is 201 bytes; ftd takes names of up to 200"
    assert ignored_reason("n" * 194 + ".jsonl") is None
    assert ignored_reason("日本語 with spaces\n.jsonl") is None


def test_sidecars_that_are_not_small_regular_files_are_not_read(tmp_path: Path) -> None:
    companion = b'validation_file = "v.jsonl"\n'
    (tmp_path / "real.toml").write_bytes(companion)
    os.mkfifo(tmp_path / "fifo.toml")  # opening it for reading would wait for a writer
    (tmp_path / "link.toml").symlink_to(tmp_path / "real.toml")
    (tmp_path / "big.toml").write_bytes(companion + b"#" * (64 << 10))
    (tmp_path / "deep.toml").write_bytes(b"x = " + b"[" * 5000 + b"]" * 5000 + b"\n")
    assert read_sidecar(str(tmp_path / "real.toml")) == companion
    for name in ("fifo.toml", "link.toml", "big.toml", "missing.toml"):
        assert read_sidecar(str(tmp_path / name)) is None, name
    for name in ("fifo.toml", "link.toml", "big.toml", "deep.toml"):
        assert sidecar_companions(str(tmp_path / name)) == {}, name
    seen, _ = scan(str(tmp_path))  # returns: nothing blocks on the FIFO
    assert seen == []


# --- tickets: files published by ftd submit are complete when they appear ------


def _published(tmp_path: Path, name: str = "faq.jsonl") -> tuple[Path, Path]:
    from ftd.submit import publish

    drop = tmp_path / "drop"
    (drop / "incoming").mkdir(parents=True, exist_ok=True)
    source = tmp_path / name
    source.write_text('{"messages": []}\n')
    return publish(source, drop), drop / "staging"


def _look(path: Path) -> Seen:
    found, _ = scan(str(path.parent))
    return next(item for item in found if item.name == path.name)


def test_a_file_published_with_its_ticket_is_taken_at_once(tmp_path: Path) -> None:
    published, staging = _published(tmp_path)
    item = _look(published)
    assert vouched(str(staging), item)
    stability = Stability(stable_seconds=600)
    now = item.mtime_ns / 1e9 + 0.01  # just published: by the rule alone it would wait 600 s
    assert stability.update([item], now) == []
    assert stability.update([item], now, lambda seen: vouched(str(staging), seen)) == [item]


def test_writing_on_after_the_ticket_voids_it(tmp_path: Path) -> None:
    published, staging = _published(tmp_path)
    with published.open("a") as more:
        more.write('{"messages": [1]}\n')
    assert not vouched(str(staging), _look(published))


def test_resetting_the_mtime_after_writing_on_does_not_fake_a_ticket(tmp_path: Path) -> None:
    published, staging = _published(tmp_path)
    before = published.stat()
    with published.open("r+") as rewrite:
        rewrite.write("X")  # same size
    os.utime(published, ns=(before.st_atime_ns, before.st_mtime_ns))
    after = _look(published)
    assert (after.size, after.mtime_ns, after.inode) == (
        before.st_size,
        before.st_mtime_ns,
        before.st_ino,
    )
    assert not vouched(str(staging), after)  # the ctime moved, and cannot be set back


def test_a_ticket_written_by_hand_for_a_file_still_being_written(tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    staging = tmp_path / "staging"
    incoming.mkdir()
    staging.mkdir()
    growing = incoming / "slow.jsonl"
    growing.write_text('{"messages": []}\n')
    info = growing.stat()
    (staging / ticket_name(info.st_ino)).write_bytes(ticket_body("slow.jsonl", info))
    assert vouched(str(staging), _look(growing))  # it vouches for exactly these bytes
    with growing.open("a") as more:
        more.write('{"messages": []}\n')
    assert not vouched(str(staging), _look(growing))  # and for nothing written after


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b'{"name": "faq.jsonl"}', b"{" * 5000, b'{"inode": "1"}'],
)
def test_a_bad_ticket_vouches_for_nothing(tmp_path: Path, body: bytes) -> None:
    published, staging = _published(tmp_path)
    item = _look(published)
    (staging / ticket_name(item.inode)).write_bytes(body)
    assert not vouched(str(staging), item)


def test_a_ticket_for_another_name_or_a_link_vouches_for_nothing(tmp_path: Path) -> None:
    published, staging = _published(tmp_path)
    item = _look(published)
    ticket = staging / ticket_name(item.inode)
    body = json.loads(ticket.read_text())
    ticket.write_text(json.dumps({**body, "name": "other.jsonl"}))
    assert not vouched(str(staging), item)
    ticket.unlink()
    real = tmp_path / "real-ticket.json"
    real.write_text(json.dumps(body))
    ticket.symlink_to(real)
    assert not vouched(str(staging), item)


def test_old_tickets_of_files_no_longer_there_are_pruned(tmp_path: Path) -> None:
    published, staging = _published(tmp_path)
    item = _look(published)
    ticket = staging / ticket_name(item.inode)
    stray = staging / ticket_name(item.inode + 1)
    stray.write_text("{}")
    other = staging / ".abc.part"  # a publisher's staged copy is not a ticket
    other.write_text("")
    lookalike = staging / "published-notes.txt"  # nor is a name that only starts like one
    lookalike.write_text("")
    now = time.time()
    assert prune_tickets(str(staging), {item.inode}, now) == 0  # too young
    assert prune_tickets(str(staging), {item.inode}, now + 7200) == 1
    assert ticket.exists()
    assert not stray.exists()
    assert other.exists()
    assert lookalike.exists()
    assert prune_tickets(str(staging), set(), now + 7200) == 1
    assert not ticket.exists()
