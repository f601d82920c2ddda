"""Show the running daemon's health: version, uptime, provider, counts by state, warnings.

Exit status: 0 when the daemon answered, 69 when no daemon is running, 77
when this user may not use its socket, 1 for other failures.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ftd.ctl import common, render

if TYPE_CHECKING:
    import argparse

HELP = {"status": "show the daemon's health, counts by state and warnings"}


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    common.add_client_options(parser)


def show(answer: dict[str, Any]) -> None:
    if "starting" in answer:
        _starting(answer)
        return
    _heading(answer, "running")
    print(f"datasets     {render.counts(answer['datasets'])}")
    print(f"jobs         {render.counts(answer['jobs'])}")
    if answer.get("runs"):
        runs = answer["runs"]
        print(f"runs         {runs['runs']} runs of {runs['datasets']} datasets")
    if "evaluations" in answer:
        print(f"evaluations  {render.counts(answer['evaluations']['by_status'])}")
    pace = answer["rate_limit"]
    limit = f"{pace['in_flight']} of {pace['concurrency']} requests in flight"
    if pace.get("per_minute"):
        limit += f", {pace['started_last_minute']} of {pace['per_minute']} in the last minute"
    if pace.get("held_for_seconds"):
        limit += f", paused {pace['held_for_seconds']:.0f} s more (provider's request)"
    print(f"requests     {limit}; {pace['holds']} pauses so far")
    profiles = answer.get("profiles") or {}
    if len(profiles) > 1:
        named = ", ".join(f"{render.clean(n)} ({p['kind']})" for n, p in profiles.items())
        print(f"profiles     {named}")
        for name, profile in profiles.items():
            _profile_line(name, profile)
    deployments = answer.get("deployments") or []
    if deployments:
        hourly = sum(d.get("hourly_usd") or 0.0 for d in deployments)
        print(
            f"deployments  {len(deployments)} live, ${hourly:.2f}/h together; "
            f"hosting so far ${answer.get('hosting_usd', 0.0):.2f}"
        )
        for d in deployments:
            kept = ", kept" if d["keep"] else ""
            print(
                f"  {render.clean(d['name'])} ({render.clean(d['model'])}) at "
                f"{render.clean(d['provider'])}: {d['state']}{kept}, "
                f"{render.duration(d['age_seconds'])} old, ${d.get('hourly_usd') or 0:.2f}/h, "
                f"${d['hosting_usd']:.2f} so far"
            )
    _spend(answer.get("spend"))
    warnings = answer.get("warnings") or []
    if warnings:
        print(f"warnings ({len(warnings)}):")
        for warning in warnings:
            print(f"  ! {render.clean(warning['message'])}")
    else:
        print("warnings     none")


def _heading(answer: dict[str, Any], doing: str) -> None:
    provider = answer["provider"]
    paths = answer["paths"]
    where = provider.get("base_url") or "its default address"
    print(
        f"ftd {answer['version']}: {doing} for {render.duration(answer['uptime_seconds'])} "
        f"(pid {answer['pid']}), provider {provider['kind']} at {where}"
    )
    print(f"  socket {paths['socket']}, state {paths['state_dir']}, drop {paths['drop_dir']}")


def _starting(answer: dict[str, Any]) -> None:
    """A daemon still starting answers with what it knows already, and the step it is at."""
    _heading(answer, "starting")
    print(f"starting: {render.clean(answer['starting'])}")
    if "datasets" in answer:
        print(f"datasets     {render.counts(answer['datasets'])}")
        print(f"jobs         {render.counts(answer['jobs'])}")


def _profile_line(name: str, profile: dict[str, Any]) -> None:
    """One profile's jobs and, if any, the refusal still standing there."""
    jobs = profile.get("jobs") or {}
    line = f"  {render.clean(name)} ({profile['kind']}): jobs {render.counts(jobs)}"
    failed = profile.get("last_error")
    if failed:
        line += (
            f"; last error {render.duration(failed['age_seconds'])} ago, "
            f"{render.clean(failed['dataset'])} {failed['state']}: "
            f"{render.clean(failed['error'])}"
        )
    print(line)


def _spend(figures: dict[str, Any] | None) -> None:
    """Spend so far per provider profile: training, evaluation, hosting; this month and all."""
    if not figures:
        return
    for profile, parts in (figures.get("by_profile") or {}).items():
        shown = []
        for what in ("training", "evaluation", "hosting"):
            part = parts.get(what)
            if part is None:
                continue
            shown.append(
                f"{what} {render.money(part['month'])} this month, "
                f"{render.money(part['all_time'])} all time"
            )
        print(f"spent        {render.clean(profile)}: " + "; ".join(shown))


def run(args: argparse.Namespace) -> int:
    return common.call(args, "status", {}, show)
