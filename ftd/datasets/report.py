"""The validation report: one structure for the terminal, ``--json`` and the daemon's records."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ftd.datasets.estimate import Estimate
    from ftd.datasets.open_weight import Counting

REPORT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Sample:
    line: int | None  # None for findings about the whole file
    column: int | None
    message: str

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"line": self.line, "message": self.message}
        if self.column is not None:
            out["column"] = self.column
        return out


@dataclass(slots=True)
class Issue:
    """One kind of finding: how often it occurred and where it occurred first."""

    kind: str
    count: int
    samples: list[Sample] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "count": self.count,
            "samples": [s.to_json() for s in self.samples],
        }


@dataclass(frozen=True, slots=True)
class Distribution:
    """Nearest-rank percentiles of a per-example figure."""

    count: int
    min: int
    p10: int
    median: int
    p90: int
    max: int
    mean: float
    total: int

    @classmethod
    def of(cls, histogram: Counter[int]) -> Distribution:
        n = sum(histogram.values())
        if n == 0:
            return cls(0, 0, 0, 0, 0, 0, 0.0, 0)
        values = sorted(histogram)
        ranks = {q: max(1, math.ceil(q * n)) for q in (0.1, 0.5, 0.9)}
        found: dict[float, int] = {}
        seen = 0
        for v in values:
            seen += histogram[v]
            for q, rank in ranks.items():
                if q not in found and seen >= rank:
                    found[q] = v
        total = sum(v * c for v, c in histogram.items())
        return cls(
            n, values[0], found[0.1], found[0.5], found[0.9], values[-1], round(total / n, 2), total
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "min": self.min,
            "p10": self.p10,
            "median": self.median,
            "p90": self.p90,
            "max": self.max,
            "mean": self.mean,
            "total": self.total,
        }


def histogram_bins(histogram: Counter[int]) -> list[tuple[int, int, int]]:
    """Token counts grouped into power-of-two bins: (low, high, examples), for charts."""
    bins: Counter[int] = Counter()
    for value, count in histogram.items():
        bins[max(0, value).bit_length()] += count
    out = []
    for b in sorted(bins):
        low = 0 if b == 0 else 1 << (b - 1)
        high = 0 if b == 0 else (1 << b) - 1
        out.append((low, high, bins[b]))
    return out


@dataclass(slots=True)
class Report:
    path: str
    size_bytes: int
    sha256: str
    model: str
    model_known: bool
    method: str
    method_source: str  # "given", "detected" (line N) or "default"
    method_line: int
    encoding: str
    context_tokens: int
    lines: int
    examples: int
    invalid_examples: int
    errors: list[Issue]
    warnings: list[Issue]
    messages_per_example: Distribution
    tokens_per_example: Distribution
    trained_tokens_per_example: Distribution
    token_histogram: list[tuple[int, int, int]]
    images: int
    estimate: Estimate | None
    elapsed_seconds: float
    workers: int
    # How the counts were made when they are not OpenAI's exact ones (open-weight models).
    counting: Counting | None = None

    @property
    def accepted(self) -> bool:
        return not self.errors

    def error_count(self) -> int:
        return sum(i.count for i in self.errors)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": REPORT_VERSION,
            "path": self.path,
            "accepted": self.accepted,
            "size_bytes": self.size_bytes,
            "sha256": self.sha256,
            "model": self.model,
            "model_known": self.model_known,
            "method": self.method,
            "method_source": self.method_source,
            "method_line": self.method_line,
            "encoding": self.encoding,
            "context_tokens": self.context_tokens,
            "lines": self.lines,
            "examples": self.examples,
            "invalid_examples": self.invalid_examples,
            "errors": [i.to_json() for i in self.errors],
            "warnings": [i.to_json() for i in self.warnings],
            "stats": {
                "messages_per_example": self.messages_per_example.to_json(),
                "tokens_per_example": self.tokens_per_example.to_json(),
                "trained_tokens_per_example": self.trained_tokens_per_example.to_json(),
                "token_histogram": [list(b) for b in self.token_histogram],
                "images": self.images,
            },
            "estimate": self._estimate_json(),
            "elapsed_seconds": self.elapsed_seconds,
            "workers": self.workers,
            "token_counts": (
                self.counting.to_json()
                if self.counting
                else {"exact": True, "tokenizer": self.encoding, "basis": "OpenAI's billing"}
            ),
        }

    def _estimate_json(self) -> dict[str, Any] | None:
        if self.estimate is None:
            return None
        out = self.estimate.to_json()
        if self.counting is not None:
            out["exact"] = False
            out["approximate"] = self.counting.basis
        return out

    def render(self) -> str:
        verdict = "accepted" if self.accepted else "REJECTED"
        source = {
            "given": "as given",
            "default": "default",
        }.get(self.method_source, f"detected from line {self.method_line}")
        out = [
            f"{self.path}: {verdict}",
            f"  {self.method} ({source}) for {self.model} "
            f"[{self.encoding}, {self.context_tokens:,}-token context]",
            f"  {self.lines:,} lines, {self.examples:,} valid examples, "
            f"{self.invalid_examples:,} invalid, {human_size(self.size_bytes)}",
        ]
        for title, issues in (("errors", self.errors), ("warnings", self.warnings)):
            if issues:
                total = sum(i.count for i in issues)
                out.append(f"{title} ({total:,}):")
                out.extend(_render_issue(i) for i in issues)
        if self.examples:
            out.append(f"{'statistics':<30}{'min':>8}{'p10':>8}{'median':>8}{'p90':>8}{'max':>8}")
            for label, dist in (
                ("messages per example", self.messages_per_example),
                ("tokens per example", self.tokens_per_example),
                ("trained tokens per example", self.trained_tokens_per_example),
            ):
                out.append(
                    f"  {label:<28}{dist.min:>8,}{dist.p10:>8,}{dist.median:>8,}"
                    f"{dist.p90:>8,}{dist.max:>8,}"
                )
            out.append(
                f"  total tokens {self.tokens_per_example.total:,}, trained "
                f"{self.trained_tokens_per_example.total:,}"
                + (f", {self.images:,} images" if self.images else "")
            )
        if self.estimate is not None and self.examples:
            e = self.estimate
            cost = f"${e.cost_usd:,.2f}" if e.cost_usd is not None else "cost unknown"
            out.append(f"estimate: {e.n_epochs} epochs ({e.epochs_source}), {cost}: {e.note}")
            if self.counting is not None:
                out.append("  approximate: tokens and cost are not exact; see approximate_tokens")
        return "\n".join(out)


def _render_issue(issue: Issue) -> str:
    lines = [f"  {issue.kind} ({issue.count:,})"]
    for s in issue.samples:
        if s.line is None:
            lines.append(f"    {s.message}")
            continue
        col = f", column {s.column}" if s.column is not None else ""
        lines.append(f"    line {s.line}{col}: {s.message}")
    rest = issue.count - len(issue.samples)
    if rest > 0 and any(s.line is not None for s in issue.samples):
        lines.append(f"    … and {rest:,} more")
    return "\n".join(lines)


def human_size(n: int) -> str:
    """A byte count as people read it: 812 bytes, 3.4 KiB, 1.2 GiB."""
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    return f"{n} bytes"
