"""A corpus of hostile drop-folder entries, built in code, with what ftd should make of each.

Shared by ``tests/reliability/test_hostile_inputs.py`` and ``bench/hostile.py``
(``outcomes.py`` reads what became of them). Each entry says what it is, what
ftd should do with it (``rejected`` with a report in ``rejected/``,
``ignored`` with an ``incoming_ignored`` or ``incoming_vanished`` log line,
or ``left`` in ``incoming/``) and a word its reason must hold. The links to
``/etc/shadow`` are only made, never followed.
"""

from __future__ import annotations

import gzip
import json
import os
import random
import socket
import stat
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.daemon.harness import good_lines

REJECTED = "rejected"
IGNORED = "ignored"
LEFT = "left"

# The "2 GB single line": a sparse file (no disk blocks) far over the test's
# intake.max_file_bytes; what it shows is that a file over the limit is
# rejected by its size without being read or hashed.
HUGE_LINE_BYTES = 2 << 30
# Over this, the daemon under test rejects a file unread (its intake.max_file_bytes).
MAX_FILE_BYTES = 256 << 20
# Sparse too; big enough that hashing it takes long enough to remove it meanwhile.
VANISHING_BYTES = 192 << 20
GOOD_NAMES = ("good-alpha.jsonl", "good-beta.jsonl")


@dataclass(frozen=True, slots=True)
class Entry:
    name: str  # as os.listdir gives it: bytes that are not UTF-8 appear as surrogates
    what: str
    expect: str
    reason: str  # a word the observed reason must contain
    build: Callable[[Path], None] = field(repr=False)


# ----------------------------------------------------------------------------- contents


def good_bytes(count: int, seed: str) -> bytes:
    """``count`` distinct valid examples, as a file's bytes."""
    return ("\n".join(good_lines(count, seed=seed)) + "\n").encode()


def _example(content: str, *, extra: str = "") -> str:
    """One supervised line; ``content`` is raw JSON text for the user turn's content."""
    return (
        '{"messages":[{"role":"user","content":' + content + "},"
        '{"role":"assistant","content":"yes"}]' + extra + "}"
    )


def _lines(lines: list[str]) -> bytes:
    return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")


def _nested_tool(depth: int) -> str:
    schema = '{"type":"string"}'
    for _ in range(depth):
        schema = '{"type":"object","properties":{"a":' + schema + "}}"
    return ',"tools":[{"type":"function","function":{"name":"f","parameters":' + schema + "}}]"


def _few(path: Path) -> None:
    """Five good examples, fewer than fine-tuning needs; distinct for each name."""
    path.write_bytes(good_bytes(5, path.name + " "))


def _writer(data: bytes) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        path.write_bytes(data)

    return make


def _sparse(size: int) -> Callable[[Path], None]:
    def make(path: Path) -> None:
        with path.open("wb") as handle:
            handle.truncate(size)

    return make


def _symlink(target: str) -> Callable[[Path], None]:
    return lambda path: path.symlink_to(target)


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _unix_socket(path: Path) -> None:
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
    finally:
        listener.close()  # the socket file stays


def _char_device(path: Path) -> None:
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 5))  # what /dev/zero is


def _directory_with_dataset(path: Path) -> None:
    path.mkdir()
    (path / "inner.jsonl").write_bytes(good_bytes(20, "inner "))


def _random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def _with_sidecar(sidecar: bytes | Callable[[Path], None]) -> Callable[[Path], None]:
    """A valid dataset whose sidecar (NAME.toml beside it) is the hostile part."""

    def make(path: Path) -> None:
        side = path.with_suffix(".toml")
        if callable(sidecar):
            sidecar(side)
        else:
            side.write_bytes(sidecar)
        path.write_bytes(good_bytes(30, path.stem + " "))

    return make


