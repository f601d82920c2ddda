"""Serve an OpenAI-compatible fine-tuning API on loopback, with faults on demand.

Prints one line, "listening on http://HOST:PORT/v1", once it accepts
connections (port 0 picks a free port), logs to stderr, and exits 0 on
SIGTERM or SIGINT. Any API key is accepted. Knobs can also be changed while
it runs with POST /_emulator/config; GET /_emulator/stats counts requests.
With ``--flavor azure`` it speaks Azure OpenAI instead (data plane under
/openai, deployments under /subscriptions; see ftd.emulator.azure) and
announces "listening on http://HOST:PORT/openai/v1".
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = {"emulator": "run an OpenAI-compatible fine-tuning API emulator on loopback"}


def _fraction(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be zero or more, got {text}")
    return value


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    net = parser.add_argument_group("serving")
    net.add_argument("--host", default="127.0.0.1", help="address to bind (default %(default)s)")
    net.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one")
    net.add_argument("--state", type=Path, metavar="PATH", help="keep state in this SQLite file")
    net.add_argument("--organization", default="ftd-emulator", help="org name in model names")
    net.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"))
    net.add_argument(
        "--flavor",
        default="openai",
        choices=("openai", "azure", "together"),
        help="which API to speak (default %(default)s)",
    )
    sim = parser.add_argument_group("simulation")
    sim.add_argument("--speed", type=_positive, default=1.0, help="job clock speed-up factor")
    sim.add_argument(
        "--model-ready-delay",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="a new fine-tuned model answers 404 for this long",
    )
    sim.add_argument(
        "--result-files-base64",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve result-file content base64-encoded, as the real API did (default); "
        "--no-result-files-base64 serves the plain CSV",
    )
    azure = parser.add_argument_group("azure flavour (emulated seconds, divided by --speed)")
    azure.add_argument(
        "--deployment-provisioning-seconds",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="a new deployment (Azure) or endpoint (Together) stays starting this long",
    )
    azure.add_argument(
        "--deployment-not-ready-seconds",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="after Succeeded, chat answers DeploymentNotReady this long",
    )
    azure.add_argument(
        "--developer-tier-pause-seconds",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="pause developerTier jobs after a step and resume them this much later (0: off)",
    )
    batch = parser.add_argument_group("batches")
    batch.add_argument(
        "--batch-seconds",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="emulated seconds a batch is in_progress (divided by --speed)",
    )
    batch.add_argument(
        "--batch-request-failure-rate",
        type=_fraction,
        default=0.0,
        help="fraction of a batch's requests answered 500 in its error file",
    )
    batch.add_argument(
        "--batch-expire-rate",
        type=_fraction,
        default=0.0,
        help="fraction of batches that expire with half their requests done",
    )
    sim.add_argument("--max-file-bytes", type=int, default=512 * 1024 * 1024)
    sim.add_argument("--max-part-bytes", type=int, default=64 * 1024 * 1024)
    sim.add_argument("--upload-ttl", type=float, default=3600.0, metavar="SECONDS")
    refuse = parser.add_argument_group("refusals")
    refuse.add_argument(
        "--training-not-available",
        action="store_true",
        help="answer every job create with 403 training_not_available",
    )
    refuse.add_argument(
        "--refuse-keys",
        action="store_true",
        help="answer every API call with 401 invalid_api_key, as for a revoked key",
    )
    refuse.add_argument(
        "--max-active-jobs", type=_count, metavar="N", help="429 when N jobs are not finished"
    )
    refuse.add_argument(
        "--daily-job-cap",
        type=_count,
        metavar="N",
        help="429 daily_rate_limit_exceeded after N jobs per model per day",
    )
    faults = parser.add_argument_group("faults (apply to /v1 only)")
    faults.add_argument("--latency-ms", type=float, default=0.0)
    faults.add_argument("--jitter-ms", type=float, default=0.0)
    faults.add_argument(
        "--answer-delay-ms",
        type=float,
        default=0.0,
        help="hold each answer this long after the request has taken effect",
    )
    faults.add_argument("--error-rate", type=_fraction, default=0.0, help="fraction of 5xx")
    faults.add_argument("--rate-limit-rate", type=_fraction, default=0.0, help="fraction of 429")
    faults.add_argument("--retry-after-ms", type=int, default=1000)
    faults.add_argument("--rpm-limit", type=_count, metavar="N", help="requests per minute")
    faults.add_argument(
        "--drop-rate",
        type=_fraction,
        default=0.0,
        help="fraction of connections closed without an answer",
    )
    faults.add_argument(
        "--job-failure-rate",
        type=_fraction,
        default=0.0,
        help="fraction of jobs that fail during training",
    )
    faults.add_argument("--fault-seed", type=int, help="seed of the fault RNG")


def run(args: argparse.Namespace) -> int:
    import asyncio
    import signal
    import sys

    from ftd import logs
    from ftd.emulator.server import Emulator
    from ftd.emulator.settings import EmulatorSettings, RuntimeConfig, SettingError
    from ftd.logs import get_logger

    logs.configure(level=args.log_level)
    log = get_logger("ftd.emulator")
    try:
        runtime = RuntimeConfig(
            speed=args.speed,
            latency_ms=args.latency_ms,
            jitter_ms=args.jitter_ms,
            answer_delay_ms=args.answer_delay_ms,
            error_rate=args.error_rate,
            rate_limit_rate=args.rate_limit_rate,
            rpm_limit=args.rpm_limit,
            drop_rate=args.drop_rate,
            job_failure_rate=args.job_failure_rate,
            seed=args.fault_seed,
            retry_after_ms=args.retry_after_ms,
            training_not_available=args.training_not_available,
            refuse_keys=args.refuse_keys,
            max_active_jobs=args.max_active_jobs,
            daily_job_cap=args.daily_job_cap,
            model_ready_delay=args.model_ready_delay,
            result_files_base64=args.result_files_base64,
            max_file_bytes=args.max_file_bytes,
            max_part_bytes=args.max_part_bytes,
            upload_ttl_seconds=args.upload_ttl,
            deployment_provisioning_seconds=args.deployment_provisioning_seconds,
            deployment_not_ready_seconds=args.deployment_not_ready_seconds,
            developer_tier_pause_seconds=args.developer_tier_pause_seconds,
            batch_seconds=args.batch_seconds,
            batch_request_failure_rate=args.batch_request_failure_rate,
            batch_expire_rate=args.batch_expire_rate,
        )
        settings = EmulatorSettings(
            host=args.host,
            port=args.port,
            state_path=args.state,
            organization=args.organization,
            runtime=runtime,
            flavor=args.flavor,
        )
    except SettingError as exc:
        print(f"ftd emulator: {exc}", file=sys.stderr)
        return 2

    async def serve() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        async with Emulator(settings) as emulator:
            print(f"listening on {emulator.base_url}", flush=True)
            await stop.wait()
            log.info("emulator_stopping")

    try:
        asyncio.run(serve())
    except OSError as exc:
        log.error("emulator_start_failed", error=str(exc), host=args.host, port=args.port)
        return 1
    return 0
