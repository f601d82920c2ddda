"""Try ftd in about 20 seconds, no API key: the emulator, the daemon and a real dataset, end to end.

Starts the emulator and the daemon in a fresh folder (or --dir), drops the
bundled customer-support dataset and a second file with a few broken lines,
and shows each step as it happens: validation, upload, training, the new
model's evaluation against its base. It ends with the verdict, the HTML
report, and the commands to look around; nothing is left running.

Exit status: 0 when the demo ran to its verdict, 1 otherwise (the logs are
in the folder).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ftd.ctl import render

if TYPE_CHECKING:
    import argparse

    from ftd.control.client import Client

HELP = {"demo": "see ftd work end to end in about 20 seconds, offline, with no API key"}
DATASETS = ("support.jsonl", "support-extra.jsonl")
DEADLINE_SECONDS = 180.0
POLL_SECONDS = 0.3
MAX_SOCKET_PATH = 100
DEMO_KEY = "demo-key-for-the-emulator"
DEMO_TOKEN_ENV = "DEMO_AZURE_ARM_TOKEN"  # noqa: S105 - a variable name
# Azure's deployments at the demo's pace: provisioned, then answering, in seconds.
AZURE_EMULATOR = (
    "--flavor",
    "azure",
    "--deployment-provisioning-seconds",
    "6",
    "--deployment-not-ready-seconds",
    "4",
)


class DemoError(Exception):
    """The demo could not finish; the message says where to look."""


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "--dir", type=Path, metavar="DIR", help="work in this folder (default: a new temp folder)"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=2.0,
        metavar="X",
        help="how many times faster than real time emulated training runs (default 2)",
    )
    parser.add_argument(
        "--flavor",
        choices=("openai", "azure"),
        default="openai",
        help="which provider the emulator stands in for; azure also deploys the fine-tuned "
        "model and its base before the evaluation and removes them after (default openai)",
    )


class Progress:
    """A line each time something changed, stamped with the seconds since the start."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self._last: dict[str, str] = {}

    def say(self, key: str, text: str, detail: str = "") -> None:
        """Print ``text`` (with ``detail``, which alone is no news) when it is new for ``key``."""
        if self._last.get(key) != text:
            self._last[key] = text
            print(f"[{time.monotonic() - self.started:5.1f}s] {text}{detail}", flush=True)


def _runtime_dir(folder: Path) -> Path:
    """A short enough place for the socket (a socket path holds 107 bytes at most)."""
    runtime = folder / "run"
    if len(os.fsencode(runtime / "ftd.sock")) <= MAX_SOCKET_PATH:
        return runtime
    return Path(tempfile.mkdtemp(prefix="ftd-demo-run-"))


def _provider_config(flavor: str, base_url: str, root_url: str) -> str:
    if flavor != "azure":
        return (
            f'[provider]\nkind = "compatible"\n\n[provider.compatible]\nbase_url = "{base_url}"\n\n'
        )
    return (
        '[provider]\nkind = "azure"\napi_key_env = "OPENAI_API_KEY"\n\n'
        f'[provider.azure]\nendpoint = "{root_url}"\nuse_v1_path = true\n'
        f'management_url = "{root_url}"\nmanagement_auth = "token"\n'
        f'management_token_env = "{DEMO_TOKEN_ENV}"\n'
        'subscription_id = "demo-subscription"\nresource_group = "demo"\naccount = "demo"\n\n'
    )


def _write_config(folder: Path, runtime: Path, provider: str) -> Path:
    path = folder / "config.toml"
    path.write_text(
        "# Written by `ftd demo`: the daemon's settings for this folder.\n"
        f'[paths]\nstate_dir = "{folder / "state"}"\ndrop_dir = "{folder / "drop"}"\n'
        f'runtime_dir = "{runtime}"\n\n'
        f"{provider}"
        "[intake]\nstable_seconds = 0.5\nrescan_seconds = 2.0\n\n"
        "[tracker]\npoll_seconds = 0.5\n\n"
        '[log]\nformat = "json"\nlevel = "info"\n',
        encoding="utf-8",
    )
    return path


def _drop(folder: Path) -> None:
    from importlib.resources import as_file, files

    from ftd.submit import publish

    for name in DATASETS:
        with as_file(files("ftd.demo") / "data" / name) as source:
            publish(source, folder / "drop", name=name)


