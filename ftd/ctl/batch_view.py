"""How a batch evaluation's mode, stages and cost read in ``ftd show`` and ``ftd watch``."""

from __future__ import annotations

from typing import Any

from ftd.ctl import render


def stage_lines(batches: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(label, text) pairs: the mode and why, then each stage's batches and requests."""
    if not batches:
        return []
    lines = [("mode", f"{batches.get('mode')}: {batches.get('reason')}")]
    for stage, figures in (batches.get("stages") or {}).items():
        lines.append(
            (
                f"stage {stage}",
                f"{figures['batches']} batches, {figures['completed']} completed, "
                f"{figures['failed']} failed, {figures['pending']} pending",
            )
        )
    if batches.get("failed_requests"):
        lines.append(("failed in batches", f"{batches['failed_requests']} requests (retried)"))
    return lines


def cost_line(summary: dict[str, Any]) -> str | None:
    compared = summary.get("cost_comparison")
    if not compared:
        return None
    return (
        f"{render.money(compared['spent_usd'])} spent; live would have cost "
        f"{render.money(compared['live_usd'])} (batch part {render.money(compared['batch_usd'])})"
    )


def watch_suffix(evaluation: dict[str, Any]) -> str:
    """A short note on a running batch evaluation's stages, for the watch table."""
    batches = evaluation.get("batches") or {}
    stages = batches.get("stages") or {}
    if batches.get("mode") != "batch" or not stages:
        return ""
    parts = [
        f"{name} {f['completed']}/{f['requests']} ({f['failed']} failed, {f['pending']} pending)"
        for name, f in stages.items()
    ]
    return "batch: " + "; ".join(parts)
