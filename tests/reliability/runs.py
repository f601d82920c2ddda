"""The crash run and the fault soak: real ``ftd run`` and ``ftd emulator`` processes, audited.

Shared by ``tests/reliability/test_chaos.py`` and ``test_fault_soak.py`` (short
runs, in CI) and ``bench/chaos.py`` and ``bench/fault_soak.py`` (the full
runs, which print tables).

The crash run starts the emulator with ``--state`` (so it keeps files and jobs
when it is killed too, as it is now and then) and then, again and again,
starts the daemon and SIGKILLs it: after a seeded random time alive, or, for
a seeded share of the lives, a moment after a seeded choice of log line that
opens a window where work is half done. The workload's files arrive spread
over the lives, each once its life has started. Before each kill it reads the
database to tell which phases were under way (a kill often lands in several
at once), and after each start it reads the daemon's ``daemon_started`` line
to time the recovery. After the last kill the daemon runs until everything
has settled, and the audit says whether it all happened exactly once.
"""

from __future__ import annotations

import datetime
import json
import random
import shutil
import socket
import statistics
import tempfile
import time
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ftd.emulator.process import EmulatorProcess
from tests.daemon.harness import Daemon, Emulator, azure_profile
from tests.reliability.audit import (
    EVALUATION,
    EXAMPLES,
    Audit,
    Drop,
    audit,
    chat_sends,
    pending,
    place,
    wait_settled,
    workload,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

MIB = 1024 * 1024
# Log lines after which a kill lands inside an interval where work is half done:
# a claim recorded, a validation running, an upload or a job create in flight or
# just answered, a status change, an evaluation under way, a report being written.
TRIGGERS = (
    "dataset_state",
    "validation_started",
    "upload_started",
    "file_uploaded",
    "job_create_sent",
    "job_state",
    "model_ready",
    "evaluation_started",
    "evaluation_finished",
)
# Where a provider needs deployments: the request in flight, the teardown begun.
DEPLOYMENT_TRIGGERS = ("deployment_requested", "deployment_ready", "deployment_teardown")
PHASES = (
    "start-up",
    "intake/validation",
    "upload",
    "job creation",
    "tracking",
    "evaluation",
    "deployment",
    "report writing",
)


@contextmanager
def run_folder(keep: Path | None, prefix: str) -> Iterator[Path]:
    """``keep`` (made if need be, left for a look afterwards), else a folder removed after."""
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        yield keep
        return
    root = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


class Audited(Protocol):
    audit: Audit

    def table(self) -> str: ...


def print_verdict(report: Audited) -> int:
    """The table, and what the audit found if anything: the exit status of a bench."""
    print(report.table())
    if not report.audit.ok:
        print(report.audit.explain())
        return 1
    return 0


def free_port() -> int:
    """A port the emulator can take again after each restart."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def daemon_config(
    attempts: int,
    timeout: float = 20.0,
    examples: int = EXAMPLES,
    azure_root: str | None = None,
    together_url: str | None = None,
) -> dict[str, dict[str, Any]]:
    """``attempts`` per evaluation request; ``timeout`` for every provider call but uploads;
    a test split held out of datasets of ``examples`` lines (a tenth of them); the Azure
    flavour at ``azure_root``, or the Together flavour at ``together_url``, as the provider
    when given."""
    sections: dict[str, dict[str, Any]] = {
        "defaults": {"min_test_examples": min(10, examples // 10)},
        "log": {"format": "json", "level": "info"},
        "evaluation": {**EVALUATION, "attempts": attempts, "request_timeout_seconds": timeout},
    }
    if azure_root is not None:
        sections.update(azure_profile(azure_root)[0])
    if together_url is not None:
        sections.update(together_profile(together_url))
        sections["defaults"]["model"] = TOGETHER_MODEL
    sections.setdefault("provider", {}).update({"max_retries": 2, "timeout_seconds": timeout})
    return sections


TOGETHER_MODEL = "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


def together_profile(base_url: str) -> dict[str, dict[str, Any]]:
    """The Together flavour as the default profile; a LoRA of this base is served serverless,
    and ftd's price table gets a figure for it (Together's estimate is asked as well)."""
    return {
        "provider": {"kind": "together", "api_key_env": "OPENAI_API_KEY"},
        "provider.together": {"base_url": base_url},
        f'prices."{TOGETHER_MODEL}"': {
            "training_per_mtok": 0.48,
            "input_per_mtok": 0.18,
            "output_per_mtok": 0.18,
        },
    }


FLAVOR_ARGS = {
    "openai": (),
    "together": ("--flavor", "together"),
    # Deployments provisioned in a couple of seconds at the crash run's speed.
    "azure": (
        "--flavor",
        "azure",
        "--deployment-provisioning-seconds",
        "4",
        "--deployment-not-ready-seconds",
        "2",
    ),
}


class LogTail:
    """The daemon's log read forward from where the last look stopped, not from the start."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._offset = path.stat().st_size if path.exists() else 0
        self._rest = b""

    def events(self) -> list[dict[str, Any]]:
        if not self._path.exists():
            return []
        with self._path.open("rb") as handle:
            handle.seek(self._offset)
            data = self._rest + handle.read()
        self._offset += len(data) - len(self._rest)
        *lines, self._rest = data.split(b"\n")
        found: list[dict[str, Any]] = []
        for line in lines:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                found.append(event)
        return found


