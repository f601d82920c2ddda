"""Validation of one chunk of whole lines: the work a validator process does.

A chunk result holds only bounded data (counts, the first few samples of each
finding, histograms of per-example figures, 12 bytes per example for duplicate
detection), so merging thousands of them keeps memory flat.
"""

from __future__ import annotations

import hashlib
import os
from array import array
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from ftd.catalog import SUPERVISED
from ftd.datasets.clean import Counted, clean_supervised
from ftd.datasets.formats import ERROR, WARNING, Finding, check_line
from ftd.datasets.tokens import TokenCounter

BOM = b"\xef\xbb\xbf"
PREVIEW_CHARS = 120
MAX_PROMPT_VARIANTS = 1000
MAX_JSON_DEPTH = 255  # the deepest value orjson serialises


def line_body(number: int, raw: bytes) -> bytes:
    """A line without surrounding white space and, on line 1, without a UTF-8 BOM."""
    body = raw.strip()
    return body[3:] if number == 1 and body.startswith(BOM) else body


@dataclass(slots=True)
class Job:
    """What a worker needs to validate its chunks; sent once per chunk, so kept small."""

    path: str
    method: str
    method_line: int
    model: str
    context_tokens: int
    max_samples: int
    # Whether results list the lines rejected (for `ftd validate --fix`); 8 bytes a line.
    list_rejected: bool = False
    # The kind of provider the file is for ("openai", "azure", "together"): decides the rules.
    provider: str = "openai"
    # An open-weight model's own tokenizer.json; None counts with tiktoken.
    tokenizer_file: str | None = None


@dataclass(slots=True)
class Tally:
    """Count and first samples of one finding kind."""

    count: int = 0
    samples: list[tuple[int, int | None, str]] = field(default_factory=list)


@dataclass(slots=True)
class ChunkResult:
    first_line: int
    lines: int = 0
    blank: int = 0
    crlf: int = 0
    bom: bool = False
    valid: int = 0
    invalid: int = 0
    images: int = 0
    examples_with_images: int = 0
    total_tokens: int = 0
    trained_tokens: int = 0
    billed_tokens: int = 0
    errors: dict[str, Tally] = field(default_factory=dict)
    warnings: dict[str, Tally] = field(default_factory=dict)
    messages_hist: Counter[int] = field(default_factory=Counter)
    tokens_hist: Counter[int] = field(default_factory=Counter)
    trained_hist: Counter[int] = field(default_factory=Counter)
    # hash of the system prompt -> [count, first line, preview]
    system_prompts: dict[int, list[Any]] = field(default_factory=dict)
    no_system: int = 0
    example_hashes: bytes = b""
    example_lines: bytes = b""
    rejected_lines: bytes = b""  # only when the job asks for them

    def add(
        self, severity: str, kind: str, line: int, message: str, column: int | None, limit: int
    ) -> None:
        table = self.errors if severity == ERROR else self.warnings
        tally = table.get(kind)
        if tally is None:
            tally = table[kind] = Tally()
        tally.count += 1
        if len(tally.samples) < limit:
            tally.samples.append((line, column, message))

    def absorb(self, other: ChunkResult, limit: int) -> None:
        """Add a later chunk's figures to these (example hashes excepted)."""
        self.lines += other.lines
        self.blank += other.blank
        self.crlf += other.crlf
        self.bom = self.bom or other.bom
        self.valid += other.valid
        self.invalid += other.invalid
        self.images += other.images
        self.examples_with_images += other.examples_with_images
        self.total_tokens += other.total_tokens
        self.trained_tokens += other.trained_tokens
        self.billed_tokens += other.billed_tokens
        self.no_system += other.no_system
        for mine, theirs in ((self.errors, other.errors), (self.warnings, other.warnings)):
            for kind, tally in theirs.items():
                own = mine.setdefault(kind, Tally())
                own.count += tally.count
                room = limit - len(own.samples)
                if room > 0:
                    own.samples.extend(tally.samples[:room])
        self.messages_hist.update(other.messages_hist)
        self.tokens_hist.update(other.tokens_hist)
        self.trained_hist.update(other.trained_hist)
        for key, (count, first, preview) in other.system_prompts.items():
            seen = self.system_prompts.get(key)
            if seen is not None:
                seen[0] += count
            elif len(self.system_prompts) < MAX_PROMPT_VARIANTS:
                self.system_prompts[key] = [count, first, preview]


_counters: dict[tuple[str, str | None], TokenCounter] = {}


def _counter(model: str, tokenizer_file: str | None = None) -> TokenCounter:
    found = _counters.get((model, tokenizer_file))
    if found is None:
        found = TokenCounter(model)
        if tokenizer_file is not None:
            from ftd.datasets.open_weight import use_own_tokenizer

            found = use_own_tokenizer(found, tokenizer_file)
        _counters[(model, tokenizer_file)] = found
    return found


def read_range(path: str, offset: int, length: int) -> bytes:
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        parts = []
        got = 0
        while got < length:
            piece = os.pread(fd, length - got, offset + got)
            if not piece:
                break  # the file shrank; validate what is there
            parts.append(piece)
            got += len(piece)
        return b"".join(parts)
    finally:
        os.close(fd)


def validate_range(job: Job, offset: int, length: int, first_line: int) -> ChunkResult:
    return validate_lines(job, read_range(job.path, offset, length), first_line)


