"""Validate a JSONL training file as OpenAI would, streaming, on every core.

The file is read once by the planner (which also hashes it) and cut into
chunks of whole lines; worker processes parse, check and tokenise the chunks,
and their bounded results are merged in file order. Memory depends on the
chunk size and the number of workers, never on the file size.
"""

from __future__ import annotations

import gc
import heapq
import os
import stat
import threading
import time
from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import orjson

from ftd import catalog
from ftd.datasets.chunk import ChunkResult, Job, Tally, _counter, line_body, validate_range
from ftd.datasets.estimate import estimate
from ftd.datasets.formats import detect_method
from ftd.datasets.open_weight import counting
from ftd.datasets.report import Distribution, Issue, Report, Sample, histogram_bins
from ftd.datasets.scan import Chunk, LongLine, Planner, head_lines
from ftd.datasets.together_format import DEFAULT_MODEL as TOGETHER_DEFAULT_MODEL
from ftd.datasets.together_format import TOGETHER
from ftd.datasets.tokens import load_encoding
from ftd.errors import InputFileError

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future

MIN_EXAMPLES = 10
FEW_EXAMPLES = 50
DEFAULT_MAX_LINE_BYTES = 64 << 20
DEFAULT_CHUNK_BYTES = 1 << 20
DEFAULT_MAX_SAMPLES = 5
_DETECT_LINES = 10_000


@dataclass(frozen=True, slots=True)
class Options:
    model: str | None = None
    method: str | None = None
    n_epochs: int | None = None
    # model -> (USD per 1M training tokens, USD per training hour); None: the catalogue's.
    prices: Callable[[str], tuple[float | None, float | None]] | None = None
    workers: int | None = None
    max_samples: int = DEFAULT_MAX_SAMPLES
    max_line_bytes: int = DEFAULT_MAX_LINE_BYTES
    chunk_bytes: int = DEFAULT_CHUNK_BYTES
    # The kind of provider the file is for: Together's formats and models are its own.
    provider: str = "openai"
    # The model's own tokenizer.json (Together's models); None: tiktoken's counts.
    tokenizer_file: str | None = None


def validate_file(path: str | os.PathLike[str], options: Options | None = None) -> Report:
    """Validate one file; raises InputFileError only when the file cannot be read at all."""
    return _validate(path, options or Options(), list_rejected=False)[0]


def validate_listing_rejected(
    path: str | os.PathLike[str], options: Options | None = None
) -> tuple[Report, array[int]]:
    """The report, and the numbers of the lines rejected, in order (8 bytes each)."""
    return _validate(path, options or Options(), list_rejected=True)


# Below this size a file is counted by the small encoder (ftd/datasets/small_bpe.py)
# at less cost than building tiktoken's; above it tiktoken's is built at once.
# Measured on 800-byte examples: 0.41 s against 0.71 s for 80 KB, 1.09 s against
# 0.76 s for 800 KB when the small encoder first spent its budget.
SMALL_ENCODER_BYTES = 256 * 1024


def _validate(
    path: str | os.PathLike[str], opts: Options, *, list_rejected: bool
) -> tuple[Report, array[int]]:
    name = os.fspath(path)
    started = time.perf_counter()
    _check_readable(name)
    if opts.method is not None and opts.method not in catalog.METHODS:
        raise ValueError(f"unknown method {opts.method!r}; use one of {', '.join(catalog.METHODS)}")
    packed = compression_of(name)
    if packed is not None:
        method, source, method_line = opts.method or catalog.SUPERVISED, "default", 0
    else:
        method, source, method_line = _decide_method(name, opts)
    model = opts.model or _default_model(method, opts.provider)
    entry = catalog.lookup(model)
    context = entry.context_tokens if entry else 65_536
    job = Job(
        name,
        method,
        method_line,
        model,
        context,
        opts.max_samples,
        list_rejected,
        opts.provider,
        opts.tokenizer_file,
    )
    if job.tokenizer_file is not None:
        _counter(model, job.tokenizer_file)  # a missing package or bad file stops here
    elif packed is None and os.stat(name).st_size >= SMALL_ENCODER_BYTES:
        load_encoding(catalog.encoding_name(model))
    merger = _Merger(opts.max_samples)
    planner = Planner(name, chunk_bytes=opts.chunk_bytes, max_line_bytes=opts.max_line_bytes)
    workers = _worker_count(opts, name)
    try:
        if packed is not None:
            workers = 1
            for _ in planner:  # its size and hash only: the lines are not text
                pass
        elif workers > 1:
            _run_pool(planner, job, merger, workers)
        else:
            for item in planner:
                merger.add(_run_inline(job, item, opts.max_line_bytes))
    except OSError as exc:
        raise InputFileError(name, f"cannot read: {exc.strerror or exc}") from exc
    report = merger.report(
        job,
        entry=entry,
        planner=planner,
        source=source,
        opts=opts,
        elapsed=time.perf_counter() - started,
        workers=workers,
        packed=packed,
    )
    return report, merger.rejected