def _seconds(timestamp: str) -> float:
    return datetime.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def phases_now(daemon: Daemon) -> list[str]:
    """The pipeline phases under way at this moment, from the database."""
    datasets = Counter(r[0] for r in daemon.query("SELECT state FROM datasets"))
    under_way: list[str] = []
    if datasets["detected"] + datasets["validating"]:
        under_way.append("intake/validation")
    if datasets["ready"] + datasets["uploading"]:
        under_way.append("upload")
    if datasets["creating_job"]:
        under_way.append("job creation")
    tracking = daemon.query(
        "SELECT count(*) FROM jobs WHERE status NOT IN ('succeeded', 'failed', 'cancelled') "
        "OR (status = 'succeeded' AND (model_ready_at IS NULL OR results_parsed_at IS NULL))"
    )[0][0]
    if tracking:
        under_way.append("tracking")
    evaluations = Counter(
        (r["status"], r["report_path"] is None)
        for r in daemon.query("SELECT status, report_path FROM evaluations WHERE kind = 'job'")
    )
    if evaluations[("queued", True)] + evaluations[("running", True)]:
        under_way.append("evaluation")
    deploying = daemon.query(
        "SELECT count(*) FROM deployments WHERE state IN ('intended', 'creating', 'deleting')"
    )[0][0]
    if deploying:
        under_way.append("deployment")
    if evaluations[("succeeded", True)] + evaluations[("stopped", True)]:
        under_way.append("report writing")
    return under_way


# ----------------------------------------------------------------------------- crash run


@dataclass(slots=True)
class ChaosSettings:
    datasets: int = 20
    kills: int = 50
    seed: int = 1
    speed: float = 2.0  # the emulator's job clock: a job runs for a few lives
    alive: tuple[float, float] = (0.3, 6.0)  # seconds from a start to its SIGKILL
    emulator_kills: int = 3  # the emulator dies with the daemon this many times
    latency_ms: float = 100.0  # every request: widens each stage's window for a kill
    answer_delay_ms: float = 150.0  # requests take effect before their answer leaves
    attempts: int = 6
    settle_seconds: float = 600.0
    # This share of the kills waits for a line that opens a risky window (see
    # TRIGGERS), then strikes 0-300 ms after it; the rest strike blind.
    armed: float = 0.6
    # or "azure": deployments before every evaluation; or "together": no metadata, jobs
    # found by their training file's name, fine-tunes served serverless
    flavor: str = "openai"


