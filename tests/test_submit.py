"""Publishing into the drop folder: whole files only, companions first, no name ever overwritten."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ftd.intake import ticket_name
from ftd.submit import SubmitError, dataset_writer, publish


@pytest.fixture
def drop(tmp_path: Path) -> Path:
    (tmp_path / "drop" / "incoming").mkdir(parents=True)
    return tmp_path / "drop"


def test_publish_copies_under_a_free_name(drop: Path, tmp_path: Path) -> None:
    source = tmp_path / "faq.jsonl"
    source.write_text('{"a": 1}\n')
    first = publish(source, drop)
    second = publish(source, drop)
    assert (first.name, second.name) == ("faq.jsonl", "faq-2.jsonl")
    assert first.read_text() == second.read_text() == '{"a": 1}\n'
    assert source.exists()  # a copy: the original stays
    # nothing staged is left but the tickets that let the daemon take them at once
    tickets = {ticket_name(p.stat().st_ino) for p in (first, second)}
    assert {p.name for p in (drop / "staging").iterdir()} == tickets


def test_sidecar_and_companions_travel_together(drop: Path, tmp_path: Path) -> None:
    (tmp_path / "faq.jsonl").write_text("{}\n")
    (tmp_path / "held.jsonl").write_text('{"test": 1}\n')
    sidecar = tmp_path / "faq.toml"
    sidecar.write_text('test_file = "held.jsonl"\n')
    (drop / "incoming" / "faq.toml").write_text("another dataset's sidecar\n")
    published = publish(tmp_path / "faq.jsonl", drop, sidecar=sidecar)
    assert published.name == "faq-2.jsonl"  # faq.toml was taken, so the pair moved on
    assert (drop / "incoming" / "faq-2.toml").read_text() == 'test_file = "held.jsonl"\n'
    assert (drop / "incoming" / "held.jsonl").read_text() == '{"test": 1}\n'
    assert (drop / "incoming" / "faq.toml").read_text() == "another dataset's sidecar\n"


def test_refusals_name_what_and_where(drop: Path, tmp_path: Path) -> None:
    with pytest.raises(SubmitError, match="not a readable file"):
        publish(tmp_path / "absent.jsonl", drop)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(SubmitError, match=r"\*\.jsonl"):
        publish(tmp_path / "notes.txt", drop)
    (tmp_path / "ok.jsonl").write_text("{}\n")
    with pytest.raises(SubmitError, match="is not a folder"):
        publish(tmp_path / "ok.jsonl", tmp_path / "nowhere")
    side = tmp_path / "ok.toml"
    side.write_text('validation_file = "sub/v.jsonl"\n')
    with pytest.raises(SubmitError, match="companion files must sit beside"):
        publish(tmp_path / "ok.jsonl", drop, sidecar=side)
    assert list((drop / "incoming").iterdir()) == []


def test_a_writer_publishes_only_a_finished_file(drop: Path) -> None:
    with dataset_writer(drop, "built.jsonl", sidecar_text='suffix = "b"\n') as out:
        for number in range(3):
            out.write(json.dumps({"n": number}) + "\n")
        assert list((drop / "incoming").iterdir()) == []  # nothing visible while writing
    assert (drop / "incoming" / "built.jsonl").read_text().count("\n") == 3
    assert (drop / "incoming" / "built.toml").read_text() == 'suffix = "b"\n'

    def half_way() -> None:
        with dataset_writer(drop, "broken.jsonl") as out:
            out.write("{}\n")
            raise RuntimeError("the program failed half way")

    with pytest.raises(RuntimeError):
        half_way()
    assert not (drop / "incoming" / "broken.jsonl").exists()
    built = drop / "incoming" / "built.jsonl"
    assert [p.name for p in (drop / "staging").iterdir()] == [ticket_name(built.stat().st_ino)]