# File signatures of the compressed formats people upload by mistake.
COMPRESSED = (
    (b"\x1f\x8b", "gzip"),
    (b"PK\x03\x04", "zip"),
    (b"BZh", "bzip2"),
    (b"\xfd7zXZ\x00", "xz"),
    (b"\x28\xb5\x2f\xfd", "zstd"),
)


def compression_of(name: str) -> str | None:
    """The compressed format the file is in, by its first bytes, or None."""
    try:
        with open(name, "rb") as f:
            head = f.read(8)
    except OSError:
        return None  # the planner reports why it cannot be read
    return next((kind for magic, kind in COMPRESSED if head.startswith(magic)), None)


def _default_model(method: str, provider: str) -> str:
    if provider == TOGETHER:
        return TOGETHER_DEFAULT_MODEL
    return catalog.DEFAULT_RFT_MODEL if method == catalog.REINFORCEMENT else catalog.DEFAULT_MODEL


def _check_readable(name: str) -> None:
    try:
        info = os.stat(name)
    except FileNotFoundError:
        raise InputFileError(name, "no such file") from None
    except OSError as exc:
        raise InputFileError(name, f"cannot read: {exc.strerror or exc}") from exc
    if stat.S_ISDIR(info.st_mode):
        raise InputFileError(name, "is a directory, not a JSONL file")
    if not stat.S_ISREG(info.st_mode):
        raise InputFileError(name, "is not a regular file (a FIFO, socket or device)")
    if not os.access(name, os.R_OK):
        raise InputFileError(name, "permission denied")


def _decide_method(name: str, opts: Options) -> tuple[str, str, int]:
    if opts.method is not None:
        return opts.method, "given", 0
    for number, raw in head_lines(
        name, max_lines=_DETECT_LINES, max_line_bytes=opts.max_line_bytes
    ):
        body = line_body(number, raw)
        if not body:
            continue
        try:
            found = detect_method(orjson.loads(body))
        except orjson.JSONDecodeError:
            continue
        if found is not None:
            return found, "detected", number
    return catalog.SUPERVISED, "default", 0


def _worker_count(opts: Options, name: str) -> int:
    if opts.workers is not None:
        return max(1, opts.workers)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    # Small files are done before a pool would have started.
    if os.stat(name).st_size < 2 * opts.chunk_bytes:
        return 1
    return max(1, cpus or 1)


def _run_inline(job: Job, item: Chunk | LongLine, max_line: int) -> ChunkResult:
    if isinstance(item, LongLine):
        return _long_line_result(job, item, max_line)
    return validate_range(job, item.offset, item.length, item.first_line)


def _long_line_result(job: Job, item: LongLine, max_line: int) -> ChunkResult:
    result = ChunkResult(first_line=item.line, lines=1, invalid=1)
    if job.list_rejected:
        result.rejected_lines = array("Q", [item.line]).tobytes()
    result.add(
        "error",
        "line_too_long",
        item.line,
        f"{item.length:,} bytes, over the {max_line:,}-byte limit for one example; not read",
        None,
        job.max_samples,
    )
    return result


def _run_pool(planner: Planner, job: Job, merger: _Merger, workers: int) -> None:
    # Imported here: a small file never needs them, and they cost 15 ms to import.
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # Load the tokenizer before forking so that the workers share its tables.
    load_encoding(catalog.encoding_name(job.model))
    _counter(job.model, job.tokenizer_file)
    method = "fork" if threading.active_count() == 1 else "forkserver"
    ctx = multiprocessing.get_context(method)
    window: deque[Future[ChunkResult] | ChunkResult] = deque()
    # Frozen objects are never visited by the collector, so the children's
    # collections do not write to (and privately copy) the inherited pages.
    gc.freeze()
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=ctx, initializer=_worker_start
    ) as pool:
        for item in planner:
            if isinstance(item, LongLine):
                window.append(_long_line_result(job, item, planner.max_line_bytes))
            else:
                window.append(
                    pool.submit(validate_range, job, item.offset, item.length, item.first_line)
                )
            while len(window) > 2 * workers:
                merger.add(_resolve(window.popleft()))
        while window:
            merger.add(_resolve(window.popleft()))