def validate_lines(job: Job, data: bytes, first_line: int) -> ChunkResult:
    """Validate ``data`` (whole lines, the first numbered ``first_line``)."""
    result = ChunkResult(first_line=first_line)
    counter = _counter(job.model, job.tokenizer_file)
    lines = data.split(b"\n") if data else []
    if data.endswith(b"\n"):
        lines.pop()
    limit = job.max_samples
    hashes = array("Q")
    where = array("Q")
    context = job.context_tokens
    line_no = first_line - 1
    findings: list[Finding] = []
    rejected = array("Q") if job.list_rejected else None
    # The fast path checks OpenAI's rules; Together's lines take the full checker.
    supervised = job.method == SUPERVISED and job.provider != "together"
    loads, dumps, blake2b = orjson.loads, orjson.dumps, hashlib.blake2b
    tokens_hist, trained_hist = result.tokens_hist, result.trained_hist
    messages_hist, prompts = result.messages_hist, result.system_prompts
    prompt_keys: dict[str, int] = {}
    valid = total_tokens = trained_tokens = billed_tokens = 0
    for raw in lines:
        line_no += 1
        if raw.endswith(b"\r"):
            result.crlf += 1
            raw = raw[:-1]
        if line_no == 1 and raw.startswith(BOM):
            result.bom = True
            raw = raw[3:]
        if not raw or raw.isspace():
            result.blank += 1
            if limit:
                result.add(WARNING, "blank_line", line_no, "blank line (skipped)", None, limit)
            continue
        try:
            obj = loads(raw)
        except orjson.JSONDecodeError as exc:
            result.invalid += 1
            if rejected is not None:
                rejected.append(line_no)
            _parse_error(result, raw, exc, line_no, limit)
            continue
        try:
            # orjson reads up to 1024 levels but writes only 255: a line between
            # the two would otherwise stop the whole file's validation.
            canonical = dumps(obj, option=orjson.OPT_SORT_KEYS)
        except orjson.JSONEncodeError:
            result.invalid += 1
            if rejected is not None:
                rejected.append(line_no)
            message = f"not JSON: nested too deeply (over {MAX_JSON_DEPTH} levels)"
            result.add(ERROR, "invalid_json", line_no, message, None, limit)
            continue
        counted = clean_supervised(obj, counter) if supervised and type(obj) is dict else None
        if counted is None:
            counted = _full_check(job, obj, counter, findings, result, line_no)
            if counted is None:
                if rejected is not None:
                    rejected.append(line_no)
                continue
        total, trained, n_messages, prompt = counted
        valid += 1
        total_tokens += total
        trained_tokens += trained
        billed_tokens += total if total < context else context
        tokens_hist[total] += 1
        trained_hist[trained] += 1
        messages_hist[n_messages] += 1
        if total > context:
            result.add(
                WARNING,
                "over_context",
                line_no,
                f"{total:,} tokens, over the {context:,}-token training context of "
                f"{job.model}; the end would be truncated",
                None,
                limit,
            )
        if prompt is None:
            result.no_system += 1
            result.add(
                WARNING, "no_system_message", line_no, "no system or developer message", None, limit
            )
        else:
            key = prompt_keys.get(prompt)
            if key is None:
                key = int.from_bytes(blake2b(prompt.encode(), digest_size=8).digest(), "big")
                if len(prompt_keys) < MAX_PROMPT_VARIANTS:
                    prompt_keys[prompt] = key
            seen = prompts.get(key)
            if seen is None:
                if len(prompts) < MAX_PROMPT_VARIANTS:
                    prompts[key] = [1, line_no, prompt[:PREVIEW_CHARS]]
            else:
                seen[0] += 1
        hashes.append(int.from_bytes(blake2b(canonical, digest_size=8).digest(), "big"))
        where.append(line_no)
    result.valid = valid
    result.total_tokens = total_tokens
    result.trained_tokens = trained_tokens
    result.billed_tokens = billed_tokens
    result.lines = line_no - first_line + 1
    result.example_hashes = hashes.tobytes()
    result.example_lines = where.tobytes()
    if rejected is not None:
        result.rejected_lines = rejected.tobytes()
    return result


def _full_check(
    job: Job,
    obj: Any,
    counter: TokenCounter,
    findings: list[Finding],
    result: ChunkResult,
    line_no: int,
) -> Counted | None:
    """The full checker's findings, recorded; the line's figures when it has no error."""
    findings.clear()
    example = check_line(obj, job.method, findings, job.method_line, job.provider)
    for f in findings:
        result.add(f.severity, f.kind, line_no, f.message, f.column, job.max_samples)
    if example is None:
        result.invalid += 1
        return None
    # The one billing rule (TokenCounter.example), as the emulator bills too.
    total, trained = counter.example(example.messages, example.tools, example.outputs)
    if example.images:
        result.images += example.images
        result.examples_with_images += 1
    n_messages = len(example.messages) + len(example.outputs)
    return Counted(total, trained, n_messages, example.system_prompt)


def _parse_error(
    result: ChunkResult, raw: bytes, exc: orjson.JSONDecodeError, line_no: int, limit: int
) -> None:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as bad:
        column = len(raw[: bad.start].decode("utf-8", "replace")) + 1
        result.add(
            ERROR,
            "invalid_utf8",
            line_no,
            f"not UTF-8: byte 0x{raw[bad.start]:02x} at byte offset {bad.start}",
            column,
            limit,
        )
        return
    # orjson reports the byte position; people count characters.
    pos = min(exc.pos, len(raw))
    column = len(raw[:pos].decode("utf-8", "replace")) + 1
    reason = str(exc.msg).split(": line ")[0]
    if "recursion" in reason:
        reason = "nested too deeply"
    near = text[max(0, column - 11) : column + 9].replace("\t", " ")
    result.add(ERROR, "invalid_json", line_no, f"not JSON: {reason} (near {near!r})", column, limit)