def _connect(path: Path, daemon: subprocess.Popen[bytes], log: Path) -> Client:
    from ftd.control.client import Client, ClientError

    deadline = time.monotonic() + 60
    while True:
        if daemon.poll() is not None:
            raise DemoError(f"the daemon stopped with exit status {daemon.returncode}; see {log}")
        try:
            return Client(path, timeout=30)
        except ClientError:
            if time.monotonic() > deadline:
                raise DemoError(f"the daemon did not open its socket in 60 s; see {log}") from None
            time.sleep(0.2)


def _show_datasets(client: Client, progress: Progress) -> None:
    for dataset in client.call("datasets")["datasets"]:
        state = dataset["state"]
        text = f"{dataset['name']}: {state.replace('_', ' ')}"
        if state == "rejected":
            text += f": {dataset['error']}"
        elif dataset["examples"] and state not in ("detected", "validating"):
            cost = dataset["estimated_cost_usd"]
            text += f" ({dataset['examples']} examples, training estimated at ${cost:,.2f})"
        progress.say(f"dataset {dataset['id']}", text)


def _show_jobs(client: Client, progress: Progress) -> str | None:
    """Print the jobs' progress; the id of one that failed, if any."""
    for job in client.call("jobs")["jobs"]:
        text = f"job {job['job_id']}: {job['status']}"
        figures = job["progress"]
        step, total = figures.get("step"), figures.get("total_steps")
        detail = ""
        if job["status"] == "running" and step and total:
            tenth = max(1, total // 10)
            text += f", step {step // tenth * tenth} of {total}"
            if "train_loss" in figures:
                detail = f" (training loss {figures['train_loss']:.2f})"
        if job["fine_tuned_model"]:
            text += f": {job['fine_tuned_model']}"
        progress.say(f"job {job['job_id']}", text, detail)
        if job["status"] in ("failed", "cancelled"):
            return str(job["job_id"])
    return None


def _show_evaluations(client: Client, progress: Progress) -> dict[str, Any] | None:
    """Print the evaluations' progress; the job evaluation once its report is written."""
    listed: list[dict[str, Any]] = client.call("evaluations")["evaluations"]
    for evaluation in listed:
        done = evaluation["progress"] or {}
        text = f"evaluation eval-{evaluation['id']}: {evaluation['status']}"
        if done:
            text += f", {done['done']} of {done['total'] or '?'} test items"
        elif evaluation["verdict"]:
            text += f", verdict: {render.verdict(evaluation['verdict'])}"
        progress.say(f"eval {evaluation['id']}", text)
        if evaluation["kind"] == "job" and evaluation["report_path"]:
            return evaluation
        if evaluation["status"] == "failed":
            raise DemoError(f"evaluation eval-{evaluation['id']} failed: {evaluation['error']}")
    return None


def _show_deployments(client: Client, progress: Progress) -> int:
    """Print each deployment's state (Azure); how many are still live."""
    live = client.call("status").get("deployments") or []
    for deployment in live:
        text = (
            f"deployment {deployment['name']} of {deployment['model']}: {deployment['state']}"
            f" (${deployment['hourly_usd'] or 0:.2f}/h while it exists)"
        )
        progress.say(f"deployment {deployment['name']}", text)
    return len(live)


def _wait_teardown(client: Client, progress: Progress, deadline: float) -> None:
    while _show_deployments(client, progress) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    if not _show_deployments(client, progress):
        hosting = client.call("status").get("hosting_usd", 0.0)
        progress.say("hosting", f"every deployment removed; hosting cost ${hosting:.2f}")


def _follow(client: Client, progress: Progress) -> dict[str, Any]:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        _show_datasets(client, progress)
        failed = _show_jobs(client, progress)
        if failed is not None:
            raise DemoError(f"job {failed} did not succeed: see `ftd show {failed}`")
        _show_deployments(client, progress)
        finished = _show_evaluations(client, progress)
        if finished is not None:
            _wait_teardown(client, progress, deadline)
            return finished
        time.sleep(POLL_SECONDS)
    raise DemoError(f"no verdict after {DEADLINE_SECONDS:.0f} s")


def _verdict(client: Client, evaluation: dict[str, Any]) -> None:
    detail = client.call("show", {"id": f"eval-{evaluation['id']}"})
    summary = detail.get("summary") or {}
    verdict = render.verdict(summary.get("verdict")) or "none"
    print(f"\nVerdict: {verdict} — {evaluation['model']} against {evaluation['base_model']}")
    for name, grader in (summary.get("graders") or {}).items():
        model, base = grader.get("candidate"), grader.get("base")
        if model and base:
            print(
                f"  {name:<11} fine-tuned {render.interval(model, digits=2)}   "
                f"base {render.interval(base, digits=2)}   "
                f"{render.verdict(grader.get('verdict')) or ''}"
                + (f" ({grader['verdict_reason']})" if grader.get("verdict_reason") else "")
            )
    print(f"\nReport: {evaluation['report_path']}")


def _next_steps(folder: Path, config: Path, port: int, flavor: str) -> None:
    extra = " ".join(AZURE_EMULATOR) + " " if flavor == "azure" else ""
    token = f"{DEMO_TOKEN_ENV}=demo " if flavor == "azure" else ""
    print(
        "\nEverything it did is kept in "
        f"{folder}. To look around, start the emulator and the daemon again:\n"
        f"  ftd emulator {extra}--port {port} --state {folder / 'emulator.db'} &\n"
        f"  OPENAI_API_KEY=demo {token}ftd run -c {config} &\n"
        "then try:\n"
        f"  ftd status -c {config}\n"
        f"  ftd show support.jsonl -c {config}\n"
        f"  ftd show support-extra.jsonl -c {config}      # the rejected file, line by line\n"
        f"  ftd watch -c {config}\n"
        "and drop your own JSONL files into "
        f"{folder / 'drop' / 'incoming'} (or `ftd submit FILE --drop {folder / 'drop'}`)."
    )


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class DemoStopped(Exception):
    """SIGTERM reached the demo: it stops what it started before it goes."""


def _stopped(signum: int, frame: object) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the stopping itself is bounded
    raise DemoStopped(signal.Signals(signum).name)


def run(args: argparse.Namespace) -> int:
    from ftd.emulator.process import EmulatorProcess, EmulatorStartError

    signal.signal(signal.SIGTERM, _stopped)
    folder = (args.dir or Path(tempfile.mkdtemp(prefix="ftd-demo-"))).expanduser().resolve()
    folder.mkdir(parents=True, exist_ok=True)
    if (folder / "state").exists():
        print(f"ftd demo: {folder} holds an earlier demo; give another --dir", file=sys.stderr)
        return 2
    azure = args.flavor == "azure"
    who = "Azure OpenAI" if azure else "OpenAI"
    print(f"ftd demo in {folder}: the emulator stands in for {who}; no key, no network.")
    emulator = EmulatorProcess(
        "--speed", str(args.speed), "--state", str(folder / "emulator.db"),
        *(AZURE_EMULATOR if azure else ()),
        log_path=folder / "emulator.log",
    )  # fmt: skip
    daemon: subprocess.Popen[bytes] | None = None
    try:
        emulator.start()
        runtime = _runtime_dir(folder)
        provider = _provider_config(args.flavor, emulator.base_url, emulator.root_url)
        config = _write_config(folder, runtime, provider)
        env = {k: v for k, v in os.environ.items() if not k.startswith("FTD_")}
        env["OPENAI_API_KEY"] = DEMO_KEY
        env[DEMO_TOKEN_ENV] = DEMO_KEY
        log = folder / "daemon.log"
        with log.open("ab") as handle:
            daemon = subprocess.Popen(
                [sys.executable, "-m", "ftd", "run", "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=handle,
                env=env,
            )
        progress = Progress()
        with _connect(runtime / "ftd.sock", daemon, log) as client:
            progress.say("start", "daemon running; dropping support.jsonl and support-extra.jsonl")
            _drop(folder)
            finished = _follow(client, progress)
            _verdict(client, finished)
        port = int(emulator.root_url.rsplit(":", 1)[1])
        _next_steps(folder, config, port, args.flavor)
        return 0
    except (DemoError, EmulatorStartError, OSError) as exc:
        print(f"ftd demo: {exc}", file=sys.stderr)
        return 1
    except DemoStopped as exc:
        print(f"ftd demo: stopped by {exc}; the daemon and the emulator stop too", file=sys.stderr)
        return 1
    finally:
        _stop(daemon)
        emulator.stop()