def _worker_start() -> None:
    # Parsed lines are acyclic trees freed by reference counting; collecting every
    # 700 allocations only costs time, so the collector runs rarely in workers.
    gc.set_threshold(200_000, 20, 20)


def _resolve(item: Future[ChunkResult] | ChunkResult) -> ChunkResult:
    return item if isinstance(item, ChunkResult) else item.result()


_BUCKETS = 256


@dataclass(slots=True)
class _Merger:
    """Accumulates chunk results in file order."""

    max_samples: int
    totals: ChunkResult = field(default_factory=lambda: ChunkResult(first_line=1))
    # Example hashes spread over buckets by their top byte, so that finding
    # duplicates at the end sorts small lists, never one list of every example.
    hash_buckets: list[array[int]] = field(
        default_factory=lambda: [array("Q") for _ in range(_BUCKETS)]
    )
    line_buckets: list[array[int]] = field(
        default_factory=lambda: [array("Q") for _ in range(_BUCKETS)]
    )
    rejected: array[int] = field(default_factory=lambda: array("Q"))

    def add(self, r: ChunkResult) -> None:
        self.totals.absorb(r, self.max_samples)
        self.rejected.frombytes(r.rejected_lines)
        hashes = array("Q")
        hashes.frombytes(r.example_hashes)
        lines = array("Q")
        lines.frombytes(r.example_lines)
        hb, lb = self.hash_buckets, self.line_buckets
        for h, line in zip(hashes, lines, strict=True):
            b = h >> 56
            hb[b].append(h)
            lb[b].append(line)

    def duplicates(self) -> tuple[int, list[tuple[int, int]]]:
        """(number of examples repeating an earlier one, first few (line, earlier line))."""
        count = 0
        first: list[tuple[int, int]] = []  # max-heap by line, as negated pairs
        for hashes, lines in zip(self.hash_buckets, self.line_buckets, strict=True):
            if len(hashes) < 2:
                continue
            pairs = sorted(zip(hashes, lines, strict=True))
            for i in range(1, len(pairs)):
                h, line = pairs[i]
                if h != pairs[i - 1][0]:
                    continue
                j = i - 1
                while j > 0 and pairs[j - 1][0] == h:
                    j -= 1
                count += 1
                item = (-line, -pairs[j][1])
                if len(first) < self.max_samples:
                    heapq.heappush(first, item)
                elif self.max_samples:
                    heapq.heappushpop(first, item)
        return count, sorted((-a, -b) for a, b in first)

    def _prompt_variants(self) -> Tally:
        ranked = sorted(self.totals.system_prompts.values(), key=lambda v: (-v[0], v[1]))
        top_count, top_line, _ = ranked[0]
        variants = sorted(ranked[1:], key=lambda v: v[1])[: self.max_samples]
        return Tally(
            sum(v[0] for v in ranked[1:]),
            [
                (
                    line,
                    None,
                    f"system prompt used by {count:,} example(s) differs from the most common "
                    f"one (used by {top_count:,}, first at line {top_line}): {preview!r}",
                )
                for count, line, preview in variants
            ],
        )

    def report(
        self,
        job: Job,
        *,
        entry: catalog.BaseModel | None,
        planner: Planner,
        source: str,
        opts: Options,
        elapsed: float,
        workers: int,
        packed: str | None = None,
    ) -> Report:
        t = self.totals
        errors = dict(t.errors)
        warnings = dict(t.warnings)
        file_errors: list[Issue] = []
        file_warnings: list[Issue] = []
        if packed is not None:
            file_errors.append(
                _file_issue("compressed", f"{packed}-compressed: decompress it first")
            )
        elif t.lines == t.blank and t.invalid == 0:
            file_errors.append(_file_issue("empty_file", "the file holds no example"))
        elif t.valid < MIN_EXAMPLES:
            file_errors.append(
                _file_issue(
                    "too_few_examples",
                    f"{t.valid} valid example(s); fine-tuning needs at least {MIN_EXAMPLES}",
                )
            )
        elif t.valid < FEW_EXAMPLES:
            file_warnings.append(
                _file_issue(
                    "few_examples",
                    f"{t.valid} examples; results usually improve from 50-100 upwards",
                )
            )
        if job.provider == TOGETHER:
            file_errors.extend(_together_file_errors(job))
        elif entry is None:
            file_warnings.append(
                _file_issue(
                    "unknown_model",
                    f"{job.model} is not a known fine-tunable model; counting with "
                    f"{catalog.encoding_name(job.model)} and a "
                    f"{job.context_tokens:,}-token context",
                )
            )
        elif job.method not in entry.methods:
            file_errors.append(
                _file_issue(
                    "method_unsupported",
                    f"{entry.name} cannot be fine-tuned with {job.method} "
                    f"(it supports {', '.join(entry.methods)})",
                )
            )
        if t.images and entry is not None and not entry.vision:
            file_errors.append(
                _file_issue(
                    "vision_unsupported",
                    f"{t.examples_with_images:,} example(s) hold images, but {entry.name} "
                    "cannot be fine-tuned on images (gpt-4o-2024-08-06 and gpt-4.1 can)",
                    count=t.examples_with_images,
                )
            )
        dup_count, dup_first = self.duplicates()
        if dup_count:
            warnings["duplicate_example"] = Tally(
                dup_count,
                [(line, None, f"same example as line {earlier}") for line, earlier in dup_first],
            )
        if len(t.system_prompts) > 1:
            warnings["inconsistent_system_prompts"] = self._prompt_variants()
        if t.bom:
            file_warnings.append(
                Issue("bom", 1, [Sample(1, 1, "the file starts with a UTF-8 BOM")])
            )
        if t.crlf:
            file_warnings.append(
                _file_issue(
                    "crlf",
                    f"{t.crlf:,} line(s) end with CRLF instead of LF",
                    count=t.crlf,
                )
            )
        if opts.prices is not None:
            training_price = opts.prices(job.model)
        elif entry is not None:
            training_price = (entry.training_price_per_mtok, entry.training_price_per_hour)
        else:
            training_price = (None, None)
        counted = counting(job.tokenizer_file) if job.provider == TOGETHER else None
        if counted is not None:
            file_warnings.append(_file_issue("approximate_tokens", counted.basis))
        est = estimate(
            n_examples=t.valid,
            billed_tokens_per_epoch=t.billed_tokens,
            n_epochs=opts.n_epochs,
            price_per_mtok=training_price[0],
            price_per_hour=training_price[1],
        )
        return Report(
            path=job.path,
            size_bytes=planner.size,
            sha256=planner.sha256,
            model=job.model,
            model_known=entry is not None,
            method=job.method,
            method_source=source,
            method_line=job.method_line,
            encoding=counted.tokenizer if counted else catalog.encoding_name(job.model),
            context_tokens=job.context_tokens,
            lines=planner.lines,
            examples=t.valid,
            invalid_examples=t.invalid,
            errors=file_errors + _issues(errors),
            warnings=file_warnings + _issues(warnings),
            messages_per_example=Distribution.of(t.messages_hist),
            tokens_per_example=Distribution.of(t.tokens_hist),
            trained_tokens_per_example=Distribution.of(t.trained_hist),
            token_histogram=histogram_bins(t.tokens_hist),
            images=t.images,
            estimate=est,
            elapsed_seconds=round(elapsed, 3),
            workers=workers,
            counting=counted,
        )


def _together_file_errors(job: Job) -> list[Issue]:
    """What Together refuses of the file as a whole (its models are not in the catalogue)."""
    if job.method in (catalog.SUPERVISED, catalog.DPO):
        return []
    return [
        _file_issue(
            "method_unsupported",
            f"Together fine-tunes with supervised or dpo, not {job.method}",
        )
    ]


def _file_issue(kind: str, message: str, *, count: int = 1) -> Issue:
    return Issue(kind, count, [Sample(None, None, message)])


def _issues(table: dict[str, Tally]) -> list[Issue]:
    ordered = sorted(table.items(), key=lambda kv: (-kv[1].count, kv[0]))
    return [
        Issue(kind, t.count, [Sample(line, col, msg) for line, col, msg in t.samples])
        for kind, t in ordered
    ]
