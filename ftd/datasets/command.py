"""Check a JSONL training file offline: format, exact token counts, and what training would cost.

Exit status: 0 when the file would be accepted, 1 when it would be rejected,
2 for a usage error or a path that cannot be read.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ftd.places import first_dir

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Mapping

HELP = {"validate": "validate a JSONL training file offline (format, tokens, cost)"}


def configure(parser: argparse.ArgumentParser, name: str) -> None:
    parser.add_argument("path", help="the JSONL file to check")
    parser.add_argument(
        "--model",
        help="base model to train (decides tokenizer, context and price); "
        "default gpt-4.1-mini-2025-04-14, or o4-mini-2025-04-16 for reinforcement",
    )
    parser.add_argument(
        "--method",
        choices=("supervised", "dpo", "reinforcement"),
        help="training method; detected from the first valid line when omitted",
    )
    parser.add_argument("--epochs", type=int, help="epochs for the estimate (default: as 'auto')")
    parser.add_argument("--json", action="store_true", help="print one machine-readable report")
    parser.add_argument(
        "--samples",
        type=int,
        default=5,
        metavar="N",
        help="show the first N lines of each kind of finding (default 5)",
    )
    parser.add_argument("--workers", type=int, help="validator processes (default: one per core)")
    parser.add_argument(
        "-c",
        "--config",
        type=Path,
        help="configuration whose [prices] and defaults.model apply "
        "(default: $FTD_CONFIG, else none)",
    )


def run(args: argparse.Namespace) -> int:
    import orjson

    from ftd.datasets.validate import Options, validate_file
    from ftd.errors import ConfigError, InputFileError

    if args.epochs is not None and not 1 <= args.epochs <= 50:
        print("ftd validate: --epochs must be between 1 and 50", file=sys.stderr)
        return 2
    if args.samples < 0:
        print("ftd validate: --samples must be 0 or more", file=sys.stderr)
        return 2
    try:
        model, prices = _configured(args)
    except ConfigError as exc:
        print(f"ftd validate: {exc}", file=sys.stderr)
        return 2
    options = Options(
        model=model,
        prices=prices,
        method=args.method,
        n_epochs=args.epochs,
        workers=args.workers,
        max_samples=args.samples,
    )
    try:
        report = validate_file(args.path, options)
    except (InputFileError, RuntimeError) as exc:  # RuntimeError: no tokenizer files
        print(f"ftd validate: {exc}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.buffer.write(orjson.dumps(report.to_json(), option=orjson.OPT_INDENT_2) + b"\n")
    else:
        print(report.render())
    return 0 if report.accepted else 1


# The configuration's file names, as ftd.config spells them; kept here so that
# looking for a file does not import pydantic (a third of a small run's time).
CONFIG_ENV = "FTD_CONFIG"
CONFIG_FILE_NAME = "config.toml"


def config_file_exists(path: Path | None, env: Mapping[str, str]) -> bool:
    """Whether ftd.config.find_config_file would name a file: -c, $FTD_CONFIG, or systemd's."""
    if path is not None or env.get(CONFIG_ENV):
        return True
    directory = first_dir(env, "CONFIGURATION_DIRECTORY")
    return directory is not None and (directory / CONFIG_FILE_NAME).is_file()


def _configured(
    args: argparse.Namespace,
) -> tuple[str | None, Callable[[str], tuple[float | None, float | None]] | None]:
    """The model and price table of the configuration, when there is one."""
    if not config_file_exists(args.config, os.environ):
        return args.model, None
    from ftd.config import load_settings

    settings = load_settings(args.config)

    def prices(model: str) -> tuple[float | None, float | None]:
        price = settings.price_for(model)
        return price.training_per_mtok, price.training_per_hour

    model = args.model
    if model is None and args.method != "reinforcement":
        model = settings.defaults.model
    return model, prices
