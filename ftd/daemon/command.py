"""Run the daemon in the foreground: every dataset dropped into the folder becomes a job.

Reads the configuration (-c, else $FTD_CONFIG, else systemd's
$CONFIGURATION_DIRECTORY/config.toml), takes the state directory's lock,
finishes what an earlier run left half done, then watches
<drop_dir>/incoming/. Stops cleanly on SIGTERM or SIGINT.

Exit status: 0 after a signal, 78 for a configuration error, 75 when another
ftd already runs on the same state directory or control socket, 1 for any
other failure. SIGHUP reloads the configuration (see `ftd reload`).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

HELP = {"run": "run the daemon in the foreground (drop folder to fine-tuning jobs)"}
EXIT_LOCKED = 75
# EX_IOERR: the database was removed or replaced under the running daemon; a
# restart would start from an empty one, so systemd is told not to.
EXIT_DATABASE_GONE = 74


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument(
        "-c", "--config", type=Path, metavar="FILE", help="configuration file (TOML)"
    )


def run(args: argparse.Namespace) -> int:
    import faulthandler

    import anyio

    from ftd import logs
    from ftd.cli import EXIT_CONFIG
    from ftd.config import load_settings
    from ftd.daemon.app import serve
    from ftd.daemon.database import DatabaseGone
    from ftd.daemon.lock import LockHeldError
    from ftd.errors import ConfigError, FtdError

    # A hung loop killed by systemd's watchdog (SIGABRT) leaves every thread's
    # traceback on stderr, which is the journal.
    faulthandler.enable(file=sys.stderr, all_threads=True)
    try:
        settings = load_settings(args.config)
        settings.provider.require_api_key()
    except ConfigError as exc:
        print(f"ftd run: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    fmt = settings.log.format
    logs.configure(level=settings.log.level, json=None if fmt == "auto" else fmt == "json")
    log = logs.get_logger("ftd.daemon")
    try:
        anyio.run(serve, settings, args.config, backend_options=loop_options())
    except LockHeldError as exc:
        log.error("daemon_locked", error=str(exc))
        return EXIT_LOCKED
    except DatabaseGone as exc:
        log.critical("daemon_failed", error=str(exc))
        return EXIT_DATABASE_GONE
    except BaseExceptionGroup as group:
        gone = group.subgroup(DatabaseGone)
        if gone is None:
            raise
        log.critical("daemon_failed", error=str(gone.exceptions[0]))
        return EXIT_DATABASE_GONE
    except ConfigError as exc:
        # Found only once running: a socket path too long, a group this host lacks,
        # a tokenizer file missing (checked once the socket answers).
        log.error("daemon_config_error", error=str(exc))
        return EXIT_CONFIG
    except FtdError as exc:
        log.error("daemon_failed", error=str(exc))
        return 1
    except KeyboardInterrupt:
        # A second Ctrl-C while stopping: the database is consistent at every commit.
        return 130
    return 0


def loop_options() -> dict[str, bool]:
    """anyio's options for the daemon's loop: uvloop wherever it is installed.

    The live evaluation pool's ceiling is the loop's own work per request;
    uvloop does that work in C (bench/eval_curve.py measures both).
    """
    import importlib.util

    return {"use_uvloop": importlib.util.find_spec("uvloop") is not None}