@dataclass(slots=True)
class ChaosReport:
    settings: ChaosSettings
    audit: Audit
    kills: int = 0
    emulator_kills: int = 0
    phases: Counter[str] = field(default_factory=Counter)
    armed: Counter[str] = field(default_factory=Counter)  # kills that followed each trigger
    recoveries: list[float] = field(default_factory=list)  # start to daemon_started, seconds
    settle_seconds: float = 0.0
    run_seconds: float = 0.0
    chat_sent: int = 0  # chat requests the emulator saw over every restart
    chat_recorded: int = 0  # those the daemon committed with their items

    def table(self) -> str:
        found = self.audit
        recovered = sorted(self.recoveries)
        rows = [
            ("SIGKILLs of the daemon", f"{self.kills}"),
            ("  of which aimed just after a log line", f"{sum(self.armed.values())}"),
            ("  of which the emulator too", f"{self.emulator_kills}"),
            *(
                (f"  during {phase}", f"{self.phases[phase]}")
                for phase in (*PHASES, "nothing under way")
            ),
            ("datasets dropped", f"{self.settings.datasets}"),
            ("  final states", ", ".join(f"{k} {v}" for k, v in sorted(found.by_state.items()))),
            ("files at the provider", f"{found.remote_files}"),
            ("jobs at the provider", f"{found.jobs}"),
            ("evaluations / item rows", f"{found.evaluations} / {found.items}"),
            *(
                [
                    (
                        "deployments made / left at the provider",
                        f"{found.deployments} / {found.deployments_left}",
                    )
                ]
                if self.settings.flavor == "azure"
                else []
            ),
            ("chat requests sent / committed", f"{self.chat_sent} / {self.chat_recorded}"),
            ("most sends of one chat request", f"{found.most_sent}"),
            ("duplicates found (must be 0)", f"{len(found.duplicates)}"),
            ("lost (must be 0)", f"{len(found.lost)}"),
            ("other findings (must be 0)", f"{len(found.problems)}"),
            ("PRAGMA integrity_check", found.integrity),
            (
                "recovery after restart, median / max",
                f"{statistics.median(recovered):.2f} s / {recovered[-1]:.2f} s"
                if recovered
                else "-",
            ),
            ("settling after the last kill", f"{self.settle_seconds:.1f} s"),
            ("whole run", f"{self.run_seconds:.1f} s"),
        ]
        width = max(len(label) for label, _ in rows)
        return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def _start_emulator(root: Path, port: int, settings: ChaosSettings, count: int) -> EmulatorProcess:
    process = EmulatorProcess(
        "--state",
        str(root / "emulator.db"),
        "--port",
        str(port),
        "--speed",
        f"{settings.speed:g}",
        "--fault-seed",
        str(settings.seed),
        "--latency-ms",
        f"{settings.latency_ms:g}",
        "--answer-delay-ms",
        f"{settings.answer_delay_ms:g}",
        *FLAVOR_ARGS[settings.flavor],
        log_path=root / f"emulator-{count}.log",
    )
    process.start()
    return process