def _with_companion(
    make_companion: Callable[[Path], None], companion: str
) -> Callable[[Path], None]:
    """A valid dataset whose sidecar names ``companion``, made by ``make_companion``."""

    def make(path: Path) -> None:
        make_companion(path.parent / companion)
        path.with_suffix(".toml").write_text(f'validation_file = "{companion}"\n')
        path.write_bytes(good_bytes(30, path.stem + " "))

    return make


# ----------------------------------------------------------------------------- the corpus


def entries(*, as_root: bool) -> list[Entry]:
    """The hostile entries; those that need root (device nodes) only when running as root."""
    made: list[Entry] = [
        # Contents that no validator should take.
        Entry(
            "random-bytes.jsonl",
            "64 KiB of random bytes",
            REJECTED,
            "invalid_",
            _writer(_random_bytes(64 << 10, 1)),
        ),
        Entry(
            "huge-single-line.jsonl",
            "2 GiB single line (sparse)",
            REJECTED,
            "too_large",
            _sparse(HUGE_LINE_BYTES),
        ),
        Entry(
            "long-line.jsonl",
            "one 4 MiB line, never closed",
            REJECTED,
            "invalid_json",
            _writer(b'{"messages":[{"role":"user","content":"' + b"a" * (4 << 20)),
        ),
        Entry(
            "deep-array.jsonl",
            "100,000 nested arrays",
            REJECTED,
            "invalid_json",
            _writer(b"[" * 100_000 + b"]" * 100_000 + b"\n"),
        ),
        Entry(
            "deep-tool-schema.jsonl",
            "valid lines, tool schema 300 levels deep",
            REJECTED,
            "invalid_json",
            _writer(_lines([_example(f'"q{i}"', extra=_nested_tool(150)) for i in range(12)])),
        ),
        Entry(
            "invalid-utf8.jsonl",
            "0xff 0xfe inside strings",
            REJECTED,
            "invalid_utf8",
            _writer(good_bytes(12, "bad ").replace(b"bad ", b"\xff\xfe ")),
        ),
        Entry(
            "overlong-utf8.jsonl",
            "overlong UTF-8 encoding of '/'",
            REJECTED,
            "invalid_utf8",
            _writer(good_bytes(12, "x").replace(b"x", b"\xc0\xaf")),
        ),
        Entry(
            "utf16.jsonl",
            "good lines in UTF-16 with a BOM",
            REJECTED,
            "invalid_",
            _writer(good_bytes(12, "u16 ").decode().encode("utf-16")),
        ),
        Entry("empty.jsonl", "zero bytes", REJECTED, "empty_file", _writer(b"")),
        Entry(
            "blank.jsonl", "only blank lines", REJECTED, "empty_file", _writer(b"\n \n\t\n" * 100)
        ),
        Entry(
            "nul-bytes.jsonl",
            "1 MiB of NUL bytes",
            REJECTED,
            "invalid_json",
            _writer(b"\0" * (1 << 20)),
        ),
        Entry(
            "json-array.jsonl",
            "one pretty-printed JSON array",
            REJECTED,
            "invalid_json",
            _writer(json.dumps([json.loads(x) for x in good_lines(12)], indent=2).encode()),
        ),
        Entry(
            "not-objects.jsonl",
            "numbers, strings, null, arrays",
            REJECTED,
            "not_object",
            _writer(b'1\n"text"\nnull\n[1,2]\ntrue\n' * 4),
        ),
        Entry(
            "lone-surrogates.jsonl",
            "\\ud800 escapes without a pair",
            REJECTED,
            "invalid_json",
            _writer(_lines([_example('"\\ud800 alone"') for _ in range(12)])),
        ),
        Entry(
            "huge-numbers.jsonl",
            "1e999 and a 5,000-digit integer",
            REJECTED,
            "invalid_json",
            _writer(
                _lines(
                    [_example('"n"', extra=',"x":1e999') for _ in range(6)]
                    + [_example('"n"', extra=',"x":' + "9" * 5000) for _ in range(6)]
                )
            ),
        ),
        Entry(
            "gzipped.jsonl",
            "a gzip-compressed dataset",
            REJECTED,
            "compressed",
            _writer(gzip.compress(good_bytes(12, "gz "), mtime=0)),
        ),
        Entry("too-few.jsonl", "5 good examples", REJECTED, "too_few_examples", _few),
        Entry(
            "wrong-types.jsonl",
            "messages as a string",
            REJECTED,
            "wrong_type",
            _writer(b'{"messages": "hello"}\n' * 12),
        ),
        Entry(
            "special-tokens.jsonl",
            "<|endoftext|> in every turn",
            REJECTED,
            "special_token",
            _writer(_lines([_example(f'"<|endoftext|> {i}"') for i in range(12)])),
        ),
        Entry(
            "cr-only.jsonl",
            "lines ended by CR alone",
            REJECTED,
            "invalid_json",
            _writer(good_bytes(12, "cr ").replace(b"\n", b"\r")),
        ),
        Entry(
            "truncated.jsonl",
            "a good file cut mid-line",
            REJECTED,
            "invalid_json",
            _writer(good_bytes(40, "cut ")[:-25]),
        ),
        Entry(
            "many-empty-objects.jsonl",
            "200,000 lines of {}",
            REJECTED,
            "missing_key",
            _writer(b"{}\n" * 200_000),
        ),
        Entry(
            "html.jsonl",
            "an HTML error page",
            REJECTED,
            "invalid_json",
            _writer(b"<!DOCTYPE html>\n<html><body>502 Bad Gateway</body></html>\n"),
        ),
        Entry(
            "UPPER.JSONL",
            "random bytes under an upper-case suffix",
            REJECTED,
            "invalid_",
            _writer(_random_bytes(4096, 2)),
        ),
        # A valid dataset with a hostile sidecar: rejected, the sidecar named.
        Entry(
            "side-bad-toml.jsonl",
            "sidecar that is not TOML",
            REJECTED,
            "bad_sidecar",
            _with_sidecar(b"model = [unclosed\n"),
        ),
        Entry(
            "side-deep.jsonl",
            "sidecar nested 5,000 levels",
            REJECTED,
            "bad_sidecar",
            _with_sidecar(b"seed = " + b"[" * 5000 + b"]" * 5000 + b"\n"),
        ),
        Entry(
            "side-huge.jsonl",
            "a 2 MiB sidecar",
            REJECTED,
            "bad_sidecar",
            _with_sidecar(b"# padding\n" * (200 << 10)),
        ),
        Entry(
            "side-binary.jsonl",
            "sidecar of random bytes",
            REJECTED,
            "bad_sidecar",
            _with_sidecar(_random_bytes(2048, 3)),
        ),
        Entry(
            "side-shadow.jsonl",
            "sidecar naming /etc/shadow",
            REJECTED,
            "bad_sidecar",
            _with_sidecar(b'validation_file = "/etc/shadow"\n'),
        ),
        Entry(
            "side-escape.jsonl",
            "sidecar naming ../../etc/shadow",
            REJECTED,
            "bad_sidecar",
            _with_sidecar(b'test_file = "../../../../etc/shadow"\n'),
        ),
        Entry(
            "side-unknown.jsonl",
            "sidecar with an api_key and unknown keys",
            REJECTED,
            "bad_sidecar",
            _with_sidecar(b'api_key = "sk-nope"\nlearning_rate = 9\n'),
        ),
        Entry(
            "side-fifo.jsonl",
            "sidecar that is a FIFO",
            REJECTED,
            "bad_sidecar",
            _with_sidecar(_fifo),
        ),
        Entry(
            "side-link.jsonl",
            "sidecar that links to /etc/shadow",
            REJECTED,
            "bad_sidecar",
            _with_sidecar(_symlink("/etc/shadow")),
        ),
        Entry(
            "comp-link.jsonl",
            "validation file that links to /etc/shadow",
            REJECTED,
            "bad_validation_file",
            _with_companion(_symlink("/etc/shadow"), "comp-val.jsonl"),
        ),
        Entry(
            "comp-fifo.jsonl",
            "validation file that is a FIFO",
            REJECTED,
            "bad_validation_file",
            _with_companion(_fifo, "comp-pipe.jsonl"),
        ),
        # Names and kinds of entry that are never taken.
        Entry(".hidden.jsonl", "a hidden file", IGNORED, "hidden", _writer(good_bytes(12, "h "))),
        Entry(
            "upload.jsonl.part",
            "a partial download",
            IGNORED,
            "temporary",
            _writer(good_bytes(12, "p ")),
        ),
        Entry("~$lock.jsonl", "an office lock file", IGNORED, "temporary", _writer(b"lock")),
        Entry("notes.txt", "not a .jsonl name", IGNORED, "not a .jsonl", _writer(b"hello")),
        Entry("data.json", "a .json file", IGNORED, "not a .jsonl", _writer(good_bytes(12, "j "))),
        Entry(
            "shadow.jsonl",
            "a symbolic link to /etc/shadow",
            IGNORED,
            "symbolic link",
            _symlink("/etc/shadow"),
        ),
        Entry(
            "dangling.jsonl",
            "a dangling symbolic link",
            IGNORED,
            "symbolic link",
            _symlink("/nonexistent/ftd-corpus"),
        ),
        Entry("pipe.jsonl", "a FIFO", IGNORED, "not a regular file", _fifo),
        Entry("socket.jsonl", "a Unix socket", IGNORED, "not a regular file", _unix_socket),
        Entry(
            "directory.jsonl",
            "a directory holding a dataset",
            IGNORED,
            "not a regular file",
            _directory_with_dataset,
        ),
        Entry(
            "orphan.toml",
            "a sidecar without its dataset",
            LEFT,
            "sidecar",
            _writer(b'model = "gpt-4.1-mini-2025-04-14"\n'),
        ),
        Entry(
            "growing.jsonl",
            "a file that keeps growing",
            LEFT,
            "not complete",
            _writer(good_bytes(3, "grow ")),
        ),
        Entry(
            "vanishing.jsonl",
            "192 MiB removed while being read",
            IGNORED,
            "removed",
            _sparse(VANISHING_BYTES),
        ),
        # Odd names: the file (5 examples) is rejected under its own name.
        Entry(
            "with spaces\tand tab.jsonl",
            "spaces and a tab in the name",
            REJECTED,
            "too_few_examples",
            _few,
        ),
        Entry("new\nline.jsonl", "a newline in the name", REJECTED, "too_few_examples", _few),
        Entry("日本語のデータ.jsonl", "non-ASCII name", REJECTED, "too_few_examples", _few),
        Entry("émoji-🚀.jsonl", "emoji in the name", REJECTED, "too_few_examples", _few),
        Entry(
            os.fsdecode(b"latin1-\xe9.jsonl"),
            "a name that is not UTF-8",
            IGNORED,
            "not valid UTF-8",
            _few,
        ),
        Entry(
            "-rf --help.jsonl", "a name like command options", REJECTED, "too_few_examples", _few
        ),
        Entry(
            "ansi-\x1b[31mred.jsonl",
            "a terminal escape in the name",
            REJECTED,
            "too_few_examples",
            _few,
        ),
        Entry("n" * 244 + ".jsonl", "a 250-byte name", IGNORED, "bytes", _few),
    ]
    if as_root:
        made.append(
            Entry(
                "zero.jsonl",
                "a character device (/dev/zero)",
                IGNORED,
                "not a regular file",
                _char_device,
            )
        )
    return made


def build(incoming: Path, corpus: list[Entry]) -> None:
    """Make every entry, then the good datasets, each written elsewhere and renamed in."""
    for entry in corpus:
        entry.build(incoming / entry.name)
    for name in GOOD_NAMES:
        staged = incoming.parent / f"staged-{name}"
        staged.write_bytes(good_bytes(120, name + " "))
        os.replace(staged, incoming / name)