def run_chaos(root: Path, settings: ChaosSettings) -> ChaosReport:
    """The whole crash run in ``root``; the report, audit included. Leaves nothing running."""
    rng = random.Random(settings.seed)
    drops = workload(settings.datasets, seed=settings.seed)
    # Files arrive spread over the first three quarters of the lives, each once its life
    # has started, so that later kills find them at every stage.
    span = max(1, settings.kills * 3 // 4)
    arrivals = Counter(
        min(span - 1, int(i * span / len(drops) + rng.random() * 2)) for i in range(len(drops))
    )
    emulator_kills = set(rng.sample(range(1, settings.kills), settings.emulator_kills))
    port = free_port()
    started = time.monotonic()
    emulators = [_start_emulator(root, port, settings, 0)]
    emulator = Emulator(emulators[-1].base_url)
    daemon: Daemon | None = None
    earlier_sends: Counter[str] = Counter()
    try:
        azure = emulator.root_url if settings.flavor == "azure" else None
        env = azure_profile(emulator.root_url)[1] if azure else None
        together = emulator.base_url if settings.flavor == "together" else None
        config = daemon_config(settings.attempts, azure_root=azure, together_url=together)
        daemon = Daemon(root / "ftd", emulator.base_url, config, env)
        report = ChaosReport(settings, Audit())
        triggers = TRIGGERS + (DEPLOYMENT_TRIGGERS if azure else ())
        queue = list(drops)
        for number in range(settings.kills):
            arriving = [queue.pop(0) for _ in range(arrivals[number])]
            alive = rng.uniform(*settings.alive)
            trigger = rng.choice(triggers) if rng.random() < settings.armed else None
            delay = rng.uniform(0.0, 0.3)
            # Every third life is let reach its start, however long a loaded machine
            # takes, so that lives measured from the socket answering exist; the
            # others may end during the start-up itself.
            up = _start_and_wait(
                daemon, alive, trigger, delay, report, arriving, until_up=number % 3 == 0
            )
            under_way = phases_now(daemon) if up else ["start-up"]
            report.phases.update(under_way or ["nothing under way"])
            daemon.kill()
            report.kills += 1
            if not up:  # this life ended before its files could arrive: they wait
                for drop in arriving:
                    place(daemon, drop)
            if number in emulator_kills:
                earlier_sends += chat_sends(emulator)  # its counts die with it
                emulators[-1].kill()
                emulators.append(_start_emulator(root, port, settings, len(emulators)))
                report.emulator_kills += 1
        for drop in queue:
            place(daemon, drop)
        daemon.start(wait=True)
        report.settle_seconds = wait_settled(daemon, drops, timeout=settings.settle_seconds)
        report.chat_recorded = int(
            daemon.query("SELECT coalesce(sum(requests), 0) FROM evaluations")[0][0]
        )
        evaluation_kills = report.phases["evaluation"] + report.phases["report writing"]
        report.audit = audit(
            daemon,
            emulator,
            drops,
            max_sends=settings.attempts * (1 + evaluation_kills),
            earlier_sends=earlier_sends,
            flavor=settings.flavor,
        )
        report.chat_sent = report.audit.chat_requests
        daemon.stop()
        report.run_seconds = time.monotonic() - started
        return report
    finally:
        if daemon is not None:
            daemon.close()
        emulator.client.close()
        for process in emulators:
            process.stop()


START_PATIENCE = 90.0  # seconds a life let reach its start may take to get there


def _start_and_wait(
    daemon: Daemon,
    alive: float,
    trigger: str | None,
    delay: float,
    report: ChaosReport,
    arriving: list[Drop],
    *,
    until_up: bool = False,
) -> bool:
    """Start the daemon and let it live ``alive`` seconds, or ``delay`` past the first
    ``trigger`` line; the ``arriving`` files are dropped once it has started. Whether it
    got as far as ``daemon_started``. With ``until_up`` the life's seconds count from
    ``daemon_started`` (up to START_PATIENCE seconds are waited for it)."""
    tail = LogTail(daemon.log_path)
    spawned = time.time()
    daemon.start(wait=False)
    deadline = time.monotonic() + (START_PATIENCE if until_up else alive)
    up = False
    while time.monotonic() < deadline:
        for event in tail.events():
            name = event.get("event")
            if name == "daemon_started" and not up:
                report.recoveries.append(_seconds(event["timestamp"]) - spawned)
                up = True
                if until_up:
                    deadline = time.monotonic() + alive
                for drop in arriving:
                    place(daemon, drop)
            # A life let reach its start is not cut short by its trigger before that
            # (the start's own recovery uploads, creates and deploys).
            if trigger is not None and name == trigger and (up or not until_up):
                deadline = min(deadline, time.monotonic() + delay)
                report.armed[trigger] += 1
                trigger = None
        time.sleep(0.01)
    return up


# ----------------------------------------------------------------------------- fault soak


@dataclass(slots=True)
class SoakSettings:
    datasets: int = 20
    seed: int = 7
    speed: float = 20.0
    error_rate: float = 0.2  # 500, 502, 503
    rate_limit_rate: float = 0.1  # 429 with retry-after
    retry_after_ms: int = 500
    latency_ms: float = 20.0
    # Every request waits up to this much more; past the timeout the client gives up
    # while the request still takes effect: latency spikes that leave ftd in doubt.
    jitter_ms: float = 2500.0
    timeout: float = 2.0
    drop_rate: float = 0.05  # connections closed unanswered
    attempts: int = 20  # at a ~50% failure rate, 20 tries leave a request failing 1 in 10^6
    examples: int = EXAMPLES  # per good dataset; a tenth of them are evaluated
    waves: int = 2  # the datasets arrive in this many waves, each once the last has settled
    settle_seconds: float = 900.0


@dataclass(slots=True)
class SoakReport:
    settings: SoakSettings
    audit: Audit
    rss_started: int = 0  # bytes, once the daemon has started
    rss_warm: int = 0  # after the first wave has settled
    rss_end: int = 0  # after the last
    rss_peak: int = 0
    rss_waves: list[int] = field(default_factory=list)  # after each wave
    statuses: dict[str, int] = field(default_factory=dict)  # as the emulator answered
    run_seconds: float = 0.0
    wave_seconds: list[float] = field(default_factory=list)

    def table(self) -> str:
        found = self.audit
        faults = {k: v for k, v in self.statuses.items() if k != "200"}
        total = sum(self.statuses.values())
        rows = [
            ("requests answered", f"{total}"),
            ("  of which faults", f"{sum(faults.values())}: {faults}"),
            ("datasets dropped", f"{self.settings.datasets}"),
            ("  final states", ", ".join(f"{k} {v}" for k, v in sorted(found.by_state.items()))),
            ("files at the provider", f"{found.remote_files}"),
            ("jobs at the provider", f"{found.jobs}"),
            ("evaluations / item rows", f"{found.evaluations} / {found.items}"),
            ("chat requests / most sends of one", f"{found.chat_requests} / {found.most_sent}"),
            ("duplicates found (must be 0)", f"{len(found.duplicates)}"),
            ("lost (must be 0)", f"{len(found.lost)}"),
            ("other findings (must be 0)", f"{len(found.problems)}"),
            ("PRAGMA integrity_check", found.integrity),
            ("daemon RSS at start", f"{self.rss_started / MIB:.1f} MiB"),
            ("daemon RSS after wave 1", f"{self.rss_warm / MIB:.1f} MiB"),
            ("daemon RSS at end", f"{self.rss_end / MIB:.1f} MiB"),
            ("  after each wave", ", ".join(f"{r / MIB:.1f}" for r in self.rss_waves) + " MiB"),
            ("daemon RSS peak (sampled)", f"{self.rss_peak / MIB:.1f} MiB"),
            ("waves settled in", ", ".join(f"{s:.1f} s" for s in self.wave_seconds)),
            ("whole run", f"{self.run_seconds:.1f} s"),
        ]
        width = max(len(label) for label, _ in rows)
        return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def rss(pid: int) -> int:
    """A process's resident set size in bytes, from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def run_soak(root: Path, settings: SoakSettings) -> SoakReport:
    """The whole pipeline under faults in ``root``; the report. Leaves nothing running."""
    started = time.monotonic()
    process = EmulatorProcess(
        "--speed",
        f"{settings.speed:g}",
        "--fault-seed",
        str(settings.seed),
        log_path=root / "emulator.log",
    )
    process.start()
    emulator = Emulator(process.base_url)
    daemon: Daemon | None = None
    try:
        emulator.configure(
            error_rate=settings.error_rate,
            rate_limit_rate=settings.rate_limit_rate,
            retry_after_ms=settings.retry_after_ms,
            latency_ms=settings.latency_ms,
            jitter_ms=settings.jitter_ms,
            drop_rate=settings.drop_rate,
        )
        config = daemon_config(settings.attempts, settings.timeout, settings.examples)
        daemon = Daemon(root / "ftd", emulator.base_url, config)
        daemon.start()
        report = SoakReport(settings, Audit(), rss_started=rss(daemon.pid))
        report.rss_peak = report.rss_started
        drops = workload(settings.datasets, seed=settings.seed, examples=settings.examples)
        size = -(-len(drops) // settings.waves)
        for first in range(0, len(drops), size):
            for drop in drops[first : first + size]:
                place(daemon, drop)
            report.wave_seconds.append(
                _settle_sampling(daemon, drops[: first + size], settings, report)
            )
            report.rss_waves.append(rss(daemon.pid))
        report.rss_warm = report.rss_waves[0]
        report.rss_end = report.rss_waves[-1]
        report.statuses = emulator._control("/_emulator/stats")["statuses"]
        # The audit's own reads must not fail.
        emulator.configure(
            error_rate=0.0, rate_limit_rate=0.0, latency_ms=0.0, jitter_ms=0.0, drop_rate=0.0
        )
        report.audit = audit(daemon, emulator, drops, max_sends=settings.attempts)
        daemon.stop()
        report.run_seconds = time.monotonic() - started
        return report
    finally:
        if daemon is not None:
            daemon.close()
        emulator.client.close()
        process.stop()


def _settle_sampling(
    daemon: Daemon, drops: list[Drop], settings: SoakSettings, report: SoakReport
) -> float:
    """Wait for the drops to settle, sampling the daemon's RSS meanwhile; the seconds taken."""
    started = time.monotonic()
    while pending(daemon, drops):
        report.rss_peak = max(report.rss_peak, rss(daemon.pid))
        if time.monotonic() - started > settings.settle_seconds:
            wait_settled(daemon, drops, timeout=0)  # fails, naming what is left
        time.sleep(0.5)
    return time.monotonic() - started
